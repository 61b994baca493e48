"""The group level: TSV, summary JSON, group.html with figures, and the exit code (the CI gate)."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
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
    (tmp_path / "bids" / "dataset_description.json").write_text('{"Name": "g", "BIDSVersion": "1.10.0"}')
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
    (tmp_path / "bids" / "dataset_description.json").write_text('{"Name": "g", "BIDSVersion": "1.10.0"}')
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
    records = [
        make_record(*IMAGES[0], check_face=False, check_face_reason=XSS),
        make_record(*IMAGES[2], source_file=f"sub-02/anat/sub-02_acq-{XSS}_T1w.nii.gz"),
    ]
    _, out = _run_group(tmp_path, records)
    html = (out / "group.html").read_text()
    assert XSS not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2
    assert not re.search(r"<script", html, re.IGNORECASE)  # the group page needs no script at all


def test_reid_audit_on_five_participants_reports_chance(tmp_path):
    """Descriptors of 5 participants: 2 defaced renders still look like their owner."""
    rng = np.random.default_rng(0)
    faces = {f"{i:02d}": rng.normal(size=128) for i in range(1, 6)}
    images = [(s, "", "T1w") for s in faces]
    out = tmp_path / "out"
    for subject, face in faces.items():
        figures = out / f"sub-{subject}" / "figures"
        figures.mkdir(parents=True)
        leaked = subject in ("01", "02")  # their defaced front view still matches
        data = {
            "original": {"front": (face + rng.normal(scale=0.05, size=128)).tolist()},
            "defaced": {"front": (face + rng.normal(scale=0.05, size=128)).tolist()} if leaked else {},
        }
        (figures / f"sub-{subject}_mod-T1w_desc-facedescriptors_T1w.json").write_text(json.dumps(data))
    code, out = _run_group(tmp_path, [make_record(*image) for image in images])
    summary = json.loads((out / "group_summary.json").read_text())
    reid = summary["reid"]
    assert reid["n_participants"] == 5 and reid["chance_top1"] == pytest.approx(0.2)
    assert reid["n_queries"] == 5 * 3  # front, left30, right30 per image
    assert reid["top1"] == pytest.approx(2 / 15)
    assert 'id="reid"' in (out / "group.html").read_text()
    assert code == 0


@pytest.mark.heads
@pytest.mark.xdist_group("heads")
def test_group_on_real_heads_returns_0_when_all_pass(heads_run):
    """The participant then the group level on ../shared/data/heads: TSV, JSON and HTML; 0 when all pass."""
    out = heads_run["out"]
    assert heads_run["code"] == 0, "an image of ../shared/data/heads failed"
    group_code = main([str(heads_run["bids"]), str(out), "group"])
    summary = json.loads((out / "group_summary.json").read_text())
    assert (out / "group_deface.tsv").is_file() and (out / "group.html").is_file()
    assert len(_tsv(out)) == summary["n_images"] == 5
    assert group_code == 0
