"""The release gate: an image that was not processed never counts as clean, whatever --fail-on says."""

from __future__ import annotations

import json
import logging

import nibabel as nib
import numpy as np
import pytest
from cli_run import run_logged

from bids_deface.methods.record import error_record, fails_run, finalise_record, tally


@pytest.fixture(scope="module")
def unprocessed(tmp_path_factory):
    """sub-01: a 0-byte T1w; sub-02: an all-zero T1w. Nothing can be defaced."""
    bids = tmp_path_factory.mktemp("gate") / "bids"
    (bids / "sub-01" / "anat").mkdir(parents=True)
    (bids / "sub-02" / "anat").mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "gate", "BIDSVersion": "1.10.0"}))
    (bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz").write_bytes(b"")
    zero = nib.Nifti1Image(np.zeros((64, 64, 64), np.int16), np.diag([3.0, 3.0, 3.0, 1.0]))
    zero.to_filename(bids / "sub-02" / "anat" / "sub-02_T1w.nii.gz")
    out = bids.parent / "out"
    args = ["--skip-bids-validation", "-w", str(bids.parent / "work"), "--fail-on", "face"]
    participant, participant_log = run_logged([str(bids), str(out), "participant", "--impact", "none", *args])
    group, group_log = run_logged([str(bids), str(out), "group", *args])
    return {"out": out, "codes": (participant, group), "log": participant_log + group_log}


def _record(out, subject):
    return json.loads(next(out.glob(f"sub-{subject}/anat/*_desc-deface_metrics.json")).read_text())


def test_errors_fail_both_levels_whatever_fail_on_says(unprocessed):
    assert unprocessed["codes"] == (1, 1)
    summary = json.loads((unprocessed["out"] / "group_summary.json").read_text())
    assert (summary["n_passed"], summary["n_errors"]) == (0, 2)
    assert len(summary["failed_images"]) == 2
    finals = [(level, line) for level, line in unprocessed["log"] if "0 passed" in line]
    assert len(finals) == 2  # participant and group level
    assert all(level == logging.ERROR and "2 could not be processed" in line for level, line in finals)


def test_all_zero_image_is_an_input_error_naming_the_file(unprocessed):
    record = _record(unprocessed["out"], "02")
    assert record["status"] == "error"
    assert "sub-02_T1w.nii.gz: the image is empty: all voxels are 0" in record["reason"]
    assert "itk" not in record["reason"].lower()
    assert _record(unprocessed["out"], "01")["status"] == "error"


def test_fails_run_and_tally():
    error = error_record("sub-01/anat/sub-01_T1w.nii.gz", "unreadable")
    passed = finalise_record({"source_file": "a", "check_face": True})
    face = finalise_record({"source_file": "b", "check_face": False, "check_face_reason": "nose left"})
    assert fails_run(error, ["face"]) and fails_run(error, [])
    assert fails_run({"source_file": "no status"}, [])
    assert not fails_run(passed, ["face", "brain"])
    assert fails_run(face, ["face"]) and not fails_run(face, ["brain"])
    counted = tally([error, passed, face], ["brain"])
    assert counted["counts"] == {"pass": 1, "review": 0, "fail": 1, "error": 1}
    assert counted["gate"] == [error]
    assert "1 passed, 0 to review, 1 failed, 1 could not be processed; 1 make(s) the run fail" in counted["message"]


def test_review_status_and_its_exit_code():
    from bids_deface.cli import EXIT_FAILED, EXIT_OK, EXIT_REVIEW, gate_code

    blind = finalise_record({"source_file": "a", "check_face": True, "review_face_blind": "no face seen"})
    assert blind["status"] == "review" and blind["review_signals"] == ["face_blind"]
    assert blind["review_reason"] == "no face seen" and blind["reason"] == ""
    assert finalise_record(blind) == blind  # finalising twice changes nothing
    impact = finalise_record(
        {"source_file": "b", "check_face": True, "check_impact": False, "check_impact_reason": "x"}
    )
    assert impact["status"] == "review" and impact["review_signals"] == ["impact"]
    # a failed decisive check beats a review signal; an error beats both
    both = finalise_record({"source_file": "c", "check_face": False, "review_face_blind": "blind"})
    assert both["status"] == "fail"
    passed = finalise_record({"source_file": "d", "check_face": True})
    assert gate_code(tally([passed], ["face"])) == EXIT_OK
    assert gate_code(tally([passed, blind], ["face"])) == EXIT_REVIEW
    assert gate_code(tally([blind, impact], ["impact"])) == EXIT_FAILED  # impact asked for: it fails the run
    assert gate_code(tally([blind, both], ["face"])) == EXIT_FAILED
