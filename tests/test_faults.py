"""Robustness (issue 18): things broken for real, and the run still accounts for every image.

A dangling symlink (an annexed file whose content is not present), a field of view too
small to hold a head, a participant added between two runs with the same work folder.
Synthetic data only: the pydeface template head on a 3 mm grid.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from cli_run import run_logged, usage_error
from fault_kit import family, finish, start
from guarantees import outcome
from phantoms import template_head

pytestmark = pytest.mark.xdist_group("faults")

DANGLING = "content not present (a dangling symlink, e.g. a git-annex file: run `datalad get`)"


def _bids(root, subjects=("01",)):
    bids = root / "bids"
    bids.mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "faults", "BIDSVersion": "1.10.0"}))
    head = template_head(3.0)
    for subject in subjects:
        (bids / f"sub-{subject}" / "anat").mkdir(parents=True)
        head.to_filename(bids / f"sub-{subject}" / "anat" / f"sub-{subject}_T1w.nii.gz")
    return bids


def _args(root, *extra):
    return ["--skip-bids-validation", "--impact", "none", "-w", str(root / "work"), "--nprocs", "2", *extra]


def _record(out, subject, suffix="T1w"):
    matches = list(out.glob(f"sub-{subject}/anat/sub-{subject}_mod-{suffix}_desc-deface_metrics.json"))
    assert len(matches) == 1, f"sub-{subject}: {matches}"
    return json.loads(matches[0].read_text())


@pytest.fixture(scope="module")
def first(tmp_path_factory, hash_tree):
    """sub-01 a good head; sub-02 a dangling annex symlink; sub-03 a 12 mm field of view."""
    root = tmp_path_factory.mktemp("faults")
    bids = _bids(root)
    (bids / "sub-02" / "anat").mkdir(parents=True)
    os.symlink(".git/annex/objects/XX/missing", bids / "sub-02" / "anat" / "sub-02_T1w.nii.gz")
    (bids / "sub-03" / "anat").mkdir(parents=True)
    rng = np.random.default_rng(0)
    small = nib.Nifti1Image(rng.integers(1, 500, (40, 40, 40)).astype(np.int16), np.diag([0.3, 0.3, 0.3, 1.0]))
    small.to_filename(bids / "sub-03" / "anat" / "sub-03_T1w.nii.gz")
    before = hash_tree(bids)
    code, log = run_logged([str(bids), str(root / "out"), "participant", *_args(root)])
    return {"root": root, "bids": bids, "out": root / "out", "code": code, "log": log, "before": before}


def test_dangling_symlink_is_an_error_record_and_the_others_run(first):
    assert first["code"] == 1
    record = _record(first["out"], "02")
    assert record["status"] == "error"
    assert record["reason"] == f"input: sub-02/anat/sub-02_T1w.nii.gz: {DANGLING}"
    assert _record(first["out"], "01")["status"] == "pass"
    assert any(level == logging.ERROR and DANGLING in line for level, line in first["log"])


def test_dangling_symlink_builds_no_graph_node(first):
    assert not list((first["root"] / "work").rglob("sub_02*"))


def test_small_field_of_view_is_an_input_error_with_its_extent(first):
    record = _record(first["out"], "03")
    assert record["status"] == "error"
    assert "sub-03_T1w.nii.gz: field of view 12 x 12 x 12 mm cannot hold a head" in record["reason"]
    assert "(at least 60 mm needed on 2 axes)" in record["reason"]


def test_input_is_never_written(first, hash_tree):
    assert hash_tree(first["bids"]) == first["before"]
    assert os.readlink(first["bids"] / "sub-02" / "anat" / "sub-02_T1w.nii.gz") == ".git/annex/objects/XX/missing"


@pytest.fixture(scope="module")
def rerun(first):
    """sub-04 added after the first run; the same work folder (and its cached pybids database)."""
    bids, root = first["bids"], first["root"]
    (bids / "sub-04" / "anat").mkdir(parents=True)
    shutil.copy(bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz", bids / "sub-04" / "anat" / "sub-04_T1w.nii.gz")
    code, log = run_logged([str(bids), str(first["out"]), "participant", *_args(root, "--participant-label", "04")])
    return {"code": code, "log": log}


def test_participant_added_since_the_last_run_is_found_and_processed(first, rerun):
    assert rerun["code"] == 0, rerun["log"]
    record = _record(first["out"], "04")
    assert record["status"] == "pass"
    assert record["source_file"] == "sub-04/anat/sub-04_T1w.nii.gz"
    assert (first["out"] / "sub-04" / "anat" / "sub-04_desc-defaced_T1w.nii.gz").is_file()
    assert any("the dataset changed since it was indexed" in line for _, line in rerun["log"])
    outcome("participant-added", f"found and processed: exit {rerun['code']}, status {record['status']}")


# -- processes killed for real: the run is a subprocess under a timeout, so a hang fails the test --

ROOT = Path(__file__).resolve().parents[1]
HANG = 300  # seconds; the runs below take well under a minute after the kill


def _descendants(pid: int) -> list[int]:
    return family(pid)[1:]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start(bids, root, *extra):
    return start([bids, root / "out", "participant", *_args(root, *extra)], root / "run.log")


def _worker_running(proc, node: str, timeout: float = 240.0) -> tuple[int, str]:
    """(pid, working directory) of the worker that runs ``node`` (nipype runs a node in its folder)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for pid in _descendants(proc.pid):
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if cwd.endswith(f"/{node}"):
                return pid, cwd
        time.sleep(0.2)
    finish(proc, 1)
    pytest.fail(f"no worker ran {node} (exit {proc.returncode}): {Path(proc.log.name).read_text()[-3000:]}")


