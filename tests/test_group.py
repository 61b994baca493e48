"""The group level: TSV, summary JSON, group.html with figures, and the exit code (the CI gate)."""

from __future__ import annotations

import csv
import json
import re
import sys
import types

import pytest

from bids_deface.cli.run import main
from bids_deface.reports.participant import external_resources

try:
    from .reports_fixtures import IMAGES, XSS, make_outputs, make_record
except ImportError:  # tests/ is not a package
    from reports_fixtures import IMAGES, XSS, make_outputs, make_record


def _run_group(tmp_path, records, *args):
    out = make_outputs(tmp_path / "out", {}, records)
    (tmp_path / "bids").mkdir(exist_ok=True)
    code = main([str(tmp_path / "bids"), str(out), "group", "-w", str(tmp_path / "work"), *args])
    return code, out


def _tsv(out):
    with open(out / "group_deface.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_all_pass_exits_0_and_writes_everything(tmp_path):
    code, out = _run_group(tmp_path, [make_record(*image) for image in IMAGES])
    assert code == 0
    rows = _tsv(out)
    assert [r["source_file"] for r in rows] == sorted(make_record(*i)["source_file"] for i in IMAGES)
    assert {"impact_brain_dice", "face_confidence_defaced_yaw-000", "voxels_removed_pct"} <= set(rows[0])
    summary = json.loads((out / "group_summary.json").read_text())
    assert summary["n_images"] == 3 and summary["n_participants"] == 2 and summary["pass_rate"] == 1.0
    assert summary["failed_images"] == []
    assert "reid" not in summary  # no re-identification audit available
    html = (out / "group.html").read_text()
    for name in ("status", "confidence", "impact"):
        assert (out / "figures" / f"group_desc-{name}.svg").is_file()
        assert f'src="figures/group_desc-{name}.svg"' in html
    assert 'class="verdict verdict-pass"' in html
    assert external_resources(html) == []


def test_one_injected_failure_exits_1_and_names_the_image(tmp_path, capsys):
    records = [make_record(*image) for image in IMAGES]
    records[1] = make_record(*IMAGES[1], check_face=False, check_face_reason="face detected on yaw-000 (0.93)")
    bad = records[1]["source_file"]
    code, out = _run_group(tmp_path, records)
    assert code == 1
    assert bad in capsys.readouterr().err
    summary = json.loads((out / "group_summary.json").read_text())
    assert summary["failed_images"] == [{"source_file": bad, "reason": "face detected on yaw-000 (0.93)"}]
    assert summary["n_failed"] == 1 and summary["pass_rate"] == pytest.approx(2 / 3, abs=1e-4)
    html = (out / "group.html").read_text()
    failed_section = html.split('id="failed"')[1].split("</section>")[0]
    assert bad in failed_section and "face detected on yaw-000" in failed_section
    assert 'class="verdict verdict-fail"' in html


def test_fail_on_chooses_which_checks_fail_the_run(tmp_path):
    records = [make_record(*IMAGES[0], check_face=False, check_face_reason="face"), make_record(*IMAGES[2])]
    code, _ = _run_group(tmp_path, records, "--fail-on", "brain", "error")
    assert code == 0
    code, _ = _run_group(tmp_path, records, "--fail-on", "face")
    assert code == 1


def test_group_without_records_is_a_usage_error(tmp_path):
    (tmp_path / "bids").mkdir()
    (tmp_path / "out").mkdir()
    assert main([str(tmp_path / "bids"), str(tmp_path / "out"), "group", "-w", str(tmp_path / "work")]) == 2


def test_figures_only_for_metrics_present(tmp_path):
    records = []
    for image in IMAGES:
        record = make_record(*image)
        records.append({k: v for k, v in record.items() if not k.startswith(("impact_", "face_confidence_"))})
    code, out = _run_group(tmp_path, records)
    assert code == 0
    assert (out / "figures" / "group_desc-status.svg").is_file()
    assert not (out / "figures" / "group_desc-confidence.svg").exists()
    assert not (out / "figures" / "group_desc-impact.svg").exists()
    assert "group_desc-impact" not in (out / "group.html").read_text()


def test_group_report_escapes_user_text(tmp_path):
    records = [make_record(*IMAGES[0], check_face=False, check_face_reason=XSS),
               make_record(*IMAGES[2], source_file=f"sub-02/anat/sub-02_acq-{XSS}_T1w.nii.gz")]
    _, out = _run_group(tmp_path, records)
    html = (out / "group.html").read_text()
    assert XSS not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2
    assert not re.search(r"<script", html, re.IGNORECASE)  # the group page needs no script at all


def test_reid_rates_are_added_when_the_audit_exists(tmp_path, monkeypatch):
    calls = []

    def reid_rates(output_dir, records):
        calls.append((output_dir, len(records)))
        return {"reid_rate_top1": 0.0, "n_compared": len(records)}

    module = types.ModuleType("bids_deface.methods.reid")
    module.reid_rates = reid_rates
    monkeypatch.setitem(sys.modules, "bids_deface.methods.reid", module)
    code, out = _run_group(tmp_path, [make_record(*image) for image in IMAGES])
    assert code == 0 and calls and calls[0][1] == 3
    summary = json.loads((out / "group_summary.json").read_text())
    assert summary["reid"] == {"reid_rate_top1": 0.0, "n_compared": 3}
    assert 'id="reid"' in (out / "group.html").read_text()


@pytest.mark.heads
def test_group_on_real_heads_returns_0_when_all_pass(heads_run):
    """The participant then the group level on ../shared/data/heads: TSV, JSON and HTML; 0 when all pass."""
    out = heads_run["out"]
    assert heads_run["code"] == 0, "an image of ../shared/data/heads failed"
    group_code = main([str(heads_run["bids"]), str(out), "group"])
    summary = json.loads((out / "group_summary.json").read_text())
    assert (out / "group_deface.tsv").is_file() and (out / "group.html").is_file()
    assert len(_tsv(out)) == summary["n_images"] == 5
    assert group_code == 0
