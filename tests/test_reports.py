"""Reportlets, the per-image report workflow, the participant report and the boilerplate."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import matplotlib.pyplot as plt
import pytest

from bids_deface.reports.boilerplate import methods_markdown, write_citation
from bids_deface.reports.fragments import errors_fragment, metrics_fragment, summary_fragment
from bids_deface.reports.participant import external_resources, generate_participant_report
from bids_deface.reports.reportlets import plot_removal_mosaic, plot_render_gallery, split_renders

try:
    from .reports_fixtures import XSS, make_head, make_outputs, make_record, make_renders
except ImportError:  # tests/ is not a package
    from reports_fixtures import XSS, make_head, make_outputs, make_record, make_renders


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    return make_head(tmp_path_factory.mktemp("head"))


@pytest.fixture(scope="module")
def figures(head, tmp_path_factory):
    """The reportlets of one image, made by init_image_reports_wf (the workflow the pipeline runs)."""
    from bids_deface.workflows.reports import init_image_reports_wf

    root = tmp_path_factory.mktemp("image_reports")
    source = root / "bids" / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_acq-fast_T1w.nii.gz"
    source.parent.mkdir(parents=True)
    source.write_bytes(head["original"].read_bytes())
    metrics = root / "metrics.json"
    metrics.write_text(json.dumps(make_record("01", "01", "T1w")))
    wf = init_image_reports_wf(source_file=str(source), suffix="T1w", output_dir=str(root / "out"))
    wf.base_dir = str(root / "work")
    wf.inputs.inputnode.defaced = str(head["defaced"])
    wf.inputs.inputnode.mask = str(head["mask"])
    wf.inputs.inputnode.metrics = str(metrics)
    wf.inputs.inputnode.renders = [str(p) for p in make_renders(head, root / "renders")]
    wf.run(plugin="Linear")
    fig_dir = root / "out" / "sub-01" / "figures"
    return {
        desc: fig_dir / f"sub-01_ses-01_acq-fast_mod-T1w_desc-{desc}_T1w{ext}"
        for desc, ext in (("flicker", ".svg"), ("removal", ".svg"), ("renders", ".png"), ("metrics", ".html"))
    }


def test_workflow_writes_every_reportlet_with_bids_names(figures):
    for path in figures.values():
        assert path.is_file(), path
        assert path.stat().st_size > 500, path
    assert sorted(p.name for p in figures["flicker"].parent.iterdir()) == sorted(p.name for p in figures.values())


def test_flicker_svg_has_before_and_after_layers(figures):
    svg = figures["flicker"].read_text()
    root = ET.fromstring(svg)  # well-formed
    assert root.tag.endswith("svg")
    assert 'class="background-svg"' in svg and 'class="foreground-svg"' in svg
    assert "flickerAnimation" in svg
    assert svg.count("<image") >= 6  # 3 axes x (before + after), at least one raster each


def test_removal_mosaic_is_valid_svg(figures):
    svg = figures["removal"].read_text()
    ET.fromstring(svg)
    assert svg.count("<image") >= 3  # one row per axis


def test_removal_mosaic_refuses_a_mask_on_another_grid(head, tmp_path):
    import nibabel as nib
    import numpy as np

    other = tmp_path / "other_mask.nii.gz"
    nib.Nifti1Image(np.ones((5, 6, 7), "uint8"), np.eye(4)).to_filename(other)
    with pytest.raises(ValueError, match="other_mask"):
        plot_removal_mosaic(head["original"], other, tmp_path / "x.svg")


def test_render_gallery_pairs_views_by_name(head, tmp_path):
    renders = make_renders(head, tmp_path / "renders")
    original, defaced = split_renders(renders)
    assert sorted(original) == sorted(defaced) == ["yaw-000", "yaw-030", "yaw-m30"]
    out = plot_render_gallery(renders, tmp_path / "gallery.png")
    height, width = plt.imread(out).shape[:2]
    assert width > 1.2 * height  # three columns, two rows


def test_render_gallery_without_renders_says_so(tmp_path):
    out = plot_render_gallery([], tmp_path / "gallery.png")
    assert out.is_file() and plt.imread(out).size > 0


@pytest.mark.parametrize("status", ["pass", "fail", "error"])
def test_metrics_fragment_banner_matches_status(status):
    overrides = {
        "pass": {},
        "fail": {"check_face": False, "check_face_reason": "face found on yaw-000"},
        "error": {"check_error": False, "check_error_reason": "deface: boom"},
    }[status]
    record = make_record("01", "01", "T1w", **overrides)
    html = metrics_fragment(record)
    assert f'class="verdict verdict-{status}"' in html
    assert html.count('<tr class="check-fail">') == (0 if status == "pass" else 1)
    assert "yaw-030" in html  # the face confidence table


def test_face_table_shows_what_decides_beside_what_the_detectors_saw():
    """A detection on the cut surface (0.95 on the defaced render, none on untouched skin) is
    shown as such: the decisive column, not the raw confidence, carries the check's verdict."""
    record = make_record(
        "01", "01", "T1w", **{"face_confidence_defaced_yaw-000": 0.95, "face_on_skin_defaced_yaw-000": 0.0}
    )
    html = metrics_fragment(record)
    row = re.search(r'<tr><td class="mono">yaw-000</td>(.*?)</tr>', html).group(1)
    assert re.findall(r"<td class=\"num\">([^<]*)</td>", row)[1:] == ["0.95", "0.0"]
    assert "Defaced, on untouched skin (decides)" in html
    assert 'class="verdict verdict-pass"' in html


