"""Die with the parent process (Linux ``PR_SET_PDEATHSIG``); standard library only, no side effects.

Used by :mod:`bids_deface.cli.pool` in every worker, and by :mod:`._forkserver_preload`
in the multiprocessing forkserver. :func:`libc` also serves the pool's ``malloc_trim``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from functools import cache

_PR_SET_PDEATHSIG = 1
#: The environment variable that tells the forkserver which process started it.
RUN_PID_VARIABLE = "BIDS_DEFACE_RUN_PID"


@cache
def libc() -> ctypes.CDLL:
    """The C library, loaded once (``OSError`` where there is none to load)."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(parent: int | None = None) -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only).

    Returns whether it was set. A parent already gone (this process was re-parented
    before the request took effect) ends this process at once. ``parent``: the process
    that started this one, when the caller knows it: a parent that died before this
    function was even called is caught too (a worker still importing its modules when the
    run was killed outlived it otherwise).
    """
    if not sys.platform.startswith("linux"):
        return False
    parent = parent or os.getppid()
    if libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:
        os._exit(1)
    return True
