"""The documentation builds with warnings as errors, and its CLI reference is complete."""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bids_deface.cli.parser import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs"

pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[docs]')")
pytest.importorskip("sphinxarg", reason="sphinx-argparse is not installed")
pytest.importorskip("myst_parser", reason="myst-parser is not installed")
pytestmark = pytest.mark.skipif(not (DOCS / "conf.py").is_file(), reason=f"{DOCS}: no Sphinx sources")


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> Path:
    """Build the HTML documentation once, as ``make docs`` does (-W: warnings are errors)."""
    out = tmp_path_factory.mktemp("docs_html")
    doctrees = tmp_path_factory.mktemp("doctrees")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(doctrees),
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _page_text(path: Path) -> str:
    """Visible text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


def test_every_page_is_built(built_docs):
    for page in ("index", "installation", "usage", "outputs", "methods", "scrubbing", "hpc", "ci", "guarantees"):
        assert (built_docs / f"{page}.html").is_file(), f"{page}.html was not built"


def test_cli_reference_lists_every_option(built_docs):
    """The usage page is generated from build_parser(): every option string and positional is there."""
    text = _page_text(built_docs / "usage.html")
    parser = build_parser()
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue  # sphinx-argparse leaves out -h/--help
        names = action.option_strings or [action.dest]
        missing += [name for name in names if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
    assert not missing, f"options missing from the CLI reference: {missing}"


def test_cli_reference_shows_choices_and_help(built_docs):
    text = _page_text(built_docs / "usage.html")
    for action in build_parser()._actions:
        if action.choices and action.option_strings:
            for choice in action.choices:
                assert str(choice) in text, f"{action.option_strings[0]}: choice {choice!r} not documented"
    assert "Exit codes" in text


def test_methods_cite_the_key_papers(built_docs):
    text = _page_text(built_docs / "methods.html")
    for needle in ("617997", "Bischoff-Grethe", "Schwarz CG", "Cali RJ", "Gulban OF", "Avants BB", "Quickshear"):
        assert needle in text, f"methods page does not cite {needle}"


def test_scrubbing_page_is_included(built_docs):
    text = _page_text(built_docs / "scrubbing.html")
    assert "Metadata scrubbing" in text
    assert "scrubbing" in _page_text(built_docs / "index.html")
