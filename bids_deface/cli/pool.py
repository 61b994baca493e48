"""nipype's MultiProc plugin, made to survive a worker that dies and to die with the run.

nipype's plugin waits forever when a worker process is killed (a segmentation fault,
the kernel's out-of-memory killer): the pool breaks, the future of every task in flight
fails with ``BrokenProcessPool``, the plugin's result callback raises inside the pool's
thread, and the scheduler loop polls for results that never come, at 0% CPU.

Here a failed future is a failed node (a crash file naming the cause: the dependent
nodes are not run, the images are accounted for as errors) and a broken pool is
replaced, so that the other images go on.

Workers also die with the run (Linux): the forkserver and each worker ask the kernel
for SIGKILL when their parent dies (``PR_SET_PDEATHSIG``). Without it, a ``kill -9`` of
the main process leaves the forkserver and its workers behind: every worker holds the
pipe that would tell the forkserver its client is gone, and waits on a task queue
whose writing end it holds itself.

Workers log as the main process does (:func:`_worker_logging`): their nipype chatter, warnings
and the C-level output of ITK/ANTs go to the run's log file, not to the terminal.

When more steps are ready than there are free processors, the step heading the longest
chain of expected work starts first (:func:`critical_paths`): nipype's order (the graph's)
once put both images' renders of the original before sub-chris's co-registration, and the
PDw waited 6 s for it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from traceback import format_exception

from nipype.pipeline.plugins.multiproc import MultiProcPlugin as _NipypeMultiProc
from nipype.pipeline.plugins.multiproc import process_initializer, run_node

from .deathsig import RUN_PID_VARIABLE, die_with_parent, libc

LOGGER = logging.getLogger("bids_deface")
#: Rough seconds a step takes on a 1 mm head on one core (benchmarks/README.md, "Speed
#: issue"); a step not listed counts 0.1 s. Only their proportions matter (see
#: :meth:`MultiProcPlugin._sort_jobs`).
EXPECTED_S = {
    "register_template": 8.0,
    "independent_brain": 5.0,
    "coregister": 5.0,
    "look_at_original": 6.0,
    "deface": 1.5,
    "impact_original": 5.0,
    "impact": 5.0,
    "face_qa": 5.0,
    "flicker_rpt": 0.5,
    "removal_rpt": 0.6,
    "renders_rpt": 0.3,
    "recon_all_orig": 20_000.0,
    "recon_all_defaced": 20_000.0,
}


def critical_paths(procs: list, successors: list[list[int]]) -> list[float]:
    """Each step's expected seconds to the end of the run along its longest chain of steps.

    ``procs`` in topological order (as nipype keeps them); ``successors[i]``: the indices
    of the steps that need step ``i``.
    """
    remaining = [0.0] * len(procs)
    for i in reversed(range(len(procs))):
        after = max((remaining[j] for j in successors[i]), default=0.0)
        remaining[i] = EXPECTED_S.get(procs[i].name, 0.1) + after
    return remaining


#: Imported by the forkserver when it starts: it then dies with the main process.
FORKSERVER_PRELOAD = "bids_deface.cli._forkserver_preload"


class WorkerDiedError(RuntimeError):
    """A worker process ended without returning (killed, out of memory, crashed)."""


def _worker_initializer(cwd: str, logging_setup: dict) -> None:
    import sys

    process_initializer(cwd)
    # forked by the forkserver: its process id came with the fork, whatever happened since
    forkserver = getattr(sys.modules.get(FORKSERVER_PRELOAD), "FORKSERVER_PID", None)
    die_with_parent(forkserver)
    _worker_logging(**logging_setup)


def _worker_logging(nipype_levels: dict, log_file: str | None) -> None:
    """A worker logs as the run does: node chatter and third-party output to the log file.

    A worker starts with nipype's own logging (its stdout handler at INFO: a "Setting-up /
    Executing / Finished" line per node on the terminal), no handler of its own (Python then
    prints every warning to stderr), and ITK/ANTs print to the C streams. Here the worker's
    standard output and error are the run's log file, every record goes there, and the
    terminal (a copy of the original stderr) gets what :class:`~bids_deface.cli.run.TerminalFilter`
    lets through: this package's warnings and anyone's errors, nipype's lines only with ``-vv``.
    """
    import os
    import sys

    from .run import TerminalFilter, _formatter

    verbose = nipype_levels.get("workflow_level") in ("INFO", "DEBUG")
    terminal = logging.StreamHandler(os.fdopen(os.dup(2), "w", buffering=1))
    if log_file:
        sys.stdout.flush()
        sys.stderr.flush()
        target = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(target, 1)  # C-level output (ITK's warnings, ANTs' "bad det") lands in the log file
        os.dup2(target, 2)
        os.close(target)
    nipype_logger = logging.getLogger("nipype")
    for handler in list(nipype_logger.handlers):
        nipype_logger.removeHandler(handler)
    debug = nipype_levels.get("workflow_level") == "DEBUG"
    for name in ("nipype.workflow", "nipype.interface", "nipype.utils", "nipype.filemanip"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)
    logging.captureWarnings(True)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if log_file:
        to_file = logging.StreamHandler(sys.stderr)  # the log file, through the descriptor above
        to_file.setFormatter(_formatter())
        root.addHandler(to_file)
    terminal.setFormatter(_formatter())
    terminal.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        terminal.addFilter(TerminalFilter(show_steps=False))  # the steps are counted in the main process
    root.addHandler(terminal)


def _logging_setup() -> dict:
    """What a worker needs to log as the main process does: nipype's levels and the log file."""
    from nipype import config as nipype_config

    names = ("workflow_level", "interface_level", "utils_level")
    files = [
        h.baseFilename
        for h in logging.getLogger().handlers
        if isinstance(h, logging.FileHandler) and getattr(h, "bids_deface", False)
    ]
    return {
        "nipype_levels": {name: nipype_config.get("logging", name) for name in names},
        "log_file": files[0] if files else None,
    }