def test_fragments_escape_user_text():
    record = make_record(
        "01",
        "01",
        "T1w",
        source_file=f"sub-01/anat/sub-01_acq-{XSS}_T1w.nii.gz",
        check_face=False,
        check_face_reason=XSS,
        SeriesDescription=XSS,
    )
    for html in (
        metrics_fragment(record),
        summary_fragment([record], {"Template": XSS}),
        errors_fragment([{**record, "status": "error"}]),
    ):
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_errors_fragment_lists_only_errors():
    records = [
        make_record("01", "01", "T1w"),
        make_record("01", "01", "T2w", check_error=False, check_error_reason="coregister: diverged"),
    ]
    html = errors_fragment(records)
    assert "coregister: diverged" in html and "sub-01_ses-01_T2w" in html and "sub-01_ses-01_T1w" not in html
    assert "No errors" in errors_fragment(records[:1])


def test_methods_text_follows_the_options(tmp_path):
    text = methods_markdown(
        {
            "method": "deface",
            "template": "pydeface",
            "deear": False,
            "brain_margin_mm": 8.0,
            "impact": "none",
            "scrub": "strict",
        }
    )
    assert "8.0 mm" in text and "*pydeface*" in text and "ears" not in text.split("###")[0]
    assert "impact of defacing" not in text and "*strict* policy" in text
    cited = set(re.findall(r"@(\w+)", text))
    references = text.split("### References")[1]
    assert all(f"[{key}]" in references for key in cited)

    root = write_citation(tmp_path, {"template": XSS})
    assert root == tmp_path / "CITATION.md" and "Methods boilerplate" in root.read_text()
    html = (tmp_path / "logs" / "CITATION.html").read_text()
    assert XSS not in html and "&lt;script&gt;" in html
    assert not (tmp_path / "logs" / "CITATION.md").exists()  # nireports would inline it unescaped


def test_external_resources_finds_cdn_references():
    assert external_resources('<script src="https://cdn.x/j.js"></script>') == ['<script src="https://cdn.x/j.js']
    assert external_resources('<link href="//cdn.x/b.css" rel="stylesheet">')
    assert external_resources("<style>@import url(https://fonts.x/css);</style>")
    assert not external_resources('<a href="https://doi.org/10.1038/sdata.2016.44">doi</a><img src="./a.svg">')


@pytest.fixture(scope="module")
def outputs(figures, tmp_path_factory):
    records = [
        make_record("01", "01", "T1w", SeriesDescription=XSS),
        make_record("01", "01", "T2w", check_face=False, check_face_reason=f"face found {XSS}"),
        make_record("01", "02", "T1w", check_error=False, check_error_reason="register_template: diverged"),
        make_record("02", "", "T1w"),
    ]
    out = make_outputs(
        tmp_path_factory.mktemp("outputs") / "out", {k: v for k, v in figures.items() if k != "metrics"}, records
    )
    report = generate_participant_report(out, "sub-01", run_uuid="test-run", options={"template": "pydeface"})
    return {"out": out, "report": report, "html": report.read_text()}


def test_participant_report_has_every_section(outputs):
    html = outputs["html"]
    assert outputs["report"] == outputs["out"] / "sub-01.html"
    for section in ('id="summary"', 'id="images"', 'id="errors"', 'id="methods"'):
        assert section in html
    assert html.count('class="verdict verdict-') == 2  # one banner per processed image of sub-01
    assert "register_template: diverged" in html  # the errors section
    assert "sub-02" not in html.split('id="summary"')[1].split('id="methods"')[0]


def test_participant_report_figures_resolve(outputs):
    html, out = outputs["html"], outputs["out"]
    refs = re.findall(r'(?:src|data)="\./([^"]+)"', html)
    assert {r.rsplit("_desc-", 1)[1].split("_")[0] for r in refs} == {"flicker", "removal", "renders"}
    assert len(refs) == 6  # three figures for each of the two processed images
    assert all((out / ref).is_file() for ref in refs)


def test_participant_report_is_offline_and_escaped(outputs):
    html = outputs["html"]
    assert external_resources(html) == []
    assert "<style>" in html and "<script>" in html  # inlined
    assert XSS not in html
    assert "face found &lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_participant_report_boilerplate_and_citation(outputs):
    assert (outputs["out"] / "CITATION.md").is_file()
    assert "Failed to generate the boilerplate" not in outputs["html"]
    assert "ANTs" in outputs["html"]


def test_report_of_a_participant_whose_images_all_errored(tmp_path):
    records = [make_record("03", "", "T1w", check_error=False, check_error_reason="load: truncated file")]
    out = make_outputs(tmp_path / "out", {}, records)
    (out / "dataset_description.json").unlink()  # nireports indexes the folder without it too
    html = generate_participant_report(out, "03").read_text()
    assert 'id="errors"' in html and "load: truncated file" in html
    assert 'id="images"' not in html  # nothing to show per image
    assert external_resources(html) == []


@pytest.mark.parametrize(
    ("top1", "words"),
    [(0.2222, "no better than chance (p = 0.98)"), (0.6, "better than chance (p < 0.001)")],
)
def test_the_reidentification_audit_is_said_in_words(top1, words):
    from bids_deface.reports.group import reid_sentence

    n_participants = 2 if top1 < 0.5 else 10
    queries = 9 if top1 < 0.5 else 20
    text = reid_sentence(
        {
            "measured": True,
            "n_queries": queries,
            "top1": top1,
            "chance_top1": 1 / n_participants,
            "n_participants": n_participants,
        }
    )
    assert words in text
    assert "matched first to their own participant, where guessing would match" in text
    assert reid_sentence({"measured": False, "not_measured_reason": "no faces"}) == ""
