"""Write the pinned constraints the container installs with, from an environment that works.

Walks the installed distribution ``bids_deface`` (with the extras given) through
``importlib.metadata``, keeping every requirement whose environment marker is true here, and
prints ``name==version`` for each distribution of that closure, so that the image gets exactly
the versions the test suite passed with:

    .venv/bin/python docker/pin_requirements.py --extras test > docker/constraints.txt

The project itself is left out (the image installs it from the wheel it builds).
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata

from packaging.requirements import Requirement


def _norm(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str, extras: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of every distribution ``root[extras]`` needs here (root excluded).

    Parameters
    ----------
    root : str
        Distribution name.
    extras : tuple of str
        Extras of ``root`` to follow as well.

    Returns
    -------
    dict
        Normalised name -> installed version.

    Raises
    ------
    metadata.PackageNotFoundError
        When a required distribution is not installed (the environment is incomplete).
    """
    found: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, tuple(extras))]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (_norm(name), wanted) in seen:
            continue
        seen.add((_norm(name), wanted))
        dist = metadata.distribution(name)
        if _norm(name) != _norm(root):
            found[_norm(dist.metadata["Name"])] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, tuple(sorted(req.extras))))
    return dict(sorted(found.items()))


def main(argv: list[str] | None = None) -> int:
    """Print the pinned closure as a pip constraints file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="bids_deface")
    parser.add_argument("--extras", nargs="*", default=[])
    parser.add_argument("--also", nargs="*", default=["pip", "setuptools"],
                        help="installed distributions to pin as well (the image's installer; "
                        "setuptools also provides pkg_resources, which face_recognition_models imports)")
    opts = parser.parse_args(argv)
    pins = closure(opts.root, tuple(opts.extras))
    for name in opts.also:
        pins[_norm(name)] = metadata.version(name)
    pins = dict(sorted(pins.items()))
    extras = f"[{','.join(opts.extras)}]" if opts.extras else ""
    print(f"# Pinned versions for the container: the closure of {opts.root}{extras}, frozen from the")
    print(f"# environment the test suite passed in (Python {sys.version.split()[0]}).")
    print("# Regenerate: .venv/bin/python docker/pin_requirements.py --extras " + " ".join(opts.extras))
    for name, version in pins.items():
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
