"""Two runs into one output folder: one writer per participant, released however a run ends."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from guarantees import outcome
from phantoms import template_head

from bids_deface.cli.locks import ParticipantBusy, participant_locks
from bids_deface.cli.run import main

HOLD = """
import sys, time
from bids_deface.cli.locks import participant_locks
with participant_locks(sys.argv[1], {"01"}):
    print("held", flush=True)
    time.sleep(120)
"""


def test_other_participants_go_on_the_same_one_is_refused(tmp_path):
    with participant_locks(tmp_path, {"01"}):
        with participant_locks(tmp_path, {"02"}):  # another participant: the cluster case
            pass
        with pytest.raises(ParticipantBusy, match=r"sub-01: another bids-deface run is writing this participant"):
            with participant_locks(tmp_path, {"01", "02"}):
                pass
    with participant_locks(tmp_path, {"01", "02"}):  # released when the block ends
        pass


def test_a_killed_run_leaves_no_participant_locked(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ParticipantBusy, match=f"pid {holder.pid}"):
            with participant_locks(tmp_path, {"01"}):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while True:
        try:
            with participant_locks(tmp_path, {"01"}):
                break
        except ParticipantBusy:
            assert time.monotonic() < deadline, "the lock outlived the killed process"
            time.sleep(0.1)


def test_a_second_run_on_a_busy_participant_exits_2_before_any_work(tmp_path, caplog):
    bids = tmp_path / "bids"
    (bids / "sub-01" / "anat").mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "locks", "BIDSVersion": "1.10.0"}))
    template_head(6.0).to_filename(bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz")
    out = tmp_path / "out"
    with participant_locks(out, {"01"}), caplog.at_level(logging.ERROR):
        code = main([str(bids), str(out), "participant", "--skip-bids-validation", "-w", str(tmp_path / "work")])
    assert code == 2
    assert any("sub-01: another bids-deface run is writing this participant" in r.getMessage() for r in caplog.records)
    assert not list(out.glob("sub-01/**/*.nii.gz"))  # nothing written for it
    outcome("two-participant-runs", f"exit {code} before any work, naming the participant; nothing written for it")


def test_a_second_group_run_into_one_output_folder_exits_2(tmp_path, caplog):
    from bids_deface.cli.locks import group_lock

    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "locks", "BIDSVersion": "1.10.0"}))
    out = tmp_path / "out"
    (out / "sub-01" / "anat").mkdir(parents=True)
    record = {"source_file": "sub-01/anat/sub-01_T1w.nii.gz", "subject": "01", "status": "pass", "reason": ""}
    (out / "sub-01" / "anat" / "sub-01_mod-T1w_desc-deface_metrics.json").write_text(json.dumps(record))
    with group_lock(out), caplog.at_level(logging.ERROR):
        code = main([str(bids), str(out), "group", "--skip-bids-validation", "-w", str(tmp_path / "work")])
    assert code == 2
    assert any(
        "group level: another bids-deface run is writing the group level" in r.getMessage() for r in caplog.records
    )
    assert not (out / "group_deface.tsv").exists()


def test_a_second_release_into_one_folder_is_refused(tmp_path):
    """Two releases into one folder would remove each other's ``.partial`` copy: the second is refused."""
    from bids_deface.methods.metadata.release import ReleaseBusy, make_release, release_lock

    bids = tmp_path / "bids"
    (bids / "sub-01" / "anat").mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "locks", "BIDSVersion": "1.10.0"}))
    (bids / "README").write_text("readme\n")
    release = tmp_path / "releases" / "r1"
    make_release(bids, release, {}, {}, note="first")
    before = sorted(p.relative_to(release) for p in release.rglob("*"))
    with release_lock(release.resolve()):
        probe = subprocess.run(
            [sys.executable, "-c", RELEASE, str(bids), str(release)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    assert probe.returncode == 0, probe.stderr
    message = probe.stdout.strip()
    assert message.startswith(f"{release.resolve()}: another bids-deface run is writing a release"), message
    assert sorted(p.relative_to(release) for p in release.rglob("*")) == before
    assert not release.with_name("r1.partial").exists()
    with pytest.raises(ReleaseBusy):  # flock is per open file: the same process is refused as well
        with release_lock(release.resolve()):
            make_release(bids, release, {}, {}, note="second")
    outcome("two-releases", "refused (ReleaseBusy) naming the release; the first release is untouched")


RELEASE = """
import sys
from bids_deface.methods.metadata.release import ReleaseBusy, make_release
try:
    make_release(sys.argv[1], sys.argv[2], {}, {}, note="second")
except ReleaseBusy as err:
    print(err)
"""
