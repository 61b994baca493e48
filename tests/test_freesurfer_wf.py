"""The FreeSurfer impact interfaces and their wiring, with a stub recon-all (no FreeSurfer here).

The stub parses ``-subjid NAME -sd DIR`` from the command line nipype's ``ReconAll``
builds (``recon-all -all -i IMAGE [-openmp N] -subjid NAME -sd DIR``), copies the FS7
stats files of ``tests/data/freesurfer/sub-01`` (``*_orig``) or ``sub-01_defaced``
(``*_defaced``) into ``DIR/NAME/stats`` and writes ``DIR/NAME/scripts/recon-all.done``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nipype.interfaces.base import isdefined

from bids_deface.config import WorkflowConfig
from bids_deface.interfaces.freesurfer import FreeSurferImpact, ReconAllImage
from bids_deface.interfaces.metrics import WriteMetrics
from bids_deface.layout import AnatImage
from bids_deface.methods.impact import freesurfer as fs
from bids_deface.methods.record import fails_run, finalise_record
from bids_deface.workflows.deface import _part as _record_slot
from bids_deface.workflows.deface import init_deface_image_wf

DATA = Path(__file__).parent / "data" / "freesurfer"
ORIG, DEFACED = DATA / "sub-01", DATA / "sub-01_defaced"

STUB = """#!/bin/bash
args="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    -subjid) subj="$2"; shift ;;
    -sd) sd="$2"; shift ;;
  esac
  shift
done
case "$subj" in
  *_orig) src="{orig}" ;;
  *_defaced) src="{defaced}" ;;
  *) echo "stub recon-all: unexpected subject '$subj'" >&2; exit 2 ;;
