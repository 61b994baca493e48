"""The CI workflows of docs/ci.rst: valid YAML, and they run the documented audit command."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from bids_deface.cli.parser import parse_args

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _commands(node) -> list[str]:
    """Every shell line of a workflow (GitHub ``run`` blocks, GitLab ``script`` lists)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                found += value.splitlines()
            elif key == "script" and isinstance(value, list):
                found += [line for item in value for line in str(item).split(";")]
            else:
                found += _commands(value)
    elif isinstance(node, list):
        for value in node:
            found += _commands(value)
    return found


def _audit_argv(line: str) -> list[str]:
    """The bids-deface arguments of a shell line (after the image of ``docker run``, or the program name)."""
    words = shlex.split(line.replace("\\\n", " ").split("||")[0])
    if "bids-deface" in words:
        return words[words.index("bids-deface") + 1 :]
    image = next(i for i, w in enumerate(words) if w == '"$BIDS_DEFACE_IMAGE"' or w == "$BIDS_DEFACE_IMAGE")
    return words[image + 1 :]


@pytest.mark.parametrize("name", ["github-audit.yml", "gitlab-audit.yml"])
def test_the_workflow_is_yaml_and_runs_the_documented_audit(name, tmp_path, monkeypatch):
    workflow = yaml.safe_load((DOCS / "ci" / name).read_text())
    assert isinstance(workflow, dict)
    text = (DOCS / "ci" / name).read_text()
    lines = [line for line in _commands(workflow) if "audit" in line and ("bids-deface" in line or "IMAGE" in line)]
    joined = " ".join(lines).replace("\\", " ")
    argv = _audit_argv(joined[joined.index("docker run") :] if "docker run" in joined else joined)
    assert argv[2] == "audit", argv
    assert "audit_junit.xml" in text  # the JUnit results are published
    assert f"literalinclude:: ci/{name}" in (DOCS / "ci.rst").read_text()
    # the command line parses as the documented one (the folders stand in for the CI paths)
    data, out, work = tmp_path / "data", tmp_path / "out", tmp_path / "work"
    data.mkdir()
    (data / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    paths = {argv[0]: str(data), argv[1]: str(out), argv[argv.index("-w") + 1]: str(work)}
    config = parse_args([paths.get(a, a) for a in argv])
    assert config.execution.analysis_level == "audit" and config.execution.work_dir == work


def test_the_page_documents_the_command_and_the_exit_codes():
    page = (DOCS / "ci.rst").read_text()
    assert "bids-deface /data /out audit" in page
    for code in ("0", "1", "4", "5"):
        assert f"\n{code}     " in page, code
