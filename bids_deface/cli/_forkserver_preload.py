"""Imported by the multiprocessing forkserver when it starts, and only there (see
:mod:`bids_deface.cli.pool`): the forkserver then dies with the run that started it, and
each worker, whose parent it is, with it. Imports nothing heavy: the forkserver forks
every worker and must hold no threads or locks when it does.
"""

from .deathsig import die_with_parent

die_with_parent()