@pytest.fixture(scope="module")
def killed_worker(tmp_path_factory):
    """Two participants, one worker; the worker registering the first template is SIGKILLed."""
    root = tmp_path_factory.mktemp("killed")
    bids = _bids(root, ("01", "02"))
    proc = _start(bids, root, "--nprocs", "1")
    pid, cwd = _worker_running(proc, "register_template")
    victim = re.search(r"sub_(\d+)_wf", cwd).group(1)
    os.kill(pid, signal.SIGKILL)
    log = finish(proc, HANG)
    return {"out": root / "out", "code": proc.returncode, "log": log, "victim": victim}


def test_killed_worker_ends_the_run_with_exit_3(killed_worker):
    assert killed_worker["code"] == 3, killed_worker["log"][-3000:]


def test_killed_worker_image_is_an_error_and_the_other_participant_passes(killed_worker):
    victim = killed_worker["victim"]
    other = ({"01", "02"} - {victim}).pop()
    record = _record(killed_worker["out"], victim)
    assert record["status"] == "error"
    assert "a worker process died (killed or out of memory)" in record["reason"]
    assert record["reason"].startswith("register_template: ")
    assert _record(killed_worker["out"], other)["status"] == "pass", killed_worker["log"][-3000:]
    outcome(
        "kill-worker",
        f"exit {killed_worker['code']}; that image is an error naming the step and 'a worker process died'; "
        "the other passes",
    )


def test_workers_die_with_the_main_process(tmp_path):
    """kill -9 of the main process: the forkserver and its workers do not survive it."""
    bids = _bids(tmp_path)
    proc = _start(bids, tmp_path)
    worker, _ = _worker_running(proc, "register_template")
    family = _descendants(proc.pid)
    assert worker in family and len(family) >= 2  # the forkserver and the worker at least
    os.kill(proc.pid, signal.SIGKILL)
    finish(proc, 30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(p) for p in family):
        time.sleep(0.2)
    survivors = [p for p in family if _alive(p)]
    for pid in survivors:  # do not leave them behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"orphans after kill -9 of the run: {survivors}"
    outcome("kill-main", "no worker process survives it")


# -- usage errors: exit 2 before any work --


@pytest.mark.parametrize("label", ["ü1", "sub-é", "٣", "Ⅻ", "01 "])
def test_non_ascii_participant_label_exits_2(tiny_bids, tmp_path, capsys, label):
    code, err = usage_error(
        [str(tiny_bids), str(tmp_path / "out"), "participant", "--participant-label", label], capsys
    )
    assert code == 2
    assert "invalid BIDS label" in err and "ASCII letters and digits only" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["out/release", "out", "."])
def test_release_dir_inside_or_holding_the_output_folder_exits_2(tiny_bids, tmp_path, capsys, where):
    code, err = usage_error(
        [str(tiny_bids), str(tmp_path / "out"), "participant", "--release-dir", str(tmp_path / where)], capsys
    )
    assert code == 2
    assert "release folder" in err
    assert not (tmp_path / "out").exists()


