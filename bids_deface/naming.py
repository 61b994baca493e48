"""The file names bids_deface writes: pybids path patterns, read by the sinks and the record readers.

No side effects at import (no niworkflows, no TemplateFlow): reading records needs only these.
"""

from __future__ import annotations

from .config import ANAT_SUFFIXES

_ENTITIES = (
    "[_ses-{session}][_task-{task}][_acq-{acquisition}][_ce-{ceagent}][_rec-{reconstruction}]"
    "[_dir-{direction}][_run-{run}][_echo-{echo}][_flip-{flip}][_inv-{inv}][_mt-{mt}][_part-{part}]"
)
_SUFFIXES = "|".join(ANAT_SUFFIXES)

#: The folder, inside the output folder, where the sinks write before renaming into place.
STAGING = ".staging"

#: Output names, tried before niworkflows' own patterns.
PATH_PATTERNS = [
    # the defaced image and its sidecar: sub-01_desc-defaced_T1w.nii.gz
    "sub-{subject}[/ses-{session}]/{datatype<anat>|anat}/sub-{subject}"
    + _ENTITIES
    + "[_desc-{desc}]_{suffix<"
    + _SUFFIXES
    + ">}{extension<.nii|.nii.gz|.json>|.nii.gz}",
    # per-image derivatives without the source suffix: mod-<suffix> keeps T1w and PDw apart
    "sub-{subject}[/ses-{session}]/{datatype<anat>|anat}/sub-{subject}"
    + _ENTITIES
    + "_mod-{modality}_desc-{desc}_{suffix<mask|dseg|metrics>}{extension<.nii|.nii.gz|.json|.tsv>|.nii.gz}",
    # reportlets
    "sub-{subject}/{datatype<figures>}/sub-{subject}"
    + _ENTITIES
    + "[_mod-{modality}]_desc-{desc}_{suffix}{extension<.svg|.png|.html|.json>|.svg}",
]
