"""Progress on the terminal: which participant and stage is running, done/total."""

from __future__ import annotations

import logging
import threading
import time

LOGGER = logging.getLogger("bids_deface.progress")


class Progress:
    """A nipype ``status_callback`` counting finished nodes of the whole graph."""

    def __init__(self, total: int):
        self.total = max(total, 1)
        self.done = 0
        self.failed = 0
        self.start = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, node, status: str) -> None:
        with self._lock:
            if status == "start":
                LOGGER.info("[%d/%d] %s: started", self.done, self.total, _where(node))
                return
            self.done += 1
            if status == "exception":
                self.failed += 1
                LOGGER.error("[%d/%d] %s: FAILED", self.done, self.total, _where(node))
            else:
                LOGGER.info(
                    "[%d/%d] %s: done (%.0f s elapsed)",
                    self.done,
                    self.total,
                    _where(node),
                    time.monotonic() - self.start,
                )

    def finish(self) -> None:
        """The last line: what ran, what failed, and what never ran because a step it needs failed."""
        with self._lock:
            skipped = max(self.total - self.done, 0)
            LOGGER.log(
                logging.ERROR if self.failed else logging.INFO,
                "[%d/%d] steps finished in %.0f s: %d failed, %d not run (a step they need failed)",
                self.total,
                self.total,
                time.monotonic() - self.start,
                self.failed,
                skipped,
            )


def _where(node) -> str:
    """``sub_01_wf.sub_01_wf.sub_01_T1w_wf.deface`` -> ``sub-01: sub_01_T1w_wf.deface``."""
    parts = node.fullname.split(".")
    subject = next((p[:-3] for p in parts if p.startswith("sub_") and p.endswith("_wf")), "")
    inner = [p for p in parts[1:] if p != f"{subject}_wf"] if subject else parts
    return f"{subject.replace('_', '-', 1)}: {'.'.join(inner)}" if subject else ".".join(inner)


def count_nodes(workflow) -> int:
    """Nodes nipype will run (identity nodes are removed from the execution graph)."""
    from nipype.interfaces.utility import IdentityInterface

    return sum(not isinstance(n.interface, IdentityInterface) for n in workflow._create_flat_graph().nodes())
