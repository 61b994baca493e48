"""``bids-deface``: parse, index, build, run, report, exit code."""

from __future__ import annotations

import logging
import sys

from .. import __version__
from ..config import Config
from ..layout import DatasetError
from . import EXIT_INTERNAL, EXIT_USAGE
from .parser import parse_args

LOGGER = logging.getLogger("bids_deface")


def _formatter() -> logging.Formatter:
    """One line format for the terminal and the log file."""
    return logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s | %(message)s", "%H:%M:%S")


class TerminalFilter(logging.Filter):
    """What the terminal shows: this package's lines and anyone's errors; every step only with ``-v``.

    Third-party INFO and warnings (pybids, numpy, matplotlib, ...) go to the log file only.
    """

    def __init__(self, *, show_steps: bool):
        super().__init__()
        self.show_steps = show_steps

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "bids_deface.progress.steps":
            return self.show_steps
        return record.name.split(".", 1)[0] in ("bids_deface", "root") or record.levelno >= logging.ERROR


def _setup_logging(config: Config) -> None:
    """Log to the terminal; the log file starts with the work (:func:`_start_log_file`)."""
    level = logging.WARNING - 10 * min(config.execution.verbosity + 1, 2)
    root = logging.getLogger()
    root.setLevel(min(level, logging.INFO))
    for handler in [h for h in root.handlers if getattr(h, "bids_deface", False)]:
        root.removeHandler(handler)
        handler.close()
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(level)
    stream.setFormatter(_formatter())
    stream.addFilter(TerminalFilter(show_steps=config.execution.verbosity > 0))
    stream.bids_deface = True
    root.addHandler(stream)
    logging.captureWarnings(True)  # third-party warnings: to the log file (the filter keeps them off the terminal)
    logging.getLogger("bidsschematools").setLevel(logging.WARNING)
    from nipype import config as nipype_config
    from nipype import logging as nipype_logging

    nipype_level = "INFO" if config.execution.verbosity > 1 else "WARNING"
    nipype_config.update_config(
        {
            "logging": {
                "workflow_level": nipype_level,
                "interface_level": nipype_level,
                "utils_level": nipype_level,
                "log_to_file": False,
            }
        }
    )
    nipype_logging.update_logging(nipype_config)  # nipype applies its own levels when a run starts


def _start_log_file(config: Config) -> None:
    """Create the output and log folders and log to a file there: only once the work starts."""
    config.execution.log_dir.mkdir(parents=True, exist_ok=True)
    logfile = logging.FileHandler(config.execution.log_dir / f"bids_deface_{config.execution.run_uuid}.log")
    logfile.setLevel(logging.DEBUG if config.execution.verbosity > 1 else logging.INFO)
    logfile.setFormatter(_formatter())
    logfile.bids_deface = True
    logging.getLogger().addHandler(logfile)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bids-deface`` console script.

    Usage and input-dataset errors exit 2 before anything is written; an unexpected
    exception anywhere (planning, building the graph, reports, the release) is an internal
    error, exit 3, with its traceback in the log.
    """
    config = parse_args(argv)  # usage errors exit 2 here
    _setup_logging(config)
    LOGGER.info(
        "bids-deface %s: %s level on %s", __version__, config.execution.analysis_level, config.execution.bids_dir
    )
    try:
        if config.execution.analysis_level == "participant":
            from .participant import plan_participant_level as plan
            from .participant import run_participant_level as run
        elif config.execution.analysis_level == "audit":
            from .audit import plan_audit_level as plan
            from .audit import run_audit_level as run
        else:
            from .group import plan_group_level as plan
            from .group import run_group_level as run
        try:
            planned = plan(config)
        except DatasetError as err:
            LOGGER.error("%s", err)
            return EXIT_USAGE
        _start_log_file(config)
        return run(config, planned)
    except KeyboardInterrupt:
        LOGGER.error("interrupted")
        return EXIT_INTERNAL
    except Exception:  # noqa: BLE001 - outside the graph, any other exception is a bug: exit 3, never 1
        LOGGER.exception("internal error (please report it with this traceback)")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
