"""The audit level on what the participant level made: its release copy passes, a cruder deface fails.

Shares the participant run and its release copy with tests/test_heads.py (same xdist group).
"""

from __future__ import annotations

import hashlib
import os
import shutil

import nibabel as nib
import pytest
from cli_run import audited_images, run_audit
from odd_heads import lower_face_removed

pytestmark = [pytest.mark.heads, pytest.mark.slow, pytest.mark.xdist_group("heads")]


def test_the_release_copy_of_the_participant_level_passes(heads_release, tmp_path):
    result = run_audit(heads_release["release"], tmp_path / "out", tmp_path / "work")
    flagged = {s: i["reason"] or i["review_reason"] for s, i in audited_images(result).items() if i["status"] != "pass"}
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
    first = run_audit(bids, tmp_path / "out", tmp_path / "work", "--skip-bids-validation")
    pet = audited_images(first)["sub-pet/anat/sub-pet_T1w.nii.gz"]
    assert first["code"] == 1 and pet["status"] == "fail"
    assert "eyes present" in pet["face_check_summary"], pet
    add("sub-colin/anat/sub-colin_T1w.nii.gz", annexed=True)
    second = run_audit(bids, tmp_path / "out", tmp_path / "work", "--skip-bids-validation")
    assert any("sub-pet: 0 image(s) to check, 1 unchanged" in line for line in second["lines"]), second["lines"]
    assert any("sub-colin: 1 image(s) to check" == line.split(" (")[0] for line in second["lines"])
    assert audited_images(second)["sub-pet/anat/sub-pet_T1w.nii.gz"] == pet
    assert audited_images(second)["sub-colin/anat/sub-colin_T1w.nii.gz"]["status"] == "fail"
