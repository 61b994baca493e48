"""Turn nipype crash files into 'which image, and why'."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_EXC_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit)): (?P<message>.*)$")
#: Exception types that are expected failures of one image (exit 1), not bugs (exit 3).
EXPECTED = ("InputImageError", "RegistrationError", "BidsDefaceError")
#: OSErrors of the machine's state, not of the code: no space left (28), over quota (122), read-only (30).
ENVIRONMENT_ERRNOS = (28, 122, 30)
_ENVIRONMENT = re.compile(rf"^\[Errno ({'|'.join(map(str, ENVIRONMENT_ERRNOS))})\] ")


@dataclass(frozen=True)
class Crash:
    node: str
    exception: str
    message: str

    @property
    def expected(self) -> bool:
        name = self.exception.rsplit(".", 1)[-1]
        return name in EXPECTED or (name in ("OSError", "IOError") and bool(_ENVIRONMENT.match(self.message)))


def read_crash(path: Path) -> Crash:
    """Parse a nipype text crash file (``crashfile_format = txt``)."""
    text = path.read_text(errors="replace")
    node = ""
    for line in text.splitlines():
        if line.startswith("Node:"):
            node = line.split(":", 1)[1].strip()
            break
    exception, message = "Exception", text.strip().splitlines()[-1] if text.strip() else "unknown error"
    for line in reversed(text.splitlines()):
        match = _EXC_LINE.match(line.strip())
        if match:
            exception, message = match.group("type"), match.group("message")
            break
    return Crash(node=node, exception=exception, message=message)


def read_crashes(crash_dir: Path) -> list[Crash]:
    if not crash_dir.is_dir():
        return []
    return [read_crash(p) for p in sorted(crash_dir.glob("crash-*.txt"))]


#: When several steps of an image failed (the template registration and the independent brain
#: registration run side by side, and both stop on a bad input), the one the record names.
FIRST_STEPS = ("register_template", "coregister")


def first_crash(crashes: list[Crash]) -> Crash | None:
    """The crash a record names: a registration's first (it fails for the input's own reason), else the earliest.

    ``crashes`` in the order they happened (:func:`read_crashes`: crash files sort by time).
    """

    def rank(item: tuple[int, Crash]) -> tuple[int, int]:
        step = item[1].node.rsplit(".", 1)[-1]
        return (FIRST_STEPS.index(step) if step in FIRST_STEPS else len(FIRST_STEPS), item[0])

    return min(enumerate(crashes), key=rank, default=(None, None))[1]
