"""Running the command line in a test: the exit code with the log lines, or a usage error."""

from __future__ import annotations

import logging

import pytest

from bids_deface.cli.run import main


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append((record.levelno, record.getMessage()))


def run_logged(argv: list[str]) -> tuple[int, list[tuple[int, str]]]:
    """``main(argv)``'s exit code and the (level, message) of every bids_deface log line it wrote."""
    messages = _Collect()
    logger = logging.getLogger("bids_deface")
    logger.addHandler(messages)
    try:
        return main(argv), messages.lines
    finally:
        logger.removeHandler(messages)


def usage_error(argv: list[str], capsys) -> tuple[int, str]:
    """The exit code and stderr of a command line the parser rejects (argparse exits)."""
    with pytest.raises(SystemExit) as err:
        main(argv)
    return err.value.code, capsys.readouterr().err


def run_audit(bids, out, work, *extra) -> dict:
    """An audit level run: its exit code, its log lines and its ``audit_summary.json``."""
    import json

    code, lines = run_logged([str(bids), str(out), "audit", "-w", str(work), "--nprocs", "2", *extra])
    summary = json.loads((out / "audit_summary.json").read_text())
    return {"code": code, "lines": [text for _, text in lines], "summary": summary, "out": out}


def audited_images(result: dict) -> dict[str, dict]:
    """Source file -> the summary's entry of each image an audit checked."""
    return {i["source_file"]: i for i in result["summary"]["images_checked"]}