def _run_node_then_trim(node, updatehash, taskid):
    """nipype's ``run_node``, then the heap the step freed is given back to the system.

    glibc keeps freed arrays of up to 32 MB in the process's heap for reuse; a worker that ran
    the renders of the original held them while it ran the face check next (sub-pet: about
    150 MB more at the participant's peak).
    """
    try:
        return run_node(node, updatehash, taskid)
    finally:
        _malloc_trim()


def _malloc_trim() -> None:
    try:
        libc().malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to give back this way
        pass


class _TrimmingPool(ProcessPoolExecutor):
    """A pool whose workers run each nipype step through :func:`_run_node_then_trim`."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(_run_node_then_trim if fn is run_node else fn, *args, **kwargs)


class MultiProcPlugin(_NipypeMultiProc):
    """nipype's MultiProc with the two fixes above.

    The class keeps nipype's name: nipype derives the plugin's name from it
    (``MultiProc``) wherever it records which plugin ran a node.
    """

    def __init__(self, plugin_args=None):
        super().__init__(plugin_args=plugin_args)
        self.pool.shutdown(wait=False)  # nipype's pool (no process started yet): ours has the initializer
        self._mp_context = mp.get_context(self.plugin_args.get("mp_context"))
        if self._mp_context.get_start_method() == "forkserver":
            # the forkserver starts with the first worker; it imports these modules first,
            # and learns from the environment which process started it
            os.environ[RUN_PID_VARIABLE] = str(os.getpid())
            self._mp_context.set_forkserver_preload(["__main__", FORKSERVER_PRELOAD])
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return _TrimmingPool(
            max_workers=self.processors,
            initializer=_worker_initializer,
            initargs=(self._cwd, _logging_setup()),
            mp_context=self._mp_context,
        )

    def _sort_jobs(self, jobids, scheduler="tsort"):
        """Ready steps by the longest chain of work they head, longest first (list scheduling).

        With more ready steps than processors, the chain that would finish last starts first:
        the registration before the renders of the original, whose chain (renders, then the
        face check) is shorter; nipype's order (the graph's) once left the face check last.
        """
        jobids = super()._sort_jobs(jobids, scheduler=scheduler)
        if getattr(self, "_remaining", None) is None or len(self._remaining) != len(self.procs):
            rows = [list(row) for row in self.refidx.rows]  # the graph as built; a map node's parts come later
            self._remaining = critical_paths(self.procs, rows + [[]] * (len(self.procs) - len(rows)))
        return sorted(jobids, key=lambda job: -self._remaining[job])

    def _submit_job(self, node, updatehash=False):
        try:
            return super()._submit_job(node, updatehash=updatehash)
        except BrokenProcessPool:
            LOGGER.warning("a worker process died; starting new workers for the steps that remain")
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            return super()._submit_job(node, updatehash=updatehash)

    def _get_result(self, taskid):
        result = self._taskresult.get(taskid)
        future = self._task_obj.get(taskid)
        if result is None and future is not None and future.done() and future.exception() is not None:
            cause = future.exception()
            message = (
                "a worker process died (killed or out of memory)"
                if isinstance(cause, BrokenProcessPool)
                else f"the worker's result was lost ({type(cause).__name__}: {cause})"
            )
            error = WorkerDiedError(message)
            error.__cause__ = cause
            return {"result": None, "taskid": taskid, "traceback": format_exception(error)}
        return result

    def _async_callback(self, args):
        if args.exception() is None:  # a failed future is read by _get_result, not raised in the pool's thread
            super()._async_callback(args)