def test_group_level_checks_the_bids_dataset(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    code, err = usage_error([str(tmp_path / "data"), str(tmp_path / "out"), "group"], capsys)
    assert code == 2
    assert f"{tmp_path / 'data'}: not a BIDS dataset (no dataset_description.json)" in err


# -- a full output file system (a real 2 MB tmpfs, filled up) --


@pytest.fixture(scope="module")
def disk_full(first, tmp_path_factory):
    """sub-01 again (its steps cached in the first run's work folder), written to a nearly full file system."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mnt = tmp_path_factory.mktemp("full")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True, check=False
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {mounted.stderr.strip()}")
    try:
        stat = os.statvfs(mnt)
        (mnt / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 256 * 1024))  # 256 KiB left
        out = mnt / "out"
        code, log = run_logged(
            [str(first["bids"]), str(out), "participant", *_args(first["root"], "--participant-label", "01")]
        )
        path = out / "sub-01" / "anat" / "sub-01_mod-T1w_desc-deface_metrics.json"
        record = json.loads(path.read_text()) if path.exists() else None
        yield {"code": code, "log": log, "record": record}
    finally:
        root_logger = logging.getLogger()
        for handler in [h for h in root_logger.handlers if getattr(h, "bids_deface", False)]:
            root_logger.removeHandler(handler)  # the run's log file is open on the mount
            handler.close()
        unmounted = subprocess.run(["umount", str(mnt)], capture_output=True, text=True, check=False)
        if unmounted.returncode:
            subprocess.run(["umount", "-l", str(mnt)], check=False)
            pytest.fail(f"{mnt}: could not unmount the tmpfs ({unmounted.stderr.strip()}); unmounted lazily")


def test_disk_full_is_an_error_of_the_image_and_fails_the_run(disk_full):
    assert disk_full["code"] != 0
    assert disk_full["record"] is None or disk_full["record"]["status"] == "error", disk_full["record"]
    finals = [line for _, line in disk_full["log"] if line.startswith("1 image(s):")]
    assert finals == [
        (
            "1 image(s): 0 passed, 0 to review, 0 failed, 1 could not be processed; 1 make(s) the run fail "
            "(--fail-on brain face registration error; errors always do)"
        )
    ]
    errors = [line for level, line in disk_full["log"] if level >= logging.ERROR and "sub-01_T1w.nii.gz" in line]
    assert any("No space left on device" in line or "output not written" in line for line in errors), errors
    outcome(
        "output-disk-full",
        f"exit {disk_full['code']}; the image is an error (no space left, or output not written); no record says pass",
    )


def test_a_full_or_read_only_disk_in_a_step_is_an_error_of_the_image_not_a_bug(tmp_path):
    """An OSError of the machine (no space, over quota, read-only) fails the image (exit 1); another
    OSError in a step is still an internal error (exit 3)."""
    from bids_deface.cli.crashes import read_crash

    def crash(line):
        path = tmp_path / "crash.txt"
        path.write_text(f"Node: bids_deface_wf.sub_01_wf.ds_defaced\nTraceback (most recent call last):\n{line}\n")
        return read_crash(path)

    assert crash("OSError: [Errno 28] No space left on device").expected
    assert crash("OSError: [Errno 30] Read-only file system: '/out/x'").expected
    assert not crash("OSError: [Errno 2] No such file or directory: '/x'").expected
    assert not crash("ValueError: [Errno 28] made up").expected


def test_a_record_names_the_registration_when_both_registrations_stop_on_a_bad_input():
    from bids_deface.cli.crashes import Crash, first_crash

    brain = Crash("wf.sub_01_wf.sub_01_wf.independent_brain", "ValueError", "x.nii.gz: the image is empty")
    register = Crash("wf.sub_01_wf.sub_01_wf.register_template", "ValueError", "x.nii.gz: the image is empty")
    sink = Crash("wf.sub_01_wf.sub_01_T1w_wf.ds_mask", "OSError", "No space left on device")
    assert first_crash([brain, register]) is register  # whichever crash file was written first
    assert first_crash([sink, brain]) is sink  # otherwise the earliest
    assert first_crash([]) is None
