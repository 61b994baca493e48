"""Two runs into one output folder: one writer per participant, released however a run ends."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time

import pytest
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
