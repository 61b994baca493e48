"""Imported by the multiprocessing forkserver when it starts, and only there (see
:mod:`bids_deface.cli.pool`): the forkserver then dies with the run that started it, and
each worker, whose parent it is, with it. Imports nothing heavy: the forkserver forks
every worker and must hold no threads or locks when it does.
"""

import os

from .deathsig import RUN_PID_VARIABLE, die_with_parent

#: This forkserver's process id: the parent of every worker it forks (they inherit this module).
FORKSERVER_PID = os.getpid()

die_with_parent(int(os.environ.get(RUN_PID_VARIABLE, "0")) or None)
