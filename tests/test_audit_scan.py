"""The audit's metadata scan, its answers (JUnit, Markdown, JSON) and its cache: no real heads, no registration."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from hostile import copy_head, make_hostile_dataset

from bids_deface.cli import EXIT_FAILED, EXIT_OK, EXIT_REVIEW, EXIT_UNCHECKED
from bids_deface.cli.audit import _exit_code
from bids_deface.cli.audit_cache import AuditCache, content_hash
from bids_deface.config import WorkflowConfig
from bids_deface.methods.metadata.policy import ScrubPolicy
from bids_deface.methods.metadata.release import make_release
from bids_deface.methods.metadata.scan import scan_dataset
from bids_deface.reports.audit import junit_xml, markdown_summary, summarise


@pytest.fixture
def hostile_bids(demo_bids, tmp_path):
    return make_hostile_dataset(tmp_path / "bids", copy_head(demo_bids, tmp_path / "head.nii.gz"))


def _findings(scans) -> dict[str, dict[str, str]]:
    """path -> field -> severity."""
    return {s.path: {f.field: f.severity for f in s.findings} for s in scans}


def test_every_planted_place_is_named_with_its_file_and_field(hostile_bids):
    found = _findings(scan_dataset(hostile_bids, ScrubPolicy()))
    anat = "sub-01/ses-01/anat/sub-01_ses-01_T1w"
    bold = "sub-01/ses-01/func/sub-01_ses-01_task-rest_bold"
    assert found[f"{anat}.json"]["PatientName"] == "fail"
    assert found[f"{anat}.json"]["AcquisitionDateTime"] == "fail"
    assert found[f"{anat}.json"]["CustomInfo"] == "review"  # not known to be safe (nested values and all)
    assert {"Notes", "OperatorName", "SubjectName"} <= set(found[f"{anat}.json"])
    assert found[f"{anat}.nii.gz"]["descrip"] == "fail" and found[f"{anat}.nii.gz"]["extensions"] == "fail"
    assert found[f"{anat}.nii.gz"]["gzip FNAME"] == "fail"
    assert {"descrip", "aux_file", "intent_name", "extensions", "gzip FNAME"} <= set(found[f"{bold}.nii.gz"])
    assert found[f"{bold}.json"]["PatientName"] == "fail"  # not only anatomical sidecars
    assert {"name", "birthdate"} <= set(found["participants.tsv"]) and found["participants.tsv"]["name"] == "fail"
    assert found["participants.tsv"]["site_code"] == "review"  # undocumented: the release would drop it
    assert {"acq_time", "operator"} <= set(found["sub-01/ses-01/sub-01_ses-01_scans.tsv"])
    assert {"acq_time", "note"} <= set(found["sub-01/sub-01_sessions.tsv"])
    assert found["T1w.json"]["InstitutionName"] == "fail"  # inherited sidecars
    assert found["task-rest_bold.json"]["InstitutionAddress"] == "fail"
    assert any("e-mail" in field for field in found["README"]) and any("date" in f for f in found["CHANGES"])
    assert found["dataset_description.json"]["Acknowledgements"] == "fail"
    assert found["dataset_description.json"]["Authors"] == "note"  # published on purpose, listed
    for outside in ("code/heuristic.py", "extra/notes.txt", "sub-01/ses-01/anat/notes.txt"):
        assert found[outside]["(whole file)"] == "review", outside


def test_a_release_copy_scans_clean(hostile_bids, tmp_path):
    summary = make_release(hostile_bids, tmp_path / "release", {}, {}, note="test")
    scans = scan_dataset(summary.release_dir, ScrubPolicy())
    flagged = {s.path: [(f.field, f.severity) for f in s.findings] for s in scans if s.severity != "pass"}
    assert flagged == {}
    notes = [(s.path, f.field) for s in scans for f in s.findings]
    assert notes == [("dataset_description.json", "Authors")]


def test_dates_in_labels_and_missing_content_are_found(tmp_path):
    root = tmp_path / "bids"
    anat = root / "sub-01" / "ses-20190304" / "anat"
    anat.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.10.0"}))
    os.symlink(
        "../../../.git/annex/objects/Xy/SHA256E-s1--" + "0" * 64 + ".nii.gz", anat / "sub-01_ses-20190304_T1w.nii.gz"
    )
    found = _findings(scan_dataset(root, ScrubPolicy()))
    image = found["sub-01/ses-20190304/anat/sub-01_ses-20190304_T1w.nii.gz"]
    assert image["ses-20190304"] == "fail"
    assert image["(content)"] == "error"


def test_junit_has_one_case_per_image_and_metadata_file(hostile_bids):
    scans = scan_dataset(hostile_bids, ScrubPolicy())
    records = [
        {"source_file": "sub-01/anat/a.nii.gz", "subject": "01", "status": "pass", "time_total_s": 3.0},
        {"source_file": "sub-01/anat/b.nii.gz", "subject": "01", "status": "fail", "reason": "face: eyes present"},
        {"source_file": "sub-01/anat/c.nii.gz", "subject": "01", "status": "review", "review_reason": "disagree"},
        {"source_file": "sub-01/anat/d.nii.gz", "subject": "01", "status": "error", "reason": "unreadable"},
    ]
    root = ET.fromstring(junit_xml(records, scans))
    images, metadata = root.findall("testsuite")
    assert [c.get("name") for c in images.findall("testcase")] == [r["source_file"] for r in records]
    assert images.get("failures") == "2" and images.get("errors") == "1"
    assert images.findall("testcase")[2].find("failure").get("type") == "review"
    published = [s for s in scans if s.what != "hidden"]
    assert len(metadata.findall("testcase")) == len(published) == int(metadata.get("tests"))
    readme = next(c for c in metadata.findall("testcase") if c.get("name") == "README")
    assert "e-mail" in readme.find("failure").text and "jonathan" not in readme.find("failure").text.lower()


def test_the_summary_and_the_exit_code_follow_the_worst_answer(hostile_bids):
    scans = scan_dataset(hostile_bids, ScrubPolicy())
    clean = summarise([{"source_file": "a", "status": "pass"}], [])
    assert clean["verdict"] == "pass" and _exit_code(clean) == EXIT_OK
    assert _exit_code(summarise([{"status": "review"}], [])) == EXIT_REVIEW
    assert _exit_code(summarise([{"status": "pass"}], scans)) == EXIT_FAILED
    assert _exit_code(summarise([{"status": "error"}, {"status": "fail"}], [])) == EXIT_UNCHECKED
    summary = summarise([{"source_file": "x|y", "status": "fail", "reason": "face"}], scans)
    summary.update(
        generated_by={"Version": "1"},
        images_checked=[{"source_file": "x|y", "status": "fail", "reason": "face", "review_reason": ""}],
        metadata=[s.as_dict() for s in scans],
    )
    text = markdown_summary(summary)
    assert text.startswith("## bids-deface audit: FAIL") and "`x\\|y`" in text
    assert "Quimby".lower() not in text.lower()


def test_the_cache_follows_content_version_and_options(tmp_path):
    image = tmp_path / "a.nii.gz"
    image.write_bytes(b"one")
    out = tmp_path / "out"
    gallery = out / "sub-01" / "figures" / "sub-01_mod-T1w_desc-audit_T1w.png"
    gallery.parent.mkdir(parents=True)
    gallery.write_bytes(b"png")
    cache = AuditCache(out, WorkflowConfig())
    key = cache.key(image)
    cache.put(key, {"status": "pass"}, [gallery])
    assert cache.get(key) == {"status": "pass"}
    gallery.unlink()  # a fresh output folder (CI keeps only .cache): the outputs come back from the cache
    assert cache.get(key) == {"status": "pass"} and gallery.read_bytes() == b"png"
    assert AuditCache(out, WorkflowConfig(seed=7)).key(image) != key  # another option
    assert cache.key(image, "sub-02/anat/sub-02_T1w.nii.gz") != key  # the same content elsewhere: its own record
    image.write_bytes(b"two")
    assert cache.key(image) != key  # another content
    cache.put("k2", {"status": "error"}, [])
    assert cache.get("k2") is None  # errors are checked again
    (out / ".cache" / "audit" / key / "sub-01" / "figures" / gallery.name).unlink()
    assert cache.get(key) is None  # an incomplete entry is checked again


def test_an_annexed_file_is_keyed_without_reading_it(tmp_path):
    digest = "ab" * 32
    link = tmp_path / "sub-01_T1w.nii.gz"
    os.symlink(f".git/annex/objects/Pq/Wx/SHA256E-s42--{digest}.nii.gz/SHA256E-s42--{digest}.nii.gz", link)
    assert content_hash(link) == f"annex:{digest}"  # dangling: its content is never read


def test_options_that_do_not_change_a_face_check_keep_the_cache(tmp_path):
    image = tmp_path / "a.nii.gz"
    image.write_bytes(b"one")
    first = AuditCache(tmp_path, SimpleNamespace(template="pydeface", registration_resolution_mm=4.0, seed=42))
    other = AuditCache(tmp_path, WorkflowConfig(scrub="strict"))  # the metadata scan is not cached
    assert first.key(image) == other.key(image)
