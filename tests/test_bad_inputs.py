"""The bad input table: one participant run over a dataset of bad images and one good small real head.

The dataset (tests/bad_inputs.py) lives under a path with a space and a non-ASCII letter,
is mounted read-only (a bind mount, as root; otherwise its files are made read-only), and
its good head is a git-annex symlink to read-only content. Every image must end with a
record whose reason names its file, the others must go on, and the input is never written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from bad_inputs import BAD, make_bad_dataset
from cli_run import run_logged, usage_error
from fault_kit import audit_files, small_head
from guarantees import CASES, outcome

pytestmark = [pytest.mark.heads, pytest.mark.slow, pytest.mark.xdist_group("bad_inputs")]


def _read_only(path):
    """Bind-mount ``path`` read-only over itself; None when this needs root and we are not."""
    if os.geteuid() != 0:
        return None
    if subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode:
        return None
    if subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True).returncode:
        subprocess.run(["umount", str(path)], check=False)
        return None
    return path


@pytest.fixture(scope="module")
def bad_run(shared_data, tmp_path_factory, hash_tree):
    root = tmp_path_factory.mktemp("bad") / "bad inputs ü"
    bids = make_bad_dataset(root / "bids", small_head(shared_data))
    before = hash_tree(bids)
    mounted = _read_only(bids)
    try:
        probe = bids / "probe"
        try:
            probe.write_text("x")
            writable = True
            probe.unlink()
        except OSError:
            writable = False
        out = root / "out"
        argv = [str(bids), str(out), "participant", "--skip-bids-validation", "--impact", "none"]
        code, log = run_logged([*argv, "-w", str(root / "work"), "--nprocs", "2"])
        after = hash_tree(bids)
    finally:
        if mounted and subprocess.run(["umount", str(mounted)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mounted)], check=False)
    records = {}
    for path in out.glob("sub-*/anat/*_desc-deface_metrics.json"):
        record = json.loads(path.read_text())
        records[record["subject"]] = record
    return {
        "bids": bids,
        "out": out,
        "code": code,
        "log": log,
        "records": records,
        "unchanged": before == after,
        "read_only": mounted is not None and not writable,
    }


def _observed(run, label: str) -> str:
    """``<status>``, then the reason with the file's own path shown as ``<file>``."""
    record = run["records"].get(label)
    if record is None:
        return "no record"
    rel = f"sub-{label}/anat/sub-{label}_T1w.nii.gz"
    reason = record.get("reason") or record.get("review_reason") or ""
    named = str(run["bids"] / rel) in reason or rel in reason
    reason = reason.replace(str(run["bids"] / rel), "<file>").replace(rel, "<file>")
    reason = re.sub(r"^(register_template|input): ", "", reason)
    reason = re.sub(r"\d+ voxels removed", "N voxels removed", reason)
    return f"{record['status']}" + (f" ({'names the file: ' if named else ''}{reason})" if reason else "")


def test_every_image_has_a_record_and_the_run_exits_1(bad_run):
    assert set(bad_run["records"]) == set(BAD), sorted(set(BAD) ^ set(bad_run["records"]))
    assert bad_run["code"] == 1, bad_run["log"][-20:]


@pytest.mark.parametrize("label", sorted(BAD))
def test_bad_input(bad_run, label):
    case = f"bad-{label}"
    outcome(case, _observed(bad_run, label))
    if CASES[case]["result"].startswith("error"):
        assert "names the file" in CASES[case]["result"]


def test_read_only_symlinked_input_is_never_written(bad_run):
    if not bad_run["read_only"]:
        pytest.skip("could not make the input read-only (needs root for a bind mount)")
    audit = audit_files(bad_run["out"])
    assert audit["broken"] == [], audit["broken"]
    observed = "the run ends (exit 1, the good head passes); the input's files are unchanged" + (
        "" if bad_run["unchanged"] else " -- CHANGED"
    )
    outcome("input-read-only", observed)


def test_paths_with_spaces_and_non_ascii(bad_run):
    assert " " in str(bad_run["bids"]) and "ü" in str(bad_run["bids"])
    report = bad_run["out"] / "sub-good.html"
    outcome(
        "input-path-non-ascii",
        f"status {bad_run['records']['good']['status']}; report {'written' if report.is_file() else 'missing'}",
    )


@pytest.mark.parametrize("name", ["int8", "float64", "uint16-scaled"])
def test_stored_types_round_trip(shared_data, tmp_path, name):
    """Valid but unusual storage: what the participant level's read and write functions make of it."""
    import nibabel as nib
    import numpy as np

    from bids_deface.methods.deface.removal import apply_removal
    from bids_deface.methods.io import load_image, write_raw

    head = small_head(shared_data)
    data = np.asanyarray(head.dataobj).astype(np.float64)
    if name == "int8":
        img = nib.Nifti1Image(np.rint(data / data.max() * 127).astype(np.int8), head.affine)
    elif name == "float64":
        img = nib.Nifti1Image(data, head.affine)
    else:
        img = nib.Nifti1Image(np.rint(data / 2.5).astype(np.uint16), head.affine)
        img.header.set_slope_inter(2.5, 10.0)
    img.to_filename(tmp_path / "in.nii.gz")
    loaded = load_image(tmp_path / "in.nii.gz")
    removal = np.zeros(loaded.shape, bool)
    removal[:, -20:, :20] = True  # a box where a face would be
    out = nib.load(write_raw(tmp_path / "out.nii.gz", *_defaced(apply_removal(loaded, removal))))
    kept = out.get_data_dtype() == loaded.get_data_dtype()
    kept &= (out.dataobj.slope, out.dataobj.inter) == (loaded.dataobj.slope, loaded.dataobj.inter)
    same = np.array_equal(out.get_fdata()[~removal], loaded.get_fdata()[~removal])
    outcome(
        f"dtype-{name}",
        ("dtype and scaling kept" if kept else "dtype or scaling CHANGED")
        + ("; every decoded value outside the removal unchanged" if same else "; values outside the removal CHANGED"),
    )


def _defaced(defaced):
    return defaced.header, defaced.raw


def test_not_bids_exits_2(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    code, err = usage_error([str(tmp_path / "data"), str(tmp_path / "out"), "participant"], capsys)
    named = f"{tmp_path / 'data'}: not a BIDS dataset" in err
    outcome("input-not-bids", f"exit {code}, {'names the folder' if named else err}; nothing written")
    assert not (tmp_path / "out").exists()


def test_output_inside_input_exits_2(tiny_bids, capsys, hash_tree):
    before = hash_tree(tiny_bids)
    code, err = usage_error([str(tiny_bids), str(tiny_bids / "derivatives" / "deface"), "participant"], capsys)
    unchanged = hash_tree(tiny_bids) == before and not (tiny_bids / "derivatives").exists()
    outcome("input-output-inside", f"exit {code}; the input is {'unchanged' if unchanged else 'CHANGED'}")
