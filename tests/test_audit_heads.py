"""The audit level on the original heads: every face and every identifying value is found; a re-run checks nothing again.

Needs no participant run (its own xdist group, beside the participant-level tests);
tests/test_audit_release.py audits what the participant level made.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from cli_run import audited_images, run_audit

pytestmark = [pytest.mark.heads, pytest.mark.slow, pytest.mark.xdist_group("audit")]

IMAGES = (
    "sub-chris/ses-01/anat/sub-chris_ses-01_PDw.nii.gz",
    "sub-chris/ses-01/anat/sub-chris_ses-01_T1w.nii.gz",
    "sub-colin/anat/sub-colin_T1w.nii.gz",
    "sub-pet/anat/sub-pet_T1w.nii.gz",
    "sub-reg/anat/sub-reg_T2w.nii.gz",
)
#: The synthetic identifying sidecar values of ../shared/data/heads (its README).
IDENTIFYING = ("InstitutionName", "InstitutionAddress", "AcquisitionDateTime", "DeviceSerialNumber", "StationName")


@pytest.fixture(scope="session")
def audit_originals(shared_data, tmp_path_factory, hash_tree):
    root = tmp_path_factory.mktemp("audit_originals")
    bids = shared_data / "heads"
    before = hash_tree(bids)
    first = run_audit(bids, root / "out", root / "work")
    again = run_audit(bids, root / "out", root / "work")  # nothing changed: every image from the cache
    return {"first": first, "again": again, "untouched": before == hash_tree(bids)}


def test_the_originals_fail_on_every_face_and_identifying_value(audit_originals):
    result = audit_originals["first"]
    assert result["code"] == 1 and result["summary"]["verdict"] == "fail"
    images = audited_images(result)
    assert sorted(images) == sorted(IMAGES)
    for source, image in images.items():
        assert image["status"] == "fail" and image["reason"].startswith("face"), (source, image)
    metadata = {m["path"]: {f["field"] for f in m["findings"]} for m in result["summary"]["metadata"]}
    for source in IMAGES:
        sidecar = source.replace(".nii.gz", ".json")
        assert set(IDENTIFYING) <= metadata[sidecar], sidecar
    assert audit_originals["untouched"]


def test_the_junit_file_has_a_case_per_image_and_metadata_file(audit_originals):
    out = audit_originals["first"]["out"]
    root = ET.parse(out / "audit_junit.xml").getroot()
    images, metadata = root.findall("testsuite")
    assert sorted(c.get("name") for c in images.findall("testcase")) == sorted(IMAGES)
    assert len(metadata.findall("testcase")) == audit_originals["first"]["summary"]["n_files"]
    assert all(c.find("failure") is not None for c in images.findall("testcase"))
    for name in ("audit.html", "audit_summary.md", "sub-pet_audit.html"):
        assert (out / name).is_file(), name
    assert "QUIMBY" not in (out / "audit.html").read_text()


def test_a_second_audit_with_nothing_changed_checks_nothing_again(audit_originals):
    again = audit_originals["again"]
    assert again["code"] == audit_originals["first"]["code"]
    assert audited_images(again) == audited_images(audit_originals["first"])
    assert any("sub-pet: 0 image(s) to check, 1 unchanged" in line for line in again["lines"]), again["lines"]
    assert not any("participant 1/" in line for line in again["lines"])  # no graph was run
