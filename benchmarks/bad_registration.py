"""Does a plausible but wrong registration end ``pass``? A measurement on real heads.

    .venv/bin/python benchmarks/bad_registration.py BIDS_DIR WORK_DIR [--degrees 30]

``WORK_DIR``: the ``-w`` folder of a participant run on ``BIDS_DIR`` (e.g. the shared
heads). The template registration of each session reference found by that run is
turned 30 degrees in yaw about the head's centre, and the image is defaced and checked
through that wrong transform, as the pipeline would: the removal mask and the feature
labels follow it, so the template feature check is fooled by construction. The renders
are made from the image's own axes, and the registration-free check (a face left on
untouched skin) should catch what the wrong mask left; the independent brain check (a
second atlas registered by a second route, node ``independent_brain`` of the same run)
compares the wrong transform with its own and counts removed voxels in its brain core.
Prints the status per image and asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

REFERENCES = {
    "sub-colin/anat/sub-colin_T1w.nii.gz": "sub_colin_wf/sub_colin_wf",
    "sub-pet/anat/sub-pet_T1w.nii.gz": "sub_pet_wf/sub_pet_wf",
    "sub-reg/anat/sub-reg_T2w.nii.gz": "sub_reg_wf/sub_reg_wf",
    "sub-chris/ses-01/anat/sub-chris_ses-01_T1w.nii.gz": "sub_chris_wf/sub_chris_ses_01_wf",
}


def _yawed(image_to_template: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    """``image_to_template`` after a rotation of the image world about ``centre`` (z axis)."""
    t = np.radians(degrees)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    shift, back = np.eye(4), np.eye(4)
    shift[:3, 3], back[:3, 3] = -centre, centre
    return image_to_template @ back @ rot @ shift


def _independent(node: Path, img: nib.Nifti1Image):
    """The run's independent brain core and image -> atlas matrix (computed again when absent)."""
    from bids_deface.data.atlas import get_brain_atlas
    from bids_deface.interfaces.brain import carried_mask
    from bids_deface.methods.deface.brain_check import brain_core, independent_brain

    if (node / "image_to_atlas.txt").is_file():
        return carried_mask(str(node / "atlas_brain_core.nii.gz"), img, None), np.loadtxt(node / "image_to_atlas.txt")
    brain = independent_brain(img, get_brain_atlas())
    return brain_core(brain.mask, img.header.get_zooms()), brain.image_to_atlas


def outcome(bids: Path, work: Path, source: str, degrees: float) -> dict:
    """Deface and check one reference image through its registration turned by ``degrees``."""
    from bids_deface.data.atlas import get_brain_atlas
    from bids_deface.data.templates import get_template
    from bids_deface.interfaces.deface import load_template
    from bids_deface.methods.deface.brain_check import disagreement_review, registration_disagreement_mm
    from bids_deface.methods.deface.masks import image_masks
    from bids_deface.methods.deface.removal import apply_removal
    from bids_deface.methods.qa.check import face_qa
    from bids_deface.methods.record import finalise_record

    session = work / "bids_deface_wf" / REFERENCES[source]
    good = np.loadtxt(session / "register_template" / "image_to_template.txt")
    img = nib.load(bids / source)
    data = np.asanyarray(img.dataobj)
    centre = (img.affine @ np.r_[np.argwhere(data > np.percentile(data, 75)).mean(axis=0), 1.0])[:3]
    bad = _yawed(good, centre, degrees)
    _, _, masks = load_template("pydeface")
    wrong = image_masks(img, masks, bad)
    defaced = apply_removal(img, wrong.removal)
    defaced_img = nib.Nifti1Image(defaced.raw, img.affine, defaced.header)
    labels = get_template("pydeface").features_labels
    qa = face_qa(img, defaced_img, wrong.features, labels)  # renders from the image's own axes, as the pipeline
    core, image_to_atlas = _independent(session / "independent_brain", img)
    disagreement = registration_disagreement_mm(bad, image_to_atlas, get_brain_atlas())
    brain = {
        "brain_voxels_removed_independent": int((wrong.removal & core).sum()),
        "registration_disagreement_mm": round(disagreement, 1),
        "review_registration_agreement": disagreement_review(disagreement),
    }
    return finalise_record({"source_file": source, **brain, **qa.metrics})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bids_dir", type=Path)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--degrees", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(
        "| image | yaw error (deg) | status | registrations apart (mm) | independent brain voxels removed "
        "| face_skin views | feature check |\n| --- | --- | --- | --- | --- | --- | --- |"
    )
    for source in sorted(REFERENCES):
        for degrees in (args.degrees, -args.degrees):
            record = outcome(args.bids_dir, args.work_dir, source, degrees)
            views = ", ".join(record["face_left_on_skin_views"]) or "none"
            print(
                f"| {source} | {degrees:+g} | {record['status']} | {record['registration_disagreement_mm']} "
                f"| {record['brain_voxels_removed_independent']} | {views} | {record['face_check_summary']} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
