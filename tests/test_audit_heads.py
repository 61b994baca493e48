"""The audit level on real heads: originals fail, the app's release copy passes, a cruder deface fails.

Shares the participant run and its release copy with tests/test_heads.py (same xdist group).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import xml.etree.ElementTree as ET

import nibabel as nib
import pytest
from cli_run import run_logged
from odd_heads import lower_face_removed

pytestmark = [pytest.mark.heads, pytest.mark.slow, pytest.mark.xdist_group("heads")]

IMAGES = (
    "sub-chris/ses-01/anat/sub-chris_ses-01_PDw.nii.gz",
    "sub-chris/ses-01/anat/sub-chris_ses-01_T1w.nii.gz",
    "sub-colin/anat/sub-colin_T1w.nii.gz",
    "sub-pet/anat/sub-pet_T1w.nii.gz",
    "sub-reg/anat/sub-reg_T2w.nii.gz",
)
#: The synthetic identifying sidecar values of ../shared/data/heads (its README).
IDENTIFYING = ("InstitutionName", "InstitutionAddress", "AcquisitionDateTime", "DeviceSerialNumber", "StationName")


def _audit(bids, out, work, *extra):
    code, lines = run_logged([str(bids), str(out), "audit", "-w", str(work), "--nprocs", "2", *extra])
    summary = json.loads((out / "audit_summary.json").read_text())
    return {"code": code, "lines": [text for _, text in lines], "summary": summary, "out": out}


def _images(result) -> dict[str, dict]:
    return {i["source_file"]: i for i in result["summary"]["images_checked"]}


@pytest.fixture(scope="session")
def audit_originals(shared_data, tmp_path_factory, hash_tree):
    root = tmp_path_factory.mktemp("audit_originals")
    bids = shared_data / "heads"
    before = hash_tree(bids)
    first = _audit(bids, root / "out", root / "work")
    again = _audit(bids, root / "out", root / "work")  # nothing changed: every image from the cache
    return {"first": first, "again": again, "untouched": before == hash_tree(bids)}


def test_the_originals_fail_on_every_face_and_identifying_value(audit_originals):
    result = audit_originals["first"]
    assert result["code"] == 1 and result["summary"]["verdict"] == "fail"
    images = _images(result)
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
    assert _images(again) == _images(audit_originals["first"])
    assert any("sub-pet: 0 image(s) to check, 1 unchanged" in line for line in again["lines"]), again["lines"]
    assert not any("participant 1/" in line for line in again["lines"])  # no graph was run


def test_the_release_copy_of_the_participant_level_passes(heads_release, tmp_path):
    result = _audit(heads_release["release"], tmp_path / "out", tmp_path / "work")
    flagged = {s: i["reason"] or i["review_reason"] for s, i in _images(result).items() if i["status"] != "pass"}
    assert flagged == {}
    assert [m["path"] for m in result["summary"]["metadata"] if m["status"] != "pass"] == []
    assert result["code"] == 0


def test_a_cruder_deface_fails_on_the_face_and_only_a_new_participant_is_checked_again(heads_run, tmp_path):
    """The lower half of the face zeroed (eyes left); then a second participant is added, stored as git-annex does."""
    bids = tmp_path / "crude"
    bids.mkdir()
    shutil.copy(heads_run["bids"] / "dataset_description.json", bids)

    def add(source, annexed=False):
        target = bids / source
        target.parent.mkdir(parents=True)
        mask = heads_run["out"] / source.replace("_T1w.nii.gz", "_mod-T1w_desc-deface_mask.nii.gz")
        crude = lower_face_removed(nib.load(heads_run["bids"] / source), nib.load(mask))
        if not annexed:
            nib.save(crude, target)
            return
        # as git-annex stores it: the content read-only under .git/annex/objects, a symlink in its place
        staged = tmp_path / "staged.nii.gz"
        nib.save(crude, staged)
        digest = hashlib.sha256(staged.read_bytes()).hexdigest()
        key = f"SHA256E-s{staged.stat().st_size}--{digest}.nii.gz"
        content = bids / ".git" / "annex" / "objects" / "Xx" / "Yy" / key / key
        content.parent.mkdir(parents=True)
        shutil.move(staged, content)
        content.chmod(0o444)
        target.symlink_to(os.path.relpath(content, target.parent))

    add("sub-pet/anat/sub-pet_T1w.nii.gz")
    first = _audit(bids, tmp_path / "out", tmp_path / "work", "--skip-bids-validation")
    pet = _images(first)["sub-pet/anat/sub-pet_T1w.nii.gz"]
    assert first["code"] == 1 and pet["status"] == "fail"
    assert "eyes present" in pet["face_check_summary"], pet
    add("sub-colin/anat/sub-colin_T1w.nii.gz", annexed=True)
    second = _audit(bids, tmp_path / "out", tmp_path / "work", "--skip-bids-validation")
    assert any("sub-pet: 0 image(s) to check, 1 unchanged" in line for line in second["lines"]), second["lines"]
    assert any("sub-colin: 1 image(s) to check" == line.split(" (")[0] for line in second["lines"])
    assert _images(second)["sub-pet/anat/sub-pet_T1w.nii.gz"] == pet
    assert _images(second)["sub-colin/anat/sub-colin_T1w.nii.gz"]["status"] == "fail"
