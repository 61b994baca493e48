"""docs/guarantees.rst's table is the rendering of tests/guarantees.py, and each case names a real test."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from guarantees import CASES

ROOT = Path(__file__).resolve().parents[1]


def _renderer():
    spec = importlib.util.spec_from_file_location("render_guarantees", ROOT / "docs" / "render_guarantees.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_case_names_a_test_that_exists():
    missing = []
    for case, c in CASES.items():
        module, _, name = c["test"].partition("::")
        source = ROOT / "tests" / module
        functions = {n.name for n in ast.walk(ast.parse(source.read_text())) if isinstance(n, ast.FunctionDef)}
        if name.split("[")[0] not in functions:
            missing.append(f"{case}: {c['test']}")
    assert not missing


def test_every_case_is_recorded_by_its_test():
    """The case id appears in the test module (an outcome() call), or its prefix in an f-string
    for parametrized tests (``f"bad-{label}"``)."""
    silent = []
    for case, c in CASES.items():
        text = (ROOT / "tests" / c["test"].partition("::")[0]).read_text()
        prefix = case.split("-", 1)[0]
        if f'"{case}"' not in text and f'f"{prefix}-{{' not in text:
            silent.append(case)
    assert not silent


def test_the_docs_table_is_the_rendering_of_the_cases():
    render = _renderer()
    expected = render.render(CASES, {case: c["result"] for case, c in CASES.items()})
    assert render.TABLE.read_text() == expected, "run: python docs/render_guarantees.py --expected"
    for case in CASES:
        assert f"``{case}``" in expected


def test_the_page_is_in_the_toctree():
    index = (ROOT / "docs" / "index.rst").read_text()
    assert "\n   guarantees\n" in index
    assert ".. include:: guarantees_table.inc" in (ROOT / "docs" / "guarantees.rst").read_text()
