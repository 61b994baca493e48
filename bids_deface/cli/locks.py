"""One writer per participant: two runs that would write the same participant's outputs at once.

Runs of different participants into one output folder are the normal cluster case (one job
per participant) and go on side by side. A second run that would write a participant
another run is writing is refused before any work, naming the participant and the other
run, instead of interleaving its files. The locks are ``flock`` locks on files under
``<output>/.locks/``: the kernel releases them when their process ends, however it ends
(``kill -9`` included), so a killed run never leaves a participant locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

LOCKS = ".locks"


class ParticipantBusy(RuntimeError):
    """Another run holds the lock of a participant (or of the group level)."""


@contextmanager
def participant_locks(output_dir: str | Path, subjects):
    """Hold the write lock of every participant in ``subjects`` for the duration of the block."""
    with _locks(output_dir, [(f"sub-{subject}", f"sub-{subject}", "this participant") for subject in sorted(subjects)]):
        yield


@contextmanager
def group_lock(output_dir: str | Path):
    """Hold the write lock of the group level's outputs (``group_*``, ``release_summary.json``)."""
    with _locks(output_dir, [("group", "group level", "the group level")]):
        yield


@contextmanager
def _locks(output_dir: str | Path, wanted: list[tuple[str, str, str]]):
    """``wanted``: (lock file stem, what to call it, what the other run writes) for each lock."""
    folder = Path(output_dir) / LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for stem, name, what in wanted:
            path = folder / f"{stem}.lock"
            handle = stack.enter_context(open(path, "a+", encoding="utf-8"))  # noqa: SIM115 - held by the stack
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another run"
                raise ParticipantBusy(
                    f"{name}: another bids-deface run is writing {what} into {output_dir} "
                    f"({holder}; lock {path}): wait for it to end, or write to another output folder"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            handle.flush()
        yield
