"""What each file of a BIDS dataset is, for a release copy: how it is written, or why it stays out.

Only BIDS raw data enters a release by default: ``sub-*`` files with BIDS names, the
top-level BIDS files (description, README, CHANGES, LICENSE, participants, samples,
inherited sidecars) and ``phenotype/``. Everything else (``code/``, ``stimuli/``,
``sourcedata/``, ``derivatives/``, hidden files, files with other names) stays out and
is listed with the reason, unless the user includes it by pattern; included files are
copied as they are and searched like every released byte.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from .tabular import table_kind

#: Top-level folders never copied unless included, and why.
EXCLUDED_TOP_LEVEL = {
    "sourcedata": "raw source data (DICOM headers hold names, dates and identifiers)",
    "derivatives": "derivatives are computed from the faces",
    "code": "code may hold names and identifiers (converter heuristics, notes)",
    "stimuli": "stimuli are not checked (they may show people)",
    "models": "not part of BIDS raw data",
    ".heudiconv": "converter bookkeeping (holds DICOM header tables)",
    ".git": "version control",
    ".datalad": "version control",
}
README_NAMES = ("README", "README.md", "README.rst", "README.txt")
FREE_TEXT = (*README_NAMES, "CHANGES", "LICENSE")
#: JSON files that describe the columns of a table (their keys are column names).
DICTIONARY_SUFFIXES = (
    "participants",
    "samples",
    "sessions",
    "scans",
    "events",
    "channels",
    "electrodes",
    "optodes",
    "beh",
    "blood",
    "aslcontext",
    "physioevents",
)
_ENTITY_NAME = re.compile(r"^(?:[a-zA-Z]+-[a-zA-Z0-9]+_)*[a-zA-Z0-9]+\.(?:json|tsv)$")
_NIFTI = re.compile(r"\.nii(\.gz)?$")

#: Actions: how a released file is written.
DESCRIPTION, FREETEXT, SIDECAR, DICTIONARY, TABLE, NIFTI, COPY = (
    "description",
    "free text",
    "sidecar",
    "dictionary",
    "table",
    "nifti",
    "copy",
)


def suffix_of(relpath: str) -> str:
    """The BIDS suffix of a file name (``sub-01_T1w.nii.gz`` -> ``T1w``)."""
    return PurePosixPath(relpath).name.split(".")[0].rsplit("_", 1)[-1]


def included(relpath: str, patterns) -> bool:
    """Whether a user pattern (``code/**``, ``stimuli/*.png``, ``extra``) includes ``relpath``."""
    path = PurePosixPath(relpath)
    return any(
        fnmatchcase(relpath, p)
        or fnmatchcase(relpath, p.rstrip("/") + "/*")
        or any(fnmatchcase(str(parent), p.rstrip("/")) for parent in path.parents if str(parent) != ".")
        for p in patterns
    )


def classify(relpath: str, include=()) -> tuple[str | None, str]:
    """``(action, reason)`` for a dataset-relative path; ``action`` ``None`` keeps it out."""
    action, reason = _bids_action(relpath)
    if action is None and included(relpath, include):
        return COPY, "included by --release-include"
    return action, reason


def _bids_action(relpath: str) -> tuple[str | None, str]:
    path = PurePosixPath(relpath)
    top, name = path.parts[0], path.name
    if top in EXCLUDED_TOP_LEVEL:
        return None, EXCLUDED_TOP_LEVEL[top]
    if any(part.startswith(".") for part in path.parts) and relpath != ".bidsignore":
        return None, "hidden file"
    if len(path.parts) == 1:
        return _top_level(name)
    if top == "phenotype":
        if name.endswith(".tsv"):
            return TABLE, "phenotype table"
        if name.endswith(".json"):
            return DICTIONARY, "phenotype data dictionary"
        return None, "not a BIDS phenotype file"
    if top.startswith("sub-") and name.startswith("sub-"):
        return _data_file(relpath)
    if top.startswith("sub-"):
        return None, "not a BIDS file (its name does not start with sub-)"
    return None, "not part of BIDS raw data"


def _top_level(name: str) -> tuple[str | None, str]:
    if name == "dataset_description.json":
        return DESCRIPTION, "dataset description"
    if name in FREE_TEXT:
        return FREETEXT, "free text"
    if name == ".bidsignore":
        return COPY, "BIDS validator settings"
    if name in ("participants.tsv", "samples.tsv"):
        return TABLE, "BIDS table"
    if _ENTITY_NAME.match(name):
        if name.endswith(".json"):
            return (DICTIONARY if suffix_of(name) in DICTIONARY_SUFFIXES else SIDECAR), "inherited metadata"
        return COPY, "inherited table"
    return None, "not a BIDS file"


def _data_file(relpath: str) -> tuple[str, str]:
    if _NIFTI.search(relpath):
        return NIFTI, "image"
    if relpath.endswith(".json"):
        return (DICTIONARY if suffix_of(relpath) in DICTIONARY_SUFFIXES else SIDECAR), "metadata"
    if table_kind(relpath):
        return TABLE, "BIDS table"
    return COPY, "data file"


def dataset_files(root) -> list[str]:
    """Every file under ``root`` (symlinks included, dangling or not), as sorted relative paths.

    Symlinked folders are followed (once each); ``.git`` is never entered.
    """
    files, seen = [], set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        rel_root = PurePosixPath(os.path.relpath(folder, root).replace(os.sep, "/"))
        dirs[:] = sorted(d for d in dirs if d != ".git")
        files.extend(str(rel_root / n) if str(rel_root) != "." else n for n in sorted(names))
    return files
