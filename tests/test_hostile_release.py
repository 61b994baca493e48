"""The release copy of a dataset built to leak: participant, group and release for real.

Every planted value (tests/hostile.py) must be absent from every released byte
(decompressed images and gzip headers included), unless the policy keeps it and the
release summary lists it.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import nibabel as nib
import pytest
from guarantees import outcome
from hostile import AUTHOR, NAME, OPERATOR, VISIT, copy_head, leaks, make_hostile_dataset

from bids_deface.cli.run import main
from bids_deface.methods.metadata.nifti import gzip_names
from bids_deface.methods.metadata.policy import ScrubPolicy
from bids_deface.methods.metadata.release import make_release

pytestmark = pytest.mark.xdist_group("hostile")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hostile(demo_bids, tmp_path_factory, hash_tree):
    """The hostile dataset through participant level, then group level with --release-dir."""
    root = tmp_path_factory.mktemp("hostile")
    head = copy_head(demo_bids, root / "head.nii.gz")
    bids = make_hostile_dataset(root / "bids", head)
    before = hash_tree(bids)
    out, release = root / "out", root / "release"
    common = ["--skip-bids-validation", "-w", str(root / "work")]
    participant = main([str(bids), str(out), "participant", "--impact", "none", "--nprocs", "2", *common])
    group = main([str(bids), str(out), "group", "--release-dir", str(release), *common])
    summary = json.loads((out / "release_summary.json").read_text())
    return {
        "bids": bids,
        "out": out,
        "release": release,
        "summary": summary,
        "codes": (participant, group),
        "before": before,
        "after": hash_tree(bids),
    }


def test_hostile_run_defaces_and_releases(hostile):
    assert hostile["codes"] == (0, 0), hostile["summary"]
    assert hostile["before"] == hostile["after"]  # the input is only read
    assert hostile["summary"]["images_replaced"] == 1


def test_no_planted_value_in_any_released_byte(hostile):
    assert leaks(hostile["release"]) == []


def test_what_is_kept_on_purpose_is_listed(hostile):
    kept = hostile["summary"]["kept_on_purpose"]
    assert {
        "file": "dataset_description.json",
        "field": "Authors",
        "why": "the dataset's authors, published on purpose",
    } in kept
    description = json.loads((hostile["release"] / "dataset_description.json").read_text())
    assert description["Authors"] == [AUTHOR]
    assert {
        "file": "participants.tsv",
        "field": "group",
        "why": "documented in the table's JSON data dictionary",
    } in kept
    assert "[removed]" in description["Acknowledgements"] and "[e-mail removed]" in description["Acknowledgements"]


def test_tables_keep_bids_and_documented_columns_only(hostile):
    release = hostile["release"]
    assert (release / "participants.tsv").read_text().splitlines() == [
        "participant_id\tage\tsex\tgroup",
        "sub-01\t34\tM\tcontrol",
    ]
    assert json.loads((release / "participants.json").read_text()).keys() == {"age", "group"}
    scans = (release / "sub-01" / "ses-01" / "sub-01_ses-01_scans.tsv").read_text().splitlines()
    assert scans[0] == "filename" and len(scans) == 3
    assert (release / "sub-01" / "sub-01_sessions.tsv").read_text().splitlines() == ["session_id", "ses-01"]
    removed = {(r["where"], r["name"], r["why"]) for r in hostile["summary"]["removed"]}
    assert {
        ("participants column", "name", "identifying"),
        ("participants column", "birthdate", "identifying"),
        ("participants column", "site_code", "unknown"),
        ("scans column", "operator", "identifying"),
        ("scans column", "acq_time", "identifying"),
        ("sessions column", "note", "identifying"),
        ("sidecar field", "Notes", "unknown"),
        ("sidecar field", "CustomInfo", "unknown"),
        ("sidecar field", "OperatorName", "unknown"),
        ("sidecar field", "SubjectName", "unknown"),
    } <= removed


def test_every_nifti_header_and_gzip_header_is_clean(hostile):
    release = hostile["release"]
    images = sorted(release.rglob("*.nii.gz"))
    assert len(images) == 2
    for path in images:
        img = nib.load(path)
        for field in ("descrip", "aux_file", "intent_name", "db_name"):
            assert bytes(img.header[field].item()).strip(b"\x00") == b"", (path, field)
        assert len(img.header.extensions) == 0, path
        assert gzip_names(path) == (b"", b"", 0), path
    bold = "sub-01/ses-01/func/sub-01_ses-01_task-rest_bold.nii.gz"
    original, released = nib.load(hostile["bids"] / bold), nib.load(release / bold)
    assert (original.get_fdata() == released.get_fdata()).all()  # the data of other modalities is unchanged


def test_outside_bids_is_left_out_and_listed(hostile):
    release = hostile["release"]
    excluded = {item["path"]: item["reason"] for item in hostile["summary"]["excluded"]}
    assert {"code/heuristic.py", "extra/notes.txt", "sub-01/ses-01/anat/notes.txt"} <= set(excluded)
    assert not (release / "code").exists() and not (release / "extra").exists()
    # inherited sidecars are scrubbed and released
    assert json.loads((release / "T1w.json").read_text()) == {"MagneticFieldStrength": 3}
    assert json.loads((release / "task-rest_bold.json").read_text()) == {"TaskName": "rest"}


def test_free_text_is_redacted_and_counted(hostile):
    release, summary = hostile["release"], hostile["summary"]
    readme = (release / "README").read_text()
    assert "[removed]" in readme and "[e-mail removed]" in readme and "[date removed]" in readme
    assert "[telephone removed]" in readme and "De-identified release" in readme
    kinds = {(r["file"], r["kind"]) for r in summary["redacted"]}
    assert {
        ("README", "e-mail address"),
        ("README", "telephone number"),
        ("README", "date"),
        ("README", "known identifying value"),
        ("CHANGES", "known identifying value"),
        ("CHANGES", "date"),
    } <= kinds
    assert summary["leftovers"] == [] and summary["identifying_values_checked"] > 10
    assert "cannot be found by any rule" in summary["note"]


def test_release_files_are_copies_with_the_usual_mode(hostile):
    release, bids = hostile["release"], hostile["bids"]
    for path in (p for p in release.rglob("*") if p.is_file()):
        source = bids / path.relative_to(release)
        if source.is_file():
            assert not os.path.samefile(path, source), path
        assert path.stat().st_mode & 0o644 == 0o644, (path, oct(path.stat().st_mode))


def test_hostile_release_is_valid_bids(hostile):
    validator = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "bids-validator"
    if not (validator.exists() and shutil.which("node")):
        pytest.skip("npm bids-validator not installed (make test-tools)")
    result = subprocess.run(
        [str(validator), str(hostile["release"]), "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert json.loads(result.stdout)["issues"]["errors"] == []


# --------------------------------------------------------------------------- make_release alone (fast)


@pytest.fixture
def hostile_bids(demo_bids, tmp_path):
    return make_hostile_dataset(tmp_path / "bids", copy_head(demo_bids, tmp_path / "head.nii.gz"))


def test_shifted_dates_are_shifted_everywhere(hostile_bids, tmp_path):
    anat = "sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz"
    summary = make_release(hostile_bids, tmp_path / "release", {}, {}, note="test", policy=ScrubPolicy(shift_days=-30))
    release = summary.release_dir
    scans = (release / "sub-01" / "ses-01" / "sub-01_ses-01_scans.tsv").read_text().splitlines()
    assert scans[0] == "filename\tacq_time" and scans[1].endswith("\t2019-02-02T10:22:31")
    sidecar = json.loads((release / anat.replace(".nii.gz", ".json")).read_text())
    assert sidecar["AcquisitionDateTime"] == "2019-02-02T10:22:31.000000"
    assert "2019-02-02" in (release / "README").read_text()
    assert summary.images_not_replaced == (anat,)  # listed, and its header scrubbed all the same
    assert summary.leftovers == ()
    assert leaks(release, allowed={(anat, "quimby"), (anat, "jonathan")}) == []  # the face is no metadata


def test_include_copies_a_left_out_folder_and_searches_it(hostile_bids, tmp_path):
    summary = make_release(hostile_bids, tmp_path / "release", {}, {}, note="test", include=("code/**",))
    assert (summary.release_dir / "code" / "heuristic.py").is_file()
    assert summary.files["code/heuristic.py"] == "copy"
    assert {item.path.name for item in summary.leftovers} == {"heuristic.py"}  # the name, found again (twice)
    assert not summary.clean


def test_a_removed_value_left_in_a_kept_field_is_found(hostile_bids, tmp_path):
    """The search normalises: a date written another way, a name in another order."""
    meta = hostile_bids / "sub-01" / "ses-01" / "func" / "sub-01_ses-01_task-rest_bold.json"
    meta.write_text(
        json.dumps(
            {
                "RepetitionTime": 2.0,
                "TaskName": "rest",
                "PatientName": "QUIMBY^JONATHAN",
                "TaskDescription": f"rest; seen {VISIT[8:10]}.{VISIT[5:7]}.{VISIT[:4]} by {NAME}",
            }
        )
    )
    summary = make_release(hostile_bids, tmp_path / "release", {}, {}, note="test")
    found = {(item.path.name, item.origin.split(":")[0]) for item in summary.leftovers}
    assert ("sub-01_ses-01_task-rest_bold.json", "sub-01/ses-01/anat/sub-01_ses-01_T1w.json") in found
    assert not summary.clean


def test_missing_annexed_content_is_reported(hostile_bids, tmp_path):
    target = hostile_bids / ".git" / "annex" / "objects" / "Xx" / "SHA256E-s1--abc.nii.gz"
    bold = hostile_bids / "sub-01" / "ses-01" / "func" / "sub-01_ses-01_task-rest_bold.nii.gz"
    bold.unlink()
    bold.symlink_to(os.path.relpath(target, bold.parent))
    summary = make_release(hostile_bids, tmp_path / "release", {}, {}, note="test")
    assert len(summary.missing) == 1 and "datalad get" in summary.missing[0] and bold.name in summary.missing[0]
    assert not summary.clean and summary.published  # make_release's default publishes; the command line does not
    shutil.rmtree(tmp_path / "release")
    summary = make_release(hostile_bids, tmp_path / "release", {}, {}, note="test", publish_unclean=False)
    published = (tmp_path / "release").exists()
    assert summary.as_dict()["published"] is False and (tmp_path / "release.partial" / "README").is_file()
    outcome(
        "release-annex-missing",
        f"listed as missing, naming the file and `datalad get`; the release is {'not ' if not summary.clean else ''}"
        f"clean and {'published' if published else 'not published (left in ``<release>.partial``)'}",
    )


def test_release_of_gzip_with_name_loses_it(tmp_path):
    from bids_deface.methods.metadata.nifti import copy_without_gzip_names

    src = tmp_path / "a.tsv.gz"
    with open(src, "wb") as raw, gzip.GzipFile(filename=f"{OPERATOR}.tsv", mode="wb", fileobj=raw, mtime=123) as fh:
        fh.write(b"x\ty\n" * 1000)
    copy_without_gzip_names(src, tmp_path / "b.tsv.gz")
    assert gzip_names(src)[0] == f"{OPERATOR}.tsv".encode() and gzip_names(tmp_path / "b.tsv.gz") == (b"", b"", 0)
    assert gzip.decompress((tmp_path / "b.tsv.gz").read_bytes()) == b"x\ty\n" * 1000


def test_release_gate_waits_for_a_person_to_rate_every_image_good(hostile, tmp_path):
    """--require-rating all: refused while an image is unrated or excluded, written once all are
    good, and refused again once the images were defaced after the rating."""
    out = tmp_path / "out"
    shutil.copytree(hostile["out"], out)
    images = [r["source_file"] for r in map(json.loads, map(Path.read_text, out.rglob("*_desc-deface_metrics.json")))]

    def release(name):
        args = ["group", "--release-dir", str(tmp_path / name), "--require-rating", "all", "--skip-bids-validation"]
        return main([str(hostile["bids"]), str(out), *args, "-w", str(tmp_path / "work")])

    def rate(rating):
        entries = [{"source_file": source, "rating": rating, "note": ""} for source in images]
        (out / "sub-01_desc-ratings.json").write_text(
            json.dumps(
                {
                    "subject": "01",
                    "reviewer": "Ann",
                    "rated_at": datetime.now(timezone.utc).isoformat(),
                    "ratings": entries,
                }
            )
        )

    assert release("unrated") == 1 and not (tmp_path / "unrated").exists()
    rate("exclude")
    assert release("excluded") == 1 and not (tmp_path / "excluded").exists()
    rate("good")
    assert release("good") == 0
    assert (tmp_path / "good" / "dataset_description.json").is_file()
    for defaced in out.rglob("*_desc-defaced_*.nii.gz"):  # defaced again after the rating
        os.utime(defaced, (time.time() + 60, time.time() + 60))
    assert release("stale") == 1 and not (tmp_path / "stale").exists()
