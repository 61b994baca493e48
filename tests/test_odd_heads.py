"""Real heads that break the usual assumptions end with a verdict and an output, never ``error``.

Built from sub-colin of ../shared/data/heads (:mod:`odd_heads`): a copy on a grid half as
fine whose header still says 1 mm (a conformed 128^3-style volume with a wrong voxel size),
and a 2 mm copy whose face was already cut off quickshear-style (a dataset defaced earlier).
"""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from odd_heads import face_already_removed, wrong_voxel_size

from bids_deface.cli import EXIT_REVIEW
from bids_deface.cli.run import main
from bids_deface.methods.volume import downsample

pytestmark = [pytest.mark.heads, pytest.mark.xdist_group("odd_heads")]
COLIN = "sub-colin/anat/sub-colin_T1w.nii.gz"


@pytest.fixture(scope="module")
def odd_run(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("odd_heads")
    bids = root / "bids"
    source = nib.load(shared_data / "heads" / COLIN)
    brain = np.asanyarray(nib.load(shared_data / "truth" / "sub-colin_desc-brain_mask.nii.gz").dataobj) > 0
    for label, img in (
        ("small", wrong_voxel_size(source)),
        ("noface", downsample(face_already_removed(source, brain), 2.0)),
    ):
        (bids / f"sub-{label}" / "anat").mkdir(parents=True)
        img.to_filename(bids / f"sub-{label}" / "anat" / f"sub-{label}_T1w.nii.gz")
    shutil.copy(shared_data / "heads" / "dataset_description.json", bids)
    out = root / "out"
    code = main([str(bids), str(out), "participant", "-w", str(root / "work"), "--impact", "none", "--nprocs", "2"])

    def record(label):
        return json.loads(next(out.glob(f"sub-{label}/anat/*_desc-deface_metrics.json")).read_text())

    return {"code": code, "out": out, "record": record}


def test_the_run_ends_with_verdicts_not_errors(odd_run):
    assert odd_run["code"] == EXIT_REVIEW  # the wrong voxel size asks for a person; nothing failed


def test_a_wrong_voxel_size_is_defaced_and_sent_to_review_with_the_reason(odd_run):
    record = odd_run["record"]("small")
    assert record["status"] == "review", record.get("reason")
    assert record["head_size_ratio"] < 0.55  # the head's extent: half a head in "1 mm" voxels
    assert "voxel size looks wrong" in record["review_voxel_size"]
    assert "voxel_size" in record["review_signals"]
    assert record["brain_voxels_removed_independent"] == 0
    assert record["registration_disagreement_mm"] < 10  # both routes found the small head
    assert record["voxels_removed"] > 0
    assert next(odd_run["out"].glob("sub-small/anat/*_desc-defaced_T1w.nii.gz")).is_file()


def test_a_head_defaced_before_ends_pass_or_review_with_its_brain_intact(odd_run):
    record = odd_run["record"]("noface")
    assert record["status"] in ("pass", "review"), record.get("reason")
    assert record["brain_voxels_removed_independent"] == 0
    assert record["check_face_skin"] is True  # no facial feature is left to find
    assert "review_voxel_size" not in record
    assert next(odd_run["out"].glob("sub-noface/anat/*_desc-defaced_T1w.nii.gz")).is_file()
