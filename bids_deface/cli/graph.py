"""Running a built nipype graph the way every level does: crash files, progress, a pool that survives dead workers."""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

from ..config import Config
from ..naming import STAGING
from .progress import Progress, count_nodes

LOGGER = logging.getLogger("bids_deface")

#: Plugins that run every step on this machine, and how often they look for steps to start (s).
LOCAL_PLUGINS = ("MultiProc", "LegacyMultiProc")
LOCAL_POLL_S = 0.1


def run_workflow(config: Config, workflow, crash_dir: Path) -> str | None:
    """Run ``workflow``; failures are left in crash files under ``crash_dir`` for the caller to read.

    Returns why the run stopped before every step was tried, or None.
    """
    ex = config.execution
    workflow.config["execution"].update(
        {
            "crashdump_dir": str(crash_dir),
            "crashfile_format": "txt",
            "stop_on_first_crash": False,
            "remove_unnecessary_outputs": False,
            "parameterize_dirs": False,
        }
    )
    if config.nipype.plugin in LOCAL_PLUGINS:
        # nipype looks for finished and ready steps every poll_sleep_duration (2 s by default):
        # each link of a chain of steps then waited a second on average, tens of seconds per
        # participant; locally a look costs nothing (a scheduler's queue is asked less often)
        workflow.config["execution"]["poll_sleep_duration"] = LOCAL_POLL_S
    plugin_args = config.nipype.resolved_plugin_args()
    # ITK reads its thread count once per process: workers (and SLURM jobs) inherit this,
    # so template registrations are reproducible run to run (see methods.impact.pipeline)
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    if config.nipype.plugin.startswith("SLURM"):
        import getpass

        os.environ.setdefault("LOGNAME", getpass.getuser())  # nipype's SLURM plugin reads it
    if config.nipype.plugin in ("Linear", "MultiProc", "LegacyMultiProc"):
        total, per_subject = count_nodes(workflow)
        progress = Progress(total=total, per_subject=per_subject)
        plugin_args.setdefault("status_callback", progress)
    plugin = config.nipype.plugin
    if plugin == "MultiProc":  # survives a worker that dies; workers die with the run
        from .pool import MultiProcPlugin

        plugin = MultiProcPlugin(plugin_args=plugin_args)
    # nipype's MultiProc runs a full garbage collection each time it may submit steps (52 times
    # for one participant), and each one walked every object of this process (the BIDS layout,
    # the graph, the modules): 0.6 s apiece. Objects made so far live to the end anyway:
    # frozen, later collections only look at what the run makes.
    gc.collect()
    gc.freeze()
    try:
        workflow.run(plugin=plugin, plugin_args=plugin_args)
    except RuntimeError as err:
        LOGGER.warning("some steps failed; details follow (%s)", (str(err).splitlines() or [""])[0])
    except OSError as err:  # e.g. no space left for nipype's own files: the steps not run are errors
        LOGGER.error("the workflow stopped: %s", err)
        return f"the workflow stopped ({err})"
    finally:
        gc.unfreeze()
        if "status_callback" in plugin_args:
            plugin_args["status_callback"].finish()
        _remove_empty_staging(ex.output_dir)
    return None


def _remove_empty_staging(output_dir: Path) -> None:
    """The outputs' staging folder, once every sink of the run has renamed its files out of it."""
    try:
        (Path(output_dir) / STAGING).rmdir()
    except OSError:  # absent, or a killed step left files there (hidden, listed in .bidsignore)
        pass
