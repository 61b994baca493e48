"""``bids-deface``: parse, index, build, run, report, exit code."""

from __future__ import annotations

import logging
import sys

from .. import __version__
from ..config import Config
from .parser import parse_args

LOGGER = logging.getLogger("bids_deface")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _setup_logging(config: Config) -> None:
    level = logging.WARNING - 10 * min(config.execution.verbosity + 1, 2)
    fmt = logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s | %(message)s", "%H:%M:%S")
    root = logging.getLogger()
    root.setLevel(min(level, logging.INFO))
    for handler in [h for h in root.handlers if getattr(h, "bids_deface", False)]:
        root.removeHandler(handler)
        handler.close()
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(level)
    config.execution.log_dir.mkdir(parents=True, exist_ok=True)
    logfile = logging.FileHandler(config.execution.log_dir / f"bids_deface_{config.execution.run_uuid}.log")
    logfile.setLevel(logging.DEBUG if config.execution.verbosity > 1 else logging.INFO)
    for handler in (stream, logfile):
        handler.setFormatter(fmt)
        handler.bids_deface = True
        root.addHandler(handler)
    from nipype import config as nipype_config
    from nipype import logging as nipype_logging

    nipype_level = "INFO" if config.execution.verbosity > 1 else "WARNING"
    nipype_config.update_config({"logging": {
        "workflow_level": nipype_level, "interface_level": nipype_level, "utils_level": nipype_level,
        "log_to_file": False,
    }})
    nipype_logging.update_logging(nipype_config)  # nipype applies its own levels when a run starts


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bids-deface`` console script."""
    config = parse_args(argv)  # usage errors exit 2 here
    config.execution.output_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(config)
    LOGGER.info("bids-deface %s: %s level on %s", __version__, config.execution.analysis_level,
                config.execution.bids_dir)
    try:
        if config.execution.analysis_level == "participant":
            from .participant import run_participant_level

            return run_participant_level(config)
        from .group import run_group_level

        return run_group_level(config)
    except KeyboardInterrupt:
        LOGGER.error("interrupted")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
