"""Progress on the terminal: a line per participant that finishes, with the time left.

Every step's start and end also goes to the logger ``bids_deface.progress.steps``: the run's
log file keeps them, the terminal shows them with ``-v``. A failed step is an ERROR line on
the terminal whatever the verbosity: it names the participant and the step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

LOGGER = logging.getLogger("bids_deface.progress")
STEPS = logging.getLogger("bids_deface.progress.steps")


class Progress:
    """A nipype ``status_callback``: counts finished steps per participant and for the whole graph."""

    def __init__(self, total: int, per_subject: Counter | None = None):
        self.total = max(total, 1)
        self.per_subject = Counter(per_subject or {})
        self.done_by_subject: Counter = Counter()
        self.done = 0
        self.failed = 0
        self.start = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, node, status: str) -> None:
        with self._lock:
            where = _where(node)
            if status == "start":
                STEPS.info("[%d/%d] %s: started", self.done, self.total, where)
                return
            self.done += 1
            subject = _subject(node)
            self.done_by_subject[subject] += 1
            elapsed = time.monotonic() - self.start
            if status == "exception":
                self.failed += 1
                LOGGER.error("[%d/%d] %s: FAILED", self.done, self.total, where)
            else:
                STEPS.info("[%d/%d] %s: done (%.0f s elapsed)", self.done, self.total, where, elapsed)
            if subject and self.done_by_subject[subject] == self.per_subject.get(subject):
                finished = sum(self.done_by_subject[s] == n for s, n in self.per_subject.items())
                left = elapsed * (self.total - self.done) / self.done
                LOGGER.info(
                    "participant %d/%d done: %s (%.0f s elapsed%s)",
                    finished,
                    len(self.per_subject),
                    subject,
                    elapsed,
                    f", about {left:.0f} s left" if self.done < self.total else "",
                )

    def finish(self) -> None:
        """The last line: what ran, what failed, and what never ran because a step it needs failed."""
        with self._lock:
            skipped = max(self.total - self.done, 0)
            LOGGER.log(
                logging.ERROR if self.failed else logging.INFO,
                "%d steps in %.0f s: %d failed, %d not run (a step they need failed)",
                self.total,
                time.monotonic() - self.start,
                self.failed,
                skipped,
            )


def _subject(node) -> str:
    """``sub_01_wf.sub_01_wf.sub_01_T1w_wf.deface`` -> ``sub-01`` ("" outside a participant)."""
    parts = node.fullname.split(".")
    subject = next((p[:-3] for p in parts if p.startswith("sub_") and p.endswith("_wf")), "")
    return subject.replace("_", "-", 1)


def _where(node) -> str:
    """``sub_01_wf.sub_01_wf.sub_01_T1w_wf.deface`` -> ``sub-01: sub_01_T1w_wf.deface``."""
    parts = node.fullname.split(".")
    subject = _subject(node)
    if not subject:
        return ".".join(parts)
    token = subject.replace("-", "_", 1) + "_wf"
    return f"{subject}: {'.'.join(p for p in parts[1:] if p != token)}"


def count_nodes(workflow) -> tuple[int, Counter]:
    """Nodes nipype will run (identity nodes are removed from the execution graph), in all and per participant."""
    from nipype.interfaces.utility import IdentityInterface

    nodes = [n for n in workflow._create_flat_graph().nodes() if not isinstance(n.interface, IdentityInterface)]
    return len(nodes), Counter(_subject(n) for n in nodes)
