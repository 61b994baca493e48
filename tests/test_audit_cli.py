"""The audit level from the command line, on datasets that need no registration."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from cli_run import run_logged, usage_error

from bids_deface.cli import EXIT_UNCHECKED, EXIT_USAGE


def test_the_audit_writes_no_release(tiny_bids, tmp_path, capsys):
    code, err = usage_error(
        [str(tiny_bids), str(tmp_path / "out"), "audit", "--release-dir", str(tmp_path / "r")], capsys
    )
    assert code == EXIT_USAGE and "writes no release" in err


def test_annexed_content_not_present_is_reported_not_crashed_on(tiny_bids, tmp_path, hash_tree):
    """A DataLad dataset whose image content was never fetched: exit 5, the file and the reason named."""
    anat = tiny_bids / "sub-01" / "anat"
    key = "SHA256E-s1234--" + "c" * 64 + ".nii.gz"
    os.symlink(f"../../.git/annex/objects/Ab/Cd/{key}/{key}", anat / "sub-01_T1w.nii.gz")
    (anat / "sub-01_T1w.json").write_text(json.dumps({"RepetitionTime": 2.3}))
    before = hash_tree(tiny_bids)
    out = tmp_path / "out"
    code, lines = run_logged(
        [str(tiny_bids), str(out), "audit", "-w", str(tmp_path / "work"), "--skip-bids-validation"]
    )
    assert code == EXIT_UNCHECKED
    summary = json.loads((out / "audit_summary.json").read_text())
    (image,) = summary["images_checked"]
    assert image["status"] == "error" and "content not present" in image["reason"]
    suites = ET.parse(out / "audit_junit.xml").getroot().findall("testsuite")
    assert suites[0].find("testcase").find("error") is not None
    assert any("sub-01_T1w.nii.gz" in text and "content not present" in text for _, text in lines)
    assert hash_tree(tiny_bids) == before


def test_with_participant_labels_only_their_files_and_the_top_level_are_scanned(tiny_bids, tmp_path):
    from types import SimpleNamespace

    from bids_deface.cli.audit import _scanned

    for label in ("01", "02"):
        anat = tiny_bids / f"sub-{label}" / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        (anat / f"sub-{label}_T1w.json").write_text("{}")
    chosen = _scanned(SimpleNamespace(participant_label=["02"], bids_dir=tiny_bids))
    assert chosen == ["dataset_description.json", "sub-02/anat/sub-02_T1w.json"]
    assert _scanned(SimpleNamespace(participant_label=[], bids_dir=tiny_bids)) is None
