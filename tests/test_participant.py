"""The participant level end to end on the demo dataset with broken images mixed in."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from bids_deface.cli.run import main
from bids_deface.methods.io import raw_data

pytestmark = pytest.mark.xdist_group("participant")


@pytest.fixture(scope="module")
def run(demo_bids, tmp_path_factory, hash_tree):
    """Demo participants 01 and 02, plus broken images; one participant-level run."""
    root = tmp_path_factory.mktemp("participant")
    bids = root / "bids"
    shutil.copytree(demo_bids, bids)
    shutil.rmtree(bids / "sub-03")
    good = bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz"
    # sub-04: a truncated reference image -> its session fails, the others go on
    (bids / "sub-04" / "anat").mkdir(parents=True)
    data = good.read_bytes()
    (bids / "sub-04" / "anat" / "sub-04_T1w.nii.gz").write_bytes(data[: len(data) // 3])
    # sub-05: an image whose sform is singular and qform absent
    (bids / "sub-05" / "anat").mkdir(parents=True)
    img = nib.load(good)
    hdr = img.header.copy()
    hdr["qform_code"], hdr["sform_code"] = 0, 1
    hdr["srow_x"], hdr["srow_y"], hdr["srow_z"] = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]
    nib.Nifti1Image(np.asanyarray(img.dataobj), None, hdr).to_filename(bids / "sub-05" / "anat" / "sub-05_T1w.nii.gz")
    # sub-01: a 2D FLAIR beside a good T1w -> only the FLAIR fails
    nib.Nifti1Image(np.ones((64, 64), np.int16), np.eye(4)).to_filename(
        bids / "sub-01" / "anat" / "sub-01_FLAIR.nii.gz"
    )
    with open(bids / "participants.tsv", "a") as fh:
        fh.write("sub-04\t40\nsub-05\t50\n")

    before = hash_tree(bids)
    out = root / "out"
    code = main(
        [
            str(bids),
            str(out),
            "participant",
            "-w",
            str(root / "work"),
            "--nprocs",
            "2",
            "--skip-bids-validation",
            "--impact",
            "none",
        ]
    )
    return {"bids": bids, "out": out, "code": code, "before": before}


def _record(out, pattern):
    matches = list(out.glob(pattern))
    assert len(matches) == 1, pattern
    return json.loads(matches[0].read_text())


def test_input_dataset_is_never_written(run, hash_tree):
    assert hash_tree(run["bids"]) == run["before"]


def test_exit_code_1_when_an_image_fails(run):
    assert run["code"] == 1


def test_good_images_are_defaced(run):
    out = run["out"]
    for sub, name in [("sub-01/anat", "sub-01"), ("sub-02/ses-01/anat", "sub-02_ses-01")]:
        record = _record(out, f"{sub}/{name}_mod-T1w_desc-deface_metrics.json")
        assert record["status"] == "pass", record
        assert record["brain_voxels_removed"] == 0
        assert record["brain_voxels_removed_independent"] == 0 and record["check_brain"] is True
        assert record["registration_disagreement_mm"] < 10.0
        assert record["voxels_removed"] > 1000
        assert record["registration_head_dice"] > 0.85
        assert (out / sub / f"{name}_desc-defaced_T1w.nii.gz").is_file()
        assert (out / sub / f"{name}_mod-T1w_desc-deface_mask.nii.gz").is_file()
    t2w = _record(out, "sub-02/ses-01/anat/sub-02_ses-01_mod-T2w_desc-deface_metrics.json")
    assert t2w["status"] == "pass" and t2w["reference_file"].endswith("_T1w.nii.gz")
    assert "time_coregistration_s" in t2w


def test_defaced_image_differs_only_where_removed(run):
    out, bids = run["out"], run["bids"]
    source = nib.load(bids / "sub-02/ses-01/anat/sub-02_ses-01_T2w.nii.gz")
    defaced = nib.load(out / "sub-02/ses-01/anat/sub-02_ses-01_desc-defaced_T2w.nii.gz")
    mask = np.asanyarray(nib.load(out / "sub-02/ses-01/anat/sub-02_ses-01_mod-T2w_desc-deface_mask.nii.gz").dataobj)
    assert defaced.get_data_dtype() == source.get_data_dtype()
    assert np.array_equal(defaced.affine, source.affine)
    assert (int(defaced.header["qform_code"]), int(defaced.header["sform_code"])) == (
        int(source.header["qform_code"]),
        int(source.header["sform_code"]),
    )
    kept = mask.astype(bool)
    assert np.array_equal(raw_data(defaced)[kept], raw_data(source)[kept])
    assert np.all(np.asanyarray(defaced.dataobj)[~kept] == 0)
    assert (~kept).sum() > 1000


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("sub-04/anat/sub-04_mod-T1w_desc-deface_metrics.json", "truncated or corrupt"),
        ("sub-05/anat/sub-05_mod-T1w_desc-deface_metrics.json", "singular"),
        ("sub-01/anat/sub-01_mod-FLAIR_desc-deface_metrics.json", "3D or 4D"),
    ],
)
def test_bad_images_fail_naming_file_and_reason(run, pattern, reason):
    record = _record(run["out"], pattern)
    assert record["status"] == "error"
    assert reason in record["reason"]
    assert record["source_file"].split("/")[-1] in record["reason"]


def test_derivatives_dataset_description(run):
    description = json.loads((run["out"] / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "bids_deface"
    assert description["GeneratedBy"][0]["Version"]


def test_sidecar_scrubbed_with_provenance(run):
    sidecar = json.loads((run["out"] / "sub-01/anat/sub-01_desc-defaced_T1w.json").read_text())
    assert "InstitutionName" not in sidecar and "DeviceSerialNumber" not in sidecar
    assert sidecar["RepetitionTime"] == 2.3
    assert "DeidentificationMethod" in sidecar


def test_no_partial_files_left(run):
    leftovers = [p for p in run["out"].rglob("*") if ".tmp" in p.name or ".staging" in p.parts]
    assert leftovers == []
    assert not (run["out"] / ".staging").exists()  # not even the empty folder


def test_group_level_exit_code_and_table(run):
    code = main([str(run["bids"]), str(run["out"]), "group"])
    assert code == 1
    summary = json.loads((run["out"] / "group_summary.json").read_text())
    assert summary["n_images"] == 6
    assert summary["n_errors"] == 3
    failed = {f["source_file"] for f in summary["failed_images"]}
    assert "sub-04/anat/sub-04_T1w.nii.gz" in failed
    assert (run["out"] / "group_deface.tsv").read_text().count("\n") == 7


def test_release_refused_while_an_image_failed(run, tmp_path):
    """A release must never carry an original face: with failed images, nothing is written."""
    release = tmp_path / "release"
    code = main([str(run["bids"]), str(run["out"]), "group", "--release-dir", str(release)])
    assert code == 1
    assert not release.exists()
