"""The layout the architecture page describes: rooms import only what they may, reading is light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bids_deface"
ROOMS = ("deface", "qa", "impact", "metadata")
SHARED = {"io", "volume", "overlap", "errors", "record", "ants_bridge"}


def _imports(path: Path) -> set[str]:
    """Absolute names of the bids_deface modules a file imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found |= {name} | {f"{name}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {n for n in found if n.startswith("bids_deface")}


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_itself_and_the_shared_modules(room):
    allowed = {f"bids_deface.methods.{room}"} | {f"bids_deface.methods.{m}" for m in SHARED}
    for path in (PACKAGE / "methods" / room).glob("*.py"):
        for name in _imports(path):
            if name == "bids_deface.methods":  # "from bids_deface.methods import overlap": checked by its member
                continue
            if name.startswith("bids_deface.methods."):
                target = name.split(".")
                assert len(target) > 2 and ".".join(target[:3]) in allowed, f"{path.name} imports {name}"
            else:
                pytest.fail(f"{path}: the science imports {name} (only bids_deface.methods may be used)")


def test_the_science_never_imports_nipype_or_the_config():
    for path in (PACKAGE / "methods").rglob("*.py"):
        text = path.read_text()
        assert "import nipype" not in text and "from nipype" not in text, path
        assert not any(n.startswith("bids_deface.config") for n in _imports(path)), path


def test_reading_records_and_the_config_stays_light():
    code = (
        "import sys, bids_deface.derivatives, bids_deface.config, bids_deface.methods.record; "
        "print(sorted(m for m in ('nipype', 'niworkflows', 'templateflow', 'ants') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
