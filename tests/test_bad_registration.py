"""A plausible but wrong registration must not end ``pass`` (real heads; skipped when absent).

The template registration of each session reference found by the shared heads run is
turned 30 degrees in yaw about the head's centre, and the image is defaced and checked
through that wrong transform, as the pipeline would: the removal mask and the feature
labels follow it, so the template feature check is fooled by construction. The renders
are made from the image's own axes, and the registration-free check (a face left on
untouched skin) must catch what the wrong mask left.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

pytestmark = [pytest.mark.heads, pytest.mark.xdist_group("heads")]

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


@pytest.mark.parametrize("source", sorted(REFERENCES))
def test_a_registration_turned_30_degrees_never_passes(heads_run, source):
    from bids_deface.data.templates import get_template
    from bids_deface.interfaces.deface import load_template
    from bids_deface.methods.deface.masks import image_masks
    from bids_deface.methods.deface.removal import apply_removal
    from bids_deface.methods.qa.check import face_qa
    from bids_deface.methods.record import finalise_record

    work = heads_run["out"].parent / "work" / "bids_deface_wf" / REFERENCES[source] / "register_template"
    good = np.loadtxt(work / "image_to_template.txt")
    img = nib.load(heads_run["bids"] / source)
    data = np.asanyarray(img.dataobj)
    centre = (img.affine @ np.r_[np.argwhere(data > np.percentile(data, 75)).mean(axis=0), 1.0])[:3]
    bad = _yawed(good, centre, 30.0)
    _, _, masks = load_template("pydeface")
    wrong = image_masks(img, masks, bad)
    defaced = apply_removal(img, wrong.removal)
    defaced_img = nib.Nifti1Image(defaced.raw, img.affine, defaced.header)
    qa = face_qa(
        img,
        defaced_img,
        wrong.features,
        get_template("pydeface").features_labels,
        head_to_world=None,  # the face checks render from the image's own axes, as the pipeline does
    )
    record = finalise_record({"source_file": source, "check_brain": True, **qa.metrics})
    assert record["status"] in ("fail", "review"), (record["face_check_summary"], record["face_left_on_skin_views"])
