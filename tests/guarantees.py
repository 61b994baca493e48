"""The faults and inputs the suite tries, with what each test observed: the source of the table
of docs/guarantees.rst.

Each case names its test; the test computes an ``observed`` sentence from what it saw (exit
codes, statuses, the files it opened) and calls :func:`outcome`, which asserts that it is the
``result`` below and appends it to ``.cache/guarantees/outcomes.json`` (or
``$BIDS_DEFACE_GUARANTEES``). ``docs/render_guarantees.py`` renders the table from this list and
those outcomes; tests/test_guarantees.py checks that the committed table is that rendering.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = Path(os.environ.get("BIDS_DEFACE_GUARANTEES", ROOT / ".cache" / "guarantees" / "outcomes.json"))

WHOLE = "every visible output file loads whole"


def _case(area: str, fault: str, result: str, test: str) -> dict:
    return {"area": area, "fault": fault, "result": result, "test": test}


CASES: dict[str, dict] = {
    # -- processes killed and disks filled, on a small real head --
    "kill-registration": _case(
        "kill",
        "``kill -9`` of the whole run (every process) while the template registration runs",
        f"{WHOLE}; no defaced image yet",
        "test_kills.py::test_kill_during_registration",
    ),
    "kill-sink": _case(
        "kill",
        "``kill -9`` of the whole run while a step writes an output (a ``ds_*`` sink node), "
        "after a rerun with the same ``-w``",
        f"{WHOLE}; unfinished writes only under hidden temporary names",
        "test_kills.py::test_kill_while_writing_outputs",
    ),
    "rerun-after-kills": _case(
        "kill",
        "a third run with the same ``-w`` after the two kills",
        f"exit 0, status pass, report written; {WHOLE}",
        "test_kills.py::test_rerun_after_kills_completes",
    ),
    "kill-release": _case(
        "kill",
        "``kill -9`` of the group level while it writes the release copy over an earlier release",
        "the earlier release is unchanged; the unfinished copy is only ``<release>.partial``",
        "test_kills.py::test_kill_during_release_keeps_the_previous_release",
    ),
    "rerun-release": _case(
        "kill",
        "the group level with ``--release-dir`` again after that kill",
        f"exit 0, no ``.partial`` left; {WHOLE} in the release",
        "test_kills.py::test_release_after_a_kill_completes",
    ),
    "release-disk-full": _case(
        "disk",
        "the release folder on a full file system (an 8 MB tmpfs)",
        "exit 1, error names the release and 'No space left on device'; no release and no partial copy left",
        "test_kills.py::test_full_disk_during_release",
    ),
    "two-group-runs": _case(
        "concurrency",
        "a second group level into the same output folder while the first writes its release",
        "exit 2 naming the group level and the other run's pid; the first ends with exit 0",
        "test_kills.py::test_second_group_run_is_refused",
    ),
    "two-releases": _case(
        "concurrency",
        "a second release into the same folder while one is written",
        "refused (ReleaseBusy) naming the release; the first release is untouched",
        "test_locks.py::test_a_second_release_into_one_folder_is_refused",
    ),
    # -- the bad input table: one participant run --
}


def outcome(case: str, observed: str) -> None:
    """Assert that ``observed`` is the result the table promises for ``case``, and record it."""
    expected = CASES[case]["result"]
    assert observed == expected, f"{case}: observed {observed!r}, the guarantees table says {expected!r}"
    OUTCOMES.parent.mkdir(parents=True, exist_ok=True)
    with open(OUTCOMES.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            recorded = json.loads(OUTCOMES.read_text())
        except (OSError, ValueError):
            recorded = {}
        recorded[case] = observed
        tmp = OUTCOMES.with_suffix(".tmp")
        tmp.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, OUTCOMES)
