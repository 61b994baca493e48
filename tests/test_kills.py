"""Killed for real, disk filled for real, on a small real head (issue 17, faults).

One participant (sub-pet at 4 mm) and a 40 MB func image that makes the release copy take
seconds. The participant level is killed with SIGKILL (every process of the run) during the
template registration, then during an output sink, then run to the end with the same work
folder; the group level's release copy is killed over an earlier release, run again, and
written to a full file system. After every kill each visible output file is opened whole
(images read to the end, JSON, TSV, HTML, SVG and PNG parsed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess

import pytest
from cli_run import run_logged
from fault_kit import add_big_bold, audit_files, finish, kill_when, make_bids, node_running, small_head, start
from guarantees import WHOLE, outcome

pytestmark = [pytest.mark.heads, pytest.mark.slow, pytest.mark.xdist_group("kills")]


def _args(root, *extra):
    return ["--skip-bids-validation", "--impact", "none", "-w", root / "work", "--nprocs", "2", *extra]


def _whole(audit) -> str:
    assert audit["checked"], "nothing to check"
    assert audit["broken"] == [], audit["broken"]
    return WHOLE


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def kills(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("kills")
    bids = make_bids(root / "bids", small_head(shared_data))
    add_big_bold(bids)
    out, steps = root / "out", {}
    argv = [bids, out, "participant", *_args(root)]

    proc = start(argv, root / "run1.log")
    steps["registration"] = kill_when(proc, node_running("register_template"))
    finish(proc)
    steps["after_registration"] = audit_files(out)
    steps["defaced_after_registration"] = sorted(out.rglob("*_desc-defaced_*"))

    proc = start(argv, root / "run2.log")
    steps["sink"] = kill_when(proc, node_running("ds_"), every=0.005)
    finish(proc)
    steps["after_sink"] = audit_files(out)

    proc = start(argv, root / "run3.log")
    steps["log3"] = finish(proc)
    steps["code3"] = proc.returncode
    steps["after_rerun"] = audit_files(out)
    return {"root": root, "bids": bids, "out": out, **steps}


def test_kill_during_registration(kills):
    assert kills["registration"] == "register_template", "the run ended before the registration was caught"
    observed = _whole(kills["after_registration"])
    if not kills["defaced_after_registration"]:
        observed += "; no defaced image yet"
    outcome("kill-registration", observed)


def test_kill_while_writing_outputs(kills):
    assert kills["sink"], "the run ended before a sink was caught running"
    audit = kills["after_sink"]
    observed = _whole(audit)
    assert all(".staging/" in t or t.split("/")[-1].startswith(".") for t in audit["temporaries"])
    outcome("kill-sink", f"{observed}; unfinished writes only under hidden temporary names")


def test_rerun_after_kills_completes(kills):
    import json

    record = json.loads(next(kills["out"].rglob("*_desc-deface_metrics.json")).read_text())
    report = kills["out"] / "sub-01.html"
    observed = (
        f"exit {kills['code3']}, status {record['status']}, report {'written' if report.is_file() else 'missing'}"
    )
    outcome("rerun-after-kills", f"{observed}; {_whole(kills['after_rerun'])}")


@pytest.fixture(scope="module")
def release_kill(kills):
    root, out = kills["root"], kills["out"]
    release = root / "release"
    argv = [kills["bids"], out, "group", "--release-dir", release, "--skip-bids-validation", "-w", root / "work"]
    proc = start(argv, root / "group1.log")
    first = finish(proc)
    assert proc.returncode == 0, first[-3000:]
    before = _digest(release)

    partial = release.with_name("release.partial")
    proc = start(argv, root / "group2.log")
    caught = kill_when(proc, lambda cwds: "partial" if partial.is_dir() else None)
    finish(proc)
    killed = {"caught": caught, "unchanged": _digest(release) == before, "partial": partial.is_dir()}
    killed["audit_partial"] = audit_files(partial) if partial.is_dir() else None

    proc = start(argv, root / "group3.log")
    log = finish(proc)
    return {
        "release": release,
        "partial": partial,
        "killed": killed,
        "code": proc.returncode,
        "log": log,
        "audit": audit_files(release),
        "argv": argv,
    }


def test_kill_during_release_keeps_the_previous_release(release_kill):
    killed = release_kill["killed"]
    assert killed["caught"] == "partial", "the release was written before it could be killed"
    assert killed["audit_partial"]["broken"] == [], killed["audit_partial"]
    observed = "the earlier release is " + ("unchanged" if killed["unchanged"] else "CHANGED")
    observed += "; the unfinished copy is only ``<release>.partial``" if killed["partial"] else "; no partial copy"
    outcome("kill-release", observed)


def test_release_after_a_kill_completes(release_kill):
    left = "no ``.partial`` left" if not release_kill["partial"].exists() else "a ``.partial`` left"
    observed = f"exit {release_kill['code']}, {left}; {_whole(release_kill['audit'])} in the release"
    assert (release_kill["release"] / "sub-01" / "anat" / "sub-01_T1w.nii.gz").is_file()
    outcome("rerun-release", observed)


def test_second_group_run_is_refused(kills, tmp_path):
    root, out = kills["root"], kills["out"]
    release = tmp_path / "release"
    argv = [kills["bids"], out, "group", "--release-dir", release, "--skip-bids-validation", "-w", root / "work"]
    proc = start(argv, tmp_path / "first.log")
    partial = release.with_name("release.partial")
    try:
        import time

        deadline = time.monotonic() + 240
        while not partial.is_dir() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert partial.is_dir(), "the first group run wrote its release before the second could start"
        code, log = run_logged([str(a) for a in argv])
    finally:
        first = finish(proc)
    refused = [line for level, line in log if level == logging.ERROR and "group level: another" in line]
    assert refused and f"pid {proc.pid}" in refused[0], log
    assert proc.returncode == 0, first[-3000:]
    outcome(
        "two-group-runs",
        f"exit {code} naming the group level and the other run's pid; the first ends with exit {proc.returncode}",
    )


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_during_release(kills, tmpfs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(kills["out"], out, ignore=shutil.ignore_patterns(".locks", "logs"))
    release = tmpfs / "release"
    code, log = run_logged(
        [str(kills["bids"]), str(out), "group", "--release-dir", str(release), "--skip-bids-validation"]
    )
    errors = [line for level, line in log if level >= logging.ERROR and "release not written to" in line]
    assert errors, log
    named = str(release) in errors[0] and "No space left on device" in errors[0]
    left = sorted(p.name for p in tmpfs.iterdir())
    observed = f"exit {code}, error names the release and 'No space left on device'" if named else errors[0]
    observed += "; no release and no partial copy left" if not left else f"; left: {left}"
    outcome("release-disk-full", observed)
