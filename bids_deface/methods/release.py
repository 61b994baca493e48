"""A release copy of a BIDS dataset: defaced, scrubbed and valid in one step.

:func:`make_release` writes a complete copy of the input dataset in which the given
images are replaced by their defaced versions and the given sidecars by their scrubbed
content; every other file is hard-linked (copied when linking is impossible). The input
dataset is only read. :func:`scan_leftovers` then searches every file of the release,
inside gzip streams too, for values that were scrubbed.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

LOGGER = logging.getLogger(__name__)

#: Marks a directory as a release written by this module (hidden: validators skip it).
MARKER = ".bids_deface_release.json"
#: Top-level folders never copied: raw DICOM, derivatives computed from the faces,
#: converter bookkeeping (``.heudiconv`` holds DICOM header tables) and version control.
EXCLUDED_TOP_LEVEL = ("sourcedata", "derivatives", ".heudiconv", ".git", ".datalad")
README_NAMES = ("README", "README.md", "README.rst", "README.txt")
#: Values shorter than this would match by chance and are not searched for.
MIN_VALUE_LENGTH = 4
_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class ReleaseSummary:
    """What :func:`make_release` wrote (paths relative to the release)."""

    release_dir: Path
    replaced: tuple[str, ...]
    sidecars: tuple[str, ...]
    linked: int
    copied: int
    readme: str
    images_not_replaced: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Leftover:
    """A scrubbed value found again: in file ``path``, value number ``value_index``."""

    path: Path
    value_index: int


def _relative(path: Path | str, what: str) -> str:
    rel = PurePosixPath(Path(path).as_posix())
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"{path}: {what} keys must be paths relative to the dataset, inside it")
    return str(rel)


def _is_our_release(path: Path) -> bool:
    return (path / MARKER).is_file()


def _check_target(bids_dir: Path, release_dir: Path) -> None:
    if release_dir == bids_dir or release_dir.is_relative_to(bids_dir):
        raise ValueError(f"{release_dir}: the release directory must be outside the input dataset {bids_dir}")
    if bids_dir.is_relative_to(release_dir):
        raise ValueError(f"{release_dir}: the release directory must not contain the input dataset {bids_dir}")
    for path in (release_dir, release_dir.with_name(release_dir.name + ".partial")):
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path}: exists and is not a directory")
        if path.is_dir() and any(path.iterdir()) and not _is_our_release(path):
            raise ValueError(f"{path}: not empty and not a previous bids_deface release; refusing to overwrite it")


def _write_bytes(path: Path, data: bytes) -> None:
    """Write atomically: temporary file beside ``path``, then :func:`os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json(path: Path, content: Mapping) -> None:
    _write_bytes(path, (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (content and times, never a link)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _link_or_copy(src: Path, dst: Path) -> bool:
    """Hard-link ``src`` (symlinks resolved) to ``dst``; copy when impossible. True if linked."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src.resolve(), dst)
        return True
    except OSError as err:
        LOGGER.debug("%s: hard link impossible (%s); copying", src, err)
        _copy(src.resolve(), dst)
        return False


def _dataset_files(bids_dir: Path) -> list[str]:
    files = []
    for root, dirs, names in os.walk(bids_dir):
        rel_root = Path(root).relative_to(bids_dir)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in EXCLUDED_TOP_LEVEL]
        dirs.sort()
        files.extend((rel_root / name).as_posix() for name in sorted(names))
    return files


def _release_description(bids_dir: Path, generated_by: dict) -> dict:
    path = bids_dir / "dataset_description.json"
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable dataset description ({err})") from err
    description["DatasetType"] = "raw"  # a release is a dataset, not derivatives
    entries = list(description.get("GeneratedBy", []))
    entries.append(generated_by)
    description["GeneratedBy"] = entries
    return description


def _readme_with_note(bids_dir: Path, note: str, generated_by: dict) -> tuple[str, bytes]:
    name = next((n for n in README_NAMES if (bids_dir / n).is_file()), "README")
    original = (bids_dir / name).read_bytes() if (bids_dir / name).is_file() else b""
    heading = f"De-identified release ({generated_by['Name']} {generated_by['Version']})"
    underline = "=" * len(heading) if name.endswith(".rst") else ""
    block = f"## {heading}\n" if not underline else f"{heading}\n{underline}\n"
    text = f"{block}\n{note.strip()}\n"
    if original:
        original = original if original.endswith(b"\n") else original + b"\n"
        original += b"\n"
    return name, original + text.encode("utf-8")


def make_release(
    bids_dir: Path,
    release_dir: Path,
    replacements: dict[Path, Path],
    sidecars: dict[Path, dict],
    *,
    note: str,
    generated_by: dict | None = None,
) -> ReleaseSummary:
    """Write a defaced, scrubbed copy of ``bids_dir`` into ``release_dir``.

    Parameters
    ----------
    bids_dir
        The input dataset (only read).
    release_dir
        Where the release goes: must be outside ``bids_dir``, and absent, empty or a
        previous release of ours (replaced as a whole).
    replacements
        Source relative path -> defaced image: the defaced file is copied in place of
        the source, whose bytes never enter the release.
    sidecars
        Relative path -> scrubbed JSON content (also for sidecars the source lacks).
    note
        What was done; appended to the README (created if absent).
    generated_by
        The ``GeneratedBy`` entry added to ``dataset_description.json``; defaults to
        this package's name and version.

    Returns
    -------
    ReleaseSummary

    Notes
    -----
    The release is built in ``<release_dir>.partial`` and renamed at the end; every
    file written is written to a temporary name and renamed. Unmodified files are hard
    links to the input when both are on one filesystem: editing them in place would
    edit the input. ``sourcedata/``, ``derivatives/``, ``.heudiconv/`` and VCS folders
    are not copied.
    """
    bids_dir, release_dir = Path(bids_dir).resolve(), Path(release_dir).resolve()
    if not (bids_dir / "dataset_description.json").is_file():
        raise ValueError(f"{bids_dir}: not a BIDS dataset (no dataset_description.json)")
    _check_target(bids_dir, release_dir)
    if generated_by is None:
        from .. import __version__

        generated_by = {"Name": "bids_deface", "Version": __version__, "Description": "defaced, metadata-scrubbed release"}
    replaced = {_relative(k, "replacements"): Path(v) for k, v in replacements.items()}
    scrubbed = {_relative(k, "sidecars"): v for k, v in sidecars.items()}
    for rel, defaced in replaced.items():
        source = bids_dir / rel
        if not source.is_file():
            raise ValueError(f"{source}: replacement given for a file that is not in the dataset")
        if not defaced.is_file():
            raise ValueError(f"{defaced}: defaced image for {rel} does not exist")
        if os.path.samefile(source, defaced):
            raise ValueError(f"{defaced}: the 'defaced' image for {rel} is the original file itself")

    partial = release_dir.with_name(release_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # a crashed previous release of ours (checked above)
    partial.mkdir(parents=True)
    _write_json(partial / MARKER, {"GeneratedBy": generated_by})

    readme_name, readme = _readme_with_note(bids_dir, note, generated_by)
    written = {"dataset_description.json", readme_name, *replaced, *scrubbed}
    linked = copied = 0
    not_replaced = []
    for rel in _dataset_files(bids_dir):
        if rel in written:
            continue
        if re.search(r"\.nii(\.gz)?$", rel) and "/anat/" in f"/{rel}":
            not_replaced.append(rel)
        if _link_or_copy(bids_dir / rel, partial / rel):
            linked += 1
        else:
            copied += 1
    for rel, defaced in replaced.items():
        _copy(defaced, partial / rel)
    for rel, content in scrubbed.items():
        _write_json(partial / rel, content)
    _write_json(partial / "dataset_description.json", _release_description(bids_dir, generated_by))
    _write_bytes(partial / readme_name, readme)
    if not_replaced:
        LOGGER.warning("%d anatomical images copied unchanged (not defaced): %s", len(not_replaced), ", ".join(not_replaced))

    if release_dir.exists():  # absent, empty, or a previous release of ours (checked above)
        old = Path(tempfile.mkdtemp(prefix=f".{release_dir.name}.old.", dir=release_dir.parent))
        os.replace(release_dir, old / "release")
        os.replace(partial, release_dir)
        shutil.rmtree(old)
    else:
        os.replace(partial, release_dir)
    LOGGER.info("release written to %s: %d replaced, %d sidecars, %d linked, %d copied",
                release_dir, len(replaced), len(scrubbed), linked, copied)
    return ReleaseSummary(release_dir, tuple(sorted(replaced)), tuple(sorted(scrubbed)), linked, copied,
                          readme_name, tuple(not_replaced))


# --------------------------------------------------------------------------- leftovers


def _patterns(values: Iterable[str]) -> list[tuple[bytes, int]]:
    patterns = []
    for index, value in enumerate(values):
        text = str(value).strip()
        if len(text) < MIN_VALUE_LENGTH:
            continue
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


def scan_leftovers(root: Path, values: Iterable[str]) -> list[Leftover]:
    """Search every file under ``root`` for any of ``values``.

    Each value is searched for, case-insensitively (ASCII), as UTF-8 and UTF-16LE
    bytes, in text and binary files and inside gzip streams (``.nii.gz``). Values
    shorter than :data:`MIN_VALUE_LENGTH` characters are ignored (they would match by
    chance). Logs name the file and the value's index, never the value.

    Returns
    -------
    list of Leftover
        One per (file, value index) found, sorted by path then index.
    """
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
            tail = window[-(longest - 1):] if longest > 1 else b""
        for index in sorted(hits):
            LOGGER.warning("%s: holds scrubbed value #%d", path, index)
            found.append(Leftover(path, index))
    return found
