"""Planning the sessions: one pybids query per suffix for every participant, grouped back per participant."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from bids_deface.layout import DatasetError, collect_sessions, index_dataset


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan") / "bids"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "plan", "BIDSVersion": "1.10.0"}))
    img = nib.Nifti1Image(np.ones((8, 8, 8), np.int16), np.diag([2.0, 2.0, 2.0, 1.0]))
    names = [
        "sub-01/ses-A/anat/sub-01_ses-A_T1w.nii.gz",
        "sub-01/ses-A/anat/sub-01_ses-A_T2w.nii.gz",
        "sub-01/ses-B/anat/sub-01_ses-B_acq-fast_T1w.nii.gz",
        "sub-02/anat/sub-02_T2w.nii.gz",
        "sub-02/anat/sub-02_acq-fast_T1w.nii.gz",
        "sub-03/func/sub-03_task-rest_bold.nii.gz",
    ]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        img.to_filename(root / name)
    return index_dataset(root, validate=False)


def _plan(plans):
    return [(p.subject, p.session, [i.relpath.rsplit("/", 1)[1] for i in p.images]) for p in plans]


def test_every_participant_and_session_with_its_reference_first(layout):
    assert _plan(collect_sessions(layout)) == [
        ("01", "A", ["sub-01_ses-A_T1w.nii.gz", "sub-01_ses-A_T2w.nii.gz"]),
        ("01", "B", ["sub-01_ses-B_acq-fast_T1w.nii.gz"]),
        ("02", None, ["sub-02_acq-fast_T1w.nii.gz", "sub-02_T2w.nii.gz"]),
    ]


def test_participants_sessions_suffixes_and_filters_select(layout):
    assert _plan(collect_sessions(layout, participants=["02"], suffixes=["T2w"])) == [
        ("02", None, ["sub-02_T2w.nii.gz"])
    ]
    assert _plan(collect_sessions(layout, sessions=["B"])) == [("01", "B", ["sub-01_ses-B_acq-fast_T1w.nii.gz"])]
    fast = collect_sessions(layout, bids_filters={"t1w": {"acquisition": "fast"}}, suffixes=["T1w"])
    assert _plan(fast) == [
        ("01", "B", ["sub-01_ses-B_acq-fast_T1w.nii.gz"]),
        ("02", None, ["sub-02_acq-fast_T1w.nii.gz"]),
    ]
    with pytest.raises(DatasetError, match="no anatomical images"):
        collect_sessions(layout, participants=["03"])
