"""Release copy: defaced + scrubbed + valid, input untouched, leftovers found.

The BIDS validator tests need the npm package (legacy 1.x line, runs on Node.js):

    npm install --prefix .cache/npm --no-audit --no-fund bids-validator@1.15.0

or ``BIDS_VALIDATOR=/path/to/bids-validator``. They skip, saying so, when it is absent.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_deface.methods.io import raw_data, write_raw
from bids_deface.methods.metadata.leftovers import Leftover, scan_leftovers
from bids_deface.methods.metadata.nifti import nifti_identifying_values, scrub_nifti
from bids_deface.methods.metadata.policy import ScrubPolicy
from bids_deface.methods.metadata.release import MARKER, make_release
from bids_deface.methods.metadata.sidecar import identifying_values, provenance_fields, scrub_sidecar

ROOT = Path(__file__).parents[1]
HEADS = ROOT.parent / "shared" / "data" / "heads"
IDENTIFYING = {
    "InstitutionName": "Example University Hospital",
    "InstitutionAddress": "1 Hospital Road, Springfield",
    "AcquisitionDateTime": "2019-03-04T10:22:31.000000",
    "DeviceSerialNumber": "45123",
    "StationName": "MRC45123",
}


def _validator() -> str | None:
    env = os.environ.get("BIDS_VALIDATOR")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    local = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "bids-validator"
    if local.exists() and shutil.which("node"):
        return str(local)
    return None


def _hashes(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tiny_dataset(root: Path) -> Path:
    """A small valid raw BIDS dataset with identifying metadata in sidecars and headers."""
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "tiny", "BIDSVersion": "1.9.0", "DatasetType": "raw", "License": "CC0"})
    )
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t34\nsub-02\t51\n")
    (root / "README").write_text("A tiny synthetic dataset for bids_deface tests.\n")
    (root / "sourcedata").mkdir()
    (root / "sourcedata" / "IM0001.dcm").write_bytes(b"DICM" + b"DOE^JOHN")
    rng = np.random.default_rng(0)
    for sub in ("01", "02"):
        anat = root / f"sub-{sub}" / "anat"
        anat.mkdir(parents=True)
        img = nib.Nifti1Image(rng.integers(0, 1000, (16, 16, 16)).astype(np.int16), np.diag([2.0, 2.0, 2.0, 1.0]))
        img.header["descrip"] = b"TE=2.5;Time=153152.362;Date=20190304"
        img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"patient DOE^JOHN"))
        img.to_filename(anat / f"sub-{sub}_T1w.nii.gz")
        meta = {"EchoTime": 0.003, "RepetitionTime": 2.3, "FlipAngle": 8, "PatientName": "DOE^JOHN", **IDENTIFYING}
        (anat / f"sub-{sub}_T1w.json").write_text(json.dumps(meta))
    return root


def _deface_and_scrub(bids_dir: Path, work: Path, images: list[Path], *, zero_face: bool = True):
    """Stand-in for the pipeline: 'defaced' images (scrubbed headers) and scrubbed sidecars."""
    replacements, sidecars, values = {}, {}, []
    policy = ScrubPolicy()
    for image in images:
        rel = image.relative_to(bids_dir)
        img = nib.load(image)
        clean, changed = scrub_nifti(img, policy)
        values += nifti_identifying_values(img, changed)
        raw = raw_data(clean).copy()
        if zero_face:
            raw[:, -4:, :4] = 0
        out = work / rel.name
        write_raw(out, clean.header, raw)
        replacements[rel] = out
        sidecar = image.with_name(image.name.replace(".nii.gz", ".json"))
        if sidecar.exists():
            meta = json.loads(sidecar.read_text())
            scrubbed, removed = scrub_sidecar(meta, policy, suffix=rel.name.split("_")[-1].split(".")[0])
            scrubbed.update(
                provenance_fields(
                    tool="bids_deface",
                    version="0.0.test",
                    method="test",
                    template="test-template",
                    scrub_level=policy.level,
                )
            )
            sidecars[sidecar.relative_to(bids_dir)] = scrubbed
            values += identifying_values(meta, removed)
    return replacements, sidecars, sorted(set(values))


@pytest.fixture
def tiny(tmp_path):
    bids = _tiny_dataset(tmp_path / "bids")
    work = tmp_path / "work"
    work.mkdir()
    images = sorted(bids.rglob("*_T1w.nii.gz"))
    replacements, sidecars, values = _deface_and_scrub(bids, work, images)
    return bids, replacements, sidecars, values, tmp_path


def test_make_release_never_touches_input(tiny):
    bids, replacements, sidecars, values, tmp = tiny
    before = _hashes(bids)
    summary = make_release(bids, tmp / "release", replacements, sidecars, note="Faces removed by test.")
    assert _hashes(bids) == before
    release = summary.release_dir
    assert release == (tmp / "release").resolve()
    assert not (tmp / "release.partial").exists()
    # replaced images are the given ones, never the originals
    for rel, defaced in replacements.items():
        assert (release / rel).read_bytes() == defaced.read_bytes()
        assert (release / rel).read_bytes() != (bids / rel).read_bytes()
        assert not os.path.samefile(release / rel, bids / rel)
    for rel, content in sidecars.items():
        assert json.loads((release / rel).read_text()) == content
    # every file is a copy, never a hard link: editing the release never edits the input
    for path in release.rglob("*"):
        if path.is_file() and (bids / path.relative_to(release)).is_file():
            assert not os.path.samefile(path, bids / path.relative_to(release)), path
    assert (release / "participants.tsv").read_text() == (bids / "participants.tsv").read_text()
    (release / "participants.tsv").write_text("edited\n")
    assert (bids / "participants.tsv").read_text().startswith("participant_id")
    for name in ("README", "dataset_description.json"):
        assert not os.path.samefile(release / name, bids / name)
    assert (bids / "README").read_text() == "A tiny synthetic dataset for bids_deface tests.\n"
    readme = (release / "README").read_text()
    assert (
        readme.startswith("A tiny synthetic dataset") and "Faces removed by test." in readme and "bids_deface" in readme
    )
    description = json.loads((release / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw" and description["GeneratedBy"][-1]["Name"] == "bids_deface"
    assert not (release / "sourcedata").exists()  # raw DICOM never enters a release
    assert (release / MARKER).is_file()
    assert summary.images_not_replaced == ()
    assert sorted(summary.replaced) == sorted(str(r) for r in replacements)
    # nothing scrubbed is left anywhere in the release, and the original would have been caught
    assert scan_leftovers(release, values) == []
    assert scan_leftovers(bids, values)


def test_release_can_be_remade_and_refuses_foreign_targets(tiny):
    bids, replacements, sidecars, _, tmp = tiny
    make_release(bids, tmp / "release", replacements, sidecars, note="first")
    summary = make_release(bids, tmp / "release", replacements, sidecars, note="second")
    assert "second" in (summary.release_dir / "README").read_text()
    assert "first" not in (summary.release_dir / "README").read_text()
    assert not [p for p in tmp.iterdir() if ".old." in p.name]

    with pytest.raises(ValueError, match="outside the input dataset"):
        make_release(bids, bids / "derivatives" / "release", replacements, sidecars, note="x")
    with pytest.raises(ValueError, match="outside the input dataset"):
        make_release(bids, bids, replacements, sidecars, note="x")
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="foreign.*not a previous bids_deface release"):
        make_release(bids, foreign, replacements, sidecars, note="x")
    assert (foreign / "precious.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="must not contain the input"):
        make_release(bids, tmp, replacements, sidecars, note="x")


def test_release_refuses_original_as_defaced_and_reports_unreplaced(tiny):
    bids, replacements, sidecars, _, tmp = tiny
    rel = next(iter(replacements))
    with pytest.raises(ValueError, match="original file itself"):
        make_release(bids, tmp / "r1", {rel: bids / rel}, sidecars, note="x")
    with pytest.raises(ValueError, match="not in the dataset"):
        make_release(bids, tmp / "r2", {Path("sub-09/anat/sub-09_T1w.nii.gz"): replacements[rel]}, {}, note="x")
    with pytest.raises(ValueError, match="relative"):
        make_release(bids, tmp / "r3", {Path("../x.nii.gz"): replacements[rel]}, {}, note="x")
    summary = make_release(bids, tmp / "r4", {rel: replacements[rel]}, {}, note="x")
    assert len(summary.images_not_replaced) == 1
    assert summary.readme == "README"


def test_scan_leftovers_text_binary_and_gzip(tmp_path):
    values = ["Example University Hospital", "DOE^JOHN", "MRC45123", "abc", "2019-03-04T10:22:31"]
    (tmp_path / "notes.txt").write_text("scanned at example university hospital\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01" + "MRC45123".encode("utf-16-le") + b"\xff")
    img = nib.Nifti1Image(np.zeros((8, 8, 8), np.uint8), np.eye(4))
    img.header["descrip"] = b"DOE^JOHN"
    img.to_filename(tmp_path / "sub-01_T1w.nii.gz")
    (tmp_path / "short.txt").write_text("abc abc abc")
    (tmp_path / "sub").mkdir()
    with gzip.open(tmp_path / "sub" / "log.txt.gz", "wb") as fh:
        fh.write(b"x" * (20 * 1024 * 1024) + b"2019-03-04T10:22:31")  # crosses a chunk boundary
    found = scan_leftovers(tmp_path, values)
    assert Leftover(tmp_path / "notes.txt", 0) in found
    assert Leftover(tmp_path / "blob.bin", 2) in found
    assert Leftover(tmp_path / "sub-01_T1w.nii.gz", 1) in found
    assert Leftover(tmp_path / "sub" / "log.txt.gz", 4) in found
    assert not [f for f in found if f.value_index == 3]  # too short: would match by chance
    assert len(found) == 4
    assert scan_leftovers(tmp_path, []) == []


def test_scan_leftovers_never_logs_values(tmp_path, caplog):
    (tmp_path / "a.txt").write_text("Example University Hospital")
    with caplog.at_level("DEBUG"):
        assert scan_leftovers(tmp_path, ["Example University Hospital"]) == [Leftover(tmp_path / "a.txt", 0)]
    assert "#0" in caplog.text and "Hospital" not in caplog.text


# --------------------------------------------------------------------------- BIDS validator

INSTALL = "npm install --prefix .cache/npm --no-audit --no-fund bids-validator@1.15.0"
needs_validator = pytest.mark.skipif(_validator() is None, reason=f"npm bids-validator not installed: {INSTALL}")
needs_heads = pytest.mark.skipif(not HEADS.is_dir(), reason=f"shared head data absent: {HEADS}")


def _validate(dataset: Path) -> dict:
    proc = subprocess.run(
        [_validator(), str(dataset), "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"bids-validator gave no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}")


def _errors(report: dict) -> list[str]:
    return [
        f"{issue['key']}: {[f['file']['relativePath'] for f in issue.get('files', []) if f.get('file')][:5]}"
        for issue in report["issues"]["errors"]
    ]


@pytest.mark.validator
@needs_validator
def test_release_of_tiny_dataset_is_valid(tiny):
    bids, replacements, sidecars, _, tmp = tiny
    summary = make_release(bids, tmp / "release", replacements, sidecars, note="Faces removed by test.")
    report = _validate(summary.release_dir)
    assert _errors(report) == []
    assert report["summary"]["subjects"] == ["01", "02"]


@pytest.fixture(scope="module")
def heads_release(tmp_path_factory):
    """A release of the shared heads: originals (headers scrubbed, voxels unchanged) stand in for defaced images."""
    tmp = tmp_path_factory.mktemp("heads")
    work = tmp / "work"
    work.mkdir()
    before = _hashes(HEADS)
    replacements, sidecars, values = _deface_and_scrub(HEADS, work, sorted(HEADS.rglob("*.nii.gz")), zero_face=False)
    summary = make_release(HEADS, tmp / "release", replacements, sidecars, note="Test release of heads.")
    assert _hashes(HEADS) == before
    return summary, values


@pytest.mark.heads
@needs_heads
def test_release_of_heads_is_clean(heads_release):
    summary, values = heads_release
    for value in IDENTIFYING.values():
        assert value in values
    assert len(summary.replaced) == 5 and len(summary.sidecars) == 5
    assert scan_leftovers(summary.release_dir, values) == []


@pytest.mark.validator
@pytest.mark.heads
@needs_validator
@needs_heads
def test_release_of_heads_is_valid(heads_release):
    summary, _ = heads_release
    report = _validate(summary.release_dir)
    assert _errors(report) == []
    assert report["summary"]["subjects"] == ["chris", "colin", "pet", "reg"]