esac
mkdir -p "$sd/$subj/stats" "$sd/$subj/scripts"
cp "$src"/stats/*.stats "$sd/$subj/stats/"
echo "$args" > "$sd/$subj/scripts/cmdline.txt"
echo "${{FS_LICENSE:-}}" > "$sd/$subj/scripts/fs_license.txt"
echo "stub recon-all finished" > "$sd/$subj/scripts/recon-all.log"
touch "$sd/$subj/scripts/recon-all.done"
"""

FAILING_STUB = """#!/bin/bash
echo "ERROR: stub recon-all exited with errors" >&2
exit 1
"""


def _install(tmp_path: Path, monkeypatch, text: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / "recon-all"
    script.write_text(text)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '')}")
    return script


@pytest.fixture
def stub_recon_all(tmp_path, monkeypatch):
    return _install(tmp_path, monkeypatch, STUB.format(orig=ORIG, defaced=DEFACED))


@pytest.fixture
def images(tmp_path):
    """Two tiny NIfTI files standing in for the original and the defaced T1w."""
    paths = []
    for name in ("sub-01_T1w.nii.gz", "sub-01_desc-defaced_T1w.nii.gz"):
        path = tmp_path / name
        nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)).to_filename(path)
        paths.append(path)
    return paths


# ----------------------------------------------------------------- the check


def test_evaluate_freesurfer_thresholds():
    metrics = fs.compare_freesurfer(ORIG, DEFACED)
    # the test data: mean |aseg change| 2.0006 % / 8 structures = 0.25 %, lh thickness -1 %, rh 0 %
    assert metrics["fs_aseg_volume_change_abs_mean_pct"] == pytest.approx(0.2501, abs=1e-3)
    assert metrics["fs_lh_mean_thickness_change_pct"] == pytest.approx(-1.0, abs=1e-3)
    assert fs.evaluate_freesurfer(metrics) == (True, [])

    big = dict(metrics, fs_aseg_volume_change_abs_mean_pct=10.0)
    passed, reasons = fs.evaluate_freesurfer(big)
    assert passed is False
    assert len(reasons) == 1 and "fs_aseg_volume_change_abs_mean_pct" in reasons[0] and "10" in reasons[0]
    assert fs.evaluate_freesurfer(big, max_volume_change_pct=20.0) == (True, [])

    thin = dict(metrics, fs_rh_mean_thickness_change_pct=-6.0)
    passed, reasons = fs.evaluate_freesurfer(thin)
    assert not passed and "fs_rh_mean_thickness_change_pct" in reasons[0]
    assert fs.evaluate_freesurfer(thin, max_thickness_change_pct=0.5)[1][0].startswith("|fs_lh")

    partial = {k: v for k, v in metrics.items() if not k.startswith("fs_rh_")}
    passed, reasons = fs.evaluate_freesurfer(partial)
    assert not passed and "missing" in reasons[0]
    assert not fs.evaluate_freesurfer(dict(metrics, fs_aseg_volume_change_abs_mean_pct=float("nan")))[0]


# ----------------------------------------------------------------- the interfaces


def _recon_all(image, subject_id, workdir: Path, **inputs):
    """Run ReconAllImage in ``workdir`` (as a node would, in its own working directory)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        return ReconAllImage(in_file=str(image), subject_id=subject_id, **inputs).run().outputs
    finally:
        os.chdir(cwd)


def _compare(orig_out, defaced_out):
    return (
        FreeSurferImpact(
            orig_subject_dir=orig_out.subject_dir,
            defaced_subject_dir=defaced_out.subject_dir,
            orig_elapsed_s=orig_out.elapsed_s,
            defaced_elapsed_s=defaced_out.elapsed_s,
        )
        .run()
        .outputs.metrics
    )


def test_interfaces_run_recon_all_twice_and_compare(stub_recon_all, images, tmp_path, monkeypatch):
    orig, defaced = images
    licence = tmp_path / "license.txt"
    licence.write_text("someone@example.org\n")
    monkeypatch.delenv("FS_LICENSE", raising=False)

    runs = {
        kind: _recon_all(image, f"sub_01_T1w_{kind}", tmp_path / kind, fs_license_file=str(licence), openmp=2)
        for kind, image in (("orig", orig), ("defaced", defaced))
    }
    record = _compare(runs["orig"], runs["defaced"])

    expected = fs.compare_freesurfer(ORIG, DEFACED)
    assert {k: v for k, v in record.items() if k.startswith("fs_")} == expected
    assert record["check_freesurfer"] is True
    assert "check_freesurfer_reason" not in record
    # the two recon-all times plus the comparison's
    assert record["time_impact_freesurfer_s"] >= round(runs["orig"].elapsed_s + runs["defaced"].elapsed_s, 2) - 0.01
    assert set(record) == set(expected) | {"check_freesurfer", "time_impact_freesurfer_s"}

    for kind, image in (("orig", orig), ("defaced", defaced)):
        subject = f"sub_01_T1w_{kind}"
        # default subjects directory: inside the working directory, one per run
        assert runs[kind].subject_dir == str(tmp_path / kind / "freesurfer" / subject)
        scripts = Path(runs[kind].subject_dir) / "scripts"
        assert (scripts / "recon-all.done").is_file()
        cmdline = (scripts / "cmdline.txt").read_text()
        assert cmdline.startswith("-all ")
        assert f"-i {image}" in cmdline and "-openmp 2" in cmdline
        assert (scripts / "fs_license.txt").read_text().strip() == str(licence)


def test_interface_subjects_dir_and_failed_check(tmp_path, images, monkeypatch):
    # a "defaced" run whose volumes grew by 10 %: the check fails with a reason
    defaced_data = tmp_path / "grown"
    (defaced_data / "stats").mkdir(parents=True)
    for path in (DEFACED / "stats").iterdir():
        (defaced_data / "stats" / path.name).write_text(path.read_text())
    aseg = defaced_data / "stats" / "aseg.stats"
    lines = []
    for line in aseg.read_text().splitlines():
        fields = line.split()
        if not line.startswith("#") and len(fields) >= 5:
            fields[3] = f"{float(fields[3]) * 1.1:.1f}"
            line = " ".join(fields)
        lines.append(line)
    aseg.write_text("\n".join(lines) + "\n")
    _install(tmp_path, monkeypatch, STUB.format(orig=ORIG, defaced=defaced_data))
    monkeypatch.chdir(tmp_path)
    sd = tmp_path / "subjects"
    sd.mkdir()

    orig, defaced = images
    runs = [
        ReconAllImage(in_file=str(image), subject_id=f"s_{kind}", subjects_dir=str(sd)).run().outputs
        for kind, image in (("orig", orig), ("defaced", defaced))
    ]
    record = _compare(*runs)
    assert (sd / "s_orig" / "stats" / "aseg.stats").is_file()
    assert (sd / "s_defaced" / "scripts" / "recon-all.done").is_file()
    assert "-openmp" not in (sd / "s_orig" / "scripts" / "cmdline.txt").read_text()
    assert record["check_freesurfer"] is False
    assert record["check_freesurfer_reason"].startswith("freesurfer: |fs_aseg_volume_change_abs_mean_pct|")

    # merged into the image's record, the failed check asks for a review and gates under --fail-on impact
    final = finalise_record({"check_brain": True, "check_impact": True, "time_deface_s": 1.0, **record})
    assert final["status"] == "review"
    assert final["failed_checks"] == ["freesurfer"]
    assert final["review_reason"] == record["check_freesurfer_reason"]
    assert final["time_total_s"] == pytest.approx(1.0 + record["time_impact_freesurfer_s"], abs=0.011)
    assert fails_run(final, ["impact"]) is True
    assert fails_run(final, ["brain", "face", "registration", "error"]) is False


def test_failing_recon_all_names_the_input_and_the_log(tmp_path, images, monkeypatch):
    _install(tmp_path, monkeypatch, FAILING_STUB)
    workdir = tmp_path / "node"
    orig, defaced = images
    with pytest.raises(RuntimeError) as info:
        _recon_all(orig, "sub_01_T1w_orig", workdir)
    message = str(info.value)
    assert f"recon-all failed on {orig}" in message
    assert str(workdir / "freesurfer" / "sub_01_T1w_orig" / "scripts" / "recon-all.log") in message
    assert "exit code 1" in message and "stub recon-all exited with errors" in message
    assert str(defaced) not in message  # the error is the original's run only


def test_write_metrics_merges_the_freesurfer_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs_record = {
        "fs_eTIV_change_pct": 0.0,
        "check_freesurfer": False,
        "check_freesurfer_reason": "freesurfer: too much",
        "time_impact_freesurfer_s": 2.0,
    }
    out = (
        WriteMetrics(
            source_file="x.nii.gz",
            source_relpath="sub-01/anat/x.nii.gz",
            records=[{"time_deface_s": 1.0}, {}, fs_record],
        )
        .run()
        .outputs.metrics
    )
    assert out["fs_eTIV_change_pct"] == 0.0 and out["check_freesurfer"] is False
    assert out["failed_checks"] == ["freesurfer"] and out["review_reason"] == "freesurfer: too much"
    assert out["time_total_s"] == 3.0


# ----------------------------------------------------------------- the wiring


def _image_wf(tmp_path, suffix, *, impact="freesurfer", licence=None):
    path = tmp_path / f"sub-01_{suffix}.nii.gz"
    nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)).to_filename(path)
    image = AnatImage(path=path, relpath=f"sub-01/anat/{path.name}", subject="01", session=None, suffix=suffix)
    options = WorkflowConfig(impact=impact, fs_license_file=licence)
    return init_deface_image_wf(
        image=image,
        reference=image,
        output_dir=str(tmp_path / "out"),
        options=options,
        omp_nthreads=3,
        name=f"{suffix}_wf",
    )


def _edge(workflow, src, dst):
    graph = workflow._graph
    a, b = workflow.get_node(src), workflow.get_node(dst)
    return graph.get_edge_data(a, b)["connect"] if graph.has_edge(a, b) else None


def test_freesurfer_nodes_only_for_t1w(tmp_path):
    licence = tmp_path / "license.txt"
    licence.write_text("x")
    t1w = _image_wf(tmp_path, "T1w", licence=licence)
    assert {"recon_all_orig", "recon_all_defaced", "freesurfer"} <= set(t1w.list_node_names())
    assert _edge(t1w, "deface", "recon_all_defaced") == [("out_file", "in_file")]
    assert _edge(t1w, "deface", "recon_all_orig") is None  # the original is an input, set once
    assert _edge(t1w, "recon_all_orig", "freesurfer") == [
        ("subject_dir", "orig_subject_dir"),
        ("elapsed_s", "orig_elapsed_s"),
    ]
    assert _edge(t1w, "recon_all_defaced", "freesurfer") == [
        ("subject_dir", "defaced_subject_dir"),
        ("elapsed_s", "defaced_elapsed_s"),
    ]
    assert _edge(t1w, "freesurfer", "records") == [("metrics", _record_slot("freesurfer"))]
    assert _edge(t1w, "deface", "freesurfer") is None
    assert _edge(t1w, "impact", "records") == [("metrics", _record_slot("impact"))]  # fast still runs
    for kind in ("orig", "defaced"):
        node = t1w.get_node(f"recon_all_{kind}")
        assert node.inputs.fs_license_file == str(licence)
        assert node.inputs.openmp == 3 and node.n_procs == 3 and node.mem_gb == 8.0
        assert node.inputs.subject_id == f"sub_01_T1w_{kind}"
        assert node.interface.can_resume
    assert t1w.get_node("recon_all_orig").inputs.in_file == str(tmp_path / "sub-01_T1w.nii.gz")
    assert not isdefined(t1w.get_node("recon_all_defaced").inputs.in_file)

    (tmp_path / "fast").mkdir()
    for wf in (_image_wf(tmp_path, "T2w"), _image_wf(tmp_path / "fast", "T1w", impact="fast")):
        names = set(wf.list_node_names())
        assert not names & {"freesurfer", "recon_all_orig", "recon_all_defaced"}
        assert getattr(wf.get_node("records").inputs, _record_slot("freesurfer")) == {}
        assert "impact" in names


def test_the_graphs_freesurfer_nodes_run_and_are_cached(stub_recon_all, images, tmp_path, monkeypatch):
    """The three nodes of the built graph, run one by one with the stub: a rerun is cached."""
    monkeypatch.delenv("FS_LICENSE", raising=False)
    licence = tmp_path / "license.txt"
    licence.write_text("x")
    t1w = _image_wf(tmp_path, "T1w", licence=licence)
    base = tmp_path / "work"
    nodes = {name: t1w.get_node(name) for name in ("recon_all_orig", "recon_all_defaced", "freesurfer")}
    for node in nodes.values():
        node.base_dir = str(base)
    nodes["recon_all_defaced"].inputs.in_file = str(images[1])  # what deface.out_file gives

    outputs = {kind: nodes[f"recon_all_{kind}"].run().outputs for kind in ("orig", "defaced")}
    for kind, out in outputs.items():
        assert Path(out.subject_dir).name == f"sub_01_T1w_{kind}"
        assert Path(nodes[f"recon_all_{kind}"].output_dir()) in Path(out.subject_dir).parents  # own subjects dir
        assert (Path(out.subject_dir) / "scripts" / "fs_license.txt").read_text().strip() == str(licence)
    freesurfer = nodes["freesurfer"]
    freesurfer.inputs.orig_subject_dir = outputs["orig"].subject_dir
    freesurfer.inputs.orig_elapsed_s = outputs["orig"].elapsed_s
    freesurfer.inputs.defaced_subject_dir = outputs["defaced"].subject_dir
    freesurfer.inputs.defaced_elapsed_s = outputs["defaced"].elapsed_s
    record = freesurfer.run().outputs.metrics
    assert {k: v for k, v in record.items() if k.startswith("fs_")} == fs.compare_freesurfer(ORIG, DEFACED)
    assert record["check_freesurfer"] is True

    done = Path(outputs["orig"].subject_dir) / "scripts" / "recon-all.done"
    stamp = done.stat().st_mtime_ns
    again = nodes["recon_all_orig"].run().outputs  # cached: recon-all does not run again
    assert again.subject_dir == outputs["orig"].subject_dir and again.elapsed_s == outputs["orig"].elapsed_s
    assert done.stat().st_mtime_ns == stamp
