"""Search every byte of a folder for values that were removed, in all their spellings."""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .freetext import MIN_VALUE_LENGTH, find_patterns, spellings

LOGGER = logging.getLogger(__name__)
_CHUNK = 16 * 1024 * 1024
#: Text files searched for e-mail addresses and telephone numbers as well.
TEXT_SUFFIXES = (".json", ".tsv", ".txt", ".md", ".rst", ".csv", "")


@dataclass(frozen=True)
class Leftover:
    """A removed value found again: in file ``path``, value number ``value_index``.

    ``origin`` says where the value was removed from (a file and a field), never the value.
    """

    path: Path
    value_index: int
    origin: str = field(default="", compare=False)


def _patterns(values: Sequence[str]) -> list[tuple[bytes, int]]:
    patterns = []
    for index, value in enumerate(values):
        for text in spellings(value):
            for encoding in ("utf-8", "utf-16-le"):
                patterns.append((text.encode(encoding).lower(), index))
    return patterns


def _streams(path: Path):
    """Yield ``(stream, chunk)`` pairs: a file's bytes; for gzip files, the raw head
    (its FNAME/FCOMMENT fields may hold names) then the decompressed stream."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        with open(path, "rb") as fh:
            yield "gzip-header", fh.read(64 * 1024)
        try:
            with gzip.open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield "gzip-content", chunk
            return
        except (OSError, EOFError, zlib.error) as err:
            LOGGER.warning("%s: corrupt gzip stream (%s); searching its raw bytes", path, err)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield "raw", chunk


def scan_leftovers(root: Path, values: Iterable[str], origins: Sequence[str] | None = None) -> list[Leftover]:
    """Search every file under ``root`` for any of ``values``.

    Each value is searched for in every spelling :func:`~.freetext.spellings` gives
    (separators, name order, date formats), case-insensitively (ASCII), as UTF-8 and
    UTF-16LE bytes, in text and binary files, inside gzip streams (``.nii.gz``) and in
    gzip headers. Spellings shorter than :data:`~.freetext.MIN_VALUE_LENGTH`
    characters are ignored (they would match by chance). Logs name the file and the
    value's index and origin, never the value.

    Returns
    -------
    list of Leftover
        One per (file, value index) found, sorted by path then index.
    """
    values = list(values)
    origins = list(origins) if origins is not None else [""] * len(values)
    patterns = _patterns(values)
    if not patterns:
        return []
    longest = max(len(p) for p, _ in patterns)
    regex = re.compile(b"|".join(re.escape(p) for p, _ in sorted(patterns, key=lambda x: -len(x[0]))))
    found: list[Leftover] = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        hits: set[int] = set()
        tail, current = b"", None
        for stream, chunk in _streams(path):
            if stream != current:
                tail, current = b"", stream
            window = (tail + chunk).lower()
            if regex.search(window):
                hits.update(index for pattern, index in patterns if pattern in window)
            tail = window[-(longest - 1) :] if longest > 1 else b""
        for index in sorted(hits):
            LOGGER.warning(
                "%s: holds removed value #%d%s", path, index, f" (from {origins[index]})" if origins[index] else ""
            )
            found.append(Leftover(path, index, origins[index]))
    return found


def scan_patterns(root: Path) -> list[dict]:
    """E-mail addresses and telephone numbers in the text files under ``root``: one entry per
    file and kind, with a count (for the summary: text kept on purpose, to be read)."""
    findings = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() not in TEXT_SUFFIXES or path.stat().st_size > 16 * 1024 * 1024:
            continue
        counts: Counter = find_patterns(path.read_text(encoding="utf-8", errors="replace"))
        findings += [
            {"path": path.relative_to(root).as_posix(), "kind": kind, "count": n} for kind, n in counts.items()
        ]
    return findings


__all__ = ["MIN_VALUE_LENGTH", "Leftover", "scan_leftovers", "scan_patterns"]
