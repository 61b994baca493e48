"""A release copy of a BIDS dataset: defaced, scrubbed and searched, in one step.

:func:`make_release` writes a copy of the input dataset in which the given images are
replaced by their defaced versions and every other file is written by what it is
(:mod:`.catalog`): NIfTI headers scrubbed and gzip names dropped, sidecars and tables
scrubbed by the policy, free text redacted, everything outside BIDS left out and
listed. It then searches every released byte for each value it removed, in all its
spellings (:mod:`.leftovers`). The input dataset is only read; every file is copied,
never linked.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from . import catalog
from .leftovers import Leftover, scan_leftovers, scan_patterns
from .policy import ScrubPolicy
from .writer import ReleaseWriter, missing_reason, write_json

LOGGER = logging.getLogger(__name__)

#: Marks a directory as a release written by this module (hidden: validators skip it).
MARKER = ".bids_deface_release.json"
#: dataset_description.json fields copied as they are (the rest is redacted as free text).
NAMES_NOTE = (
    "Free text was searched for the removed values, e-mail addresses, telephone numbers and dates; "
    "a personal name that matches no removed value cannot be found by any rule: read README, CHANGES and "
    "the kept columns before publishing."
)


class ReleaseBusy(RuntimeError):
    """Another process is writing a release into the same folder."""


@contextmanager
def release_lock(release_dir: Path):
    """Hold an ``flock`` on the folder that holds ``release_dir`` (and its ``.partial``) for the block.

    Two runs releasing into one folder at once would remove each other's partial release; the
    second is refused instead. The lock is on the parent directory itself (no file is created),
    and the kernel drops it when its process ends, ``kill -9`` included.
    """
    parent = release_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReleaseBusy(
                f"{release_dir}: another bids-deface run is writing a release in {parent}; wait for it to end"
            ) from None
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ReleaseSummary:
    """What :func:`make_release` wrote and found (paths relative to the release)."""

    release_dir: Path
    replaced: tuple[str, ...]
    sidecars: tuple[str, ...]
    copied: int
    readme: str
    images_not_replaced: tuple[str, ...] = ()
    files: dict = field(default_factory=dict)  #: relative path -> how it was written
    excluded: dict = field(default_factory=dict)  #: relative path -> why it stayed out
    missing: tuple[str, ...] = ()  #: files whose content is not present (annexed, dangling links)
    removed: tuple[dict, ...] = ()  #: fields and columns removed, counted by name and reason
    redacted: tuple[dict, ...] = ()  #: free text removed, counted by file and kind
    kept: tuple[dict, ...] = ()  #: what might identify and is kept on purpose, with the reason
    leftovers: tuple[Leftover, ...] = ()
    findings: tuple[dict, ...] = ()  #: e-mail addresses and telephone numbers in released text
    values_checked: int = 0
    published: bool = True  #: False: left in ``<release_dir>.partial`` (not clean, ``publish_unclean=False``)

    @property
    def clean(self) -> bool:
        """No removed value found again and no file missing."""
        return not self.leftovers and not self.missing

    def as_dict(self) -> dict:
        """The summary as JSON-ready data: names, paths and counts, never a removed value."""
        return {
            "release_dir": str(self.release_dir),
            "images_replaced": len(self.replaced),
            "sidecars_scrubbed": len(self.sidecars),
            "files_written": len(self.files),
            "files_by_action": dict(Counter(self.files.values())),
            "images_not_replaced": list(self.images_not_replaced),
            "excluded": [{"path": p, "reason": r} for p, r in self.excluded.items()],
            "missing": list(self.missing),
            "removed": list(self.removed),
            "redacted": list(self.redacted),
            "kept_on_purpose": list(self.kept),
            "identifying_values_checked": self.values_checked,
            "leftovers": [
                {"path": str(i.path), "value_index": i.value_index, "origin": i.origin} for i in self.leftovers
            ],
            "findings": list(self.findings),
            "note": NAMES_NOTE,
            "published": self.published,
        }


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


def _checked_inputs(
    bids_dir: Path, release_dir: Path, replacements: dict[Path, Path], sidecars: dict[Path, dict]
) -> tuple[dict[str, Path], dict[str, dict]]:
    """The replacements and sidecar overrides keyed by relative path, once the dataset, the target and
    every replacement are checked (ValueError otherwise)."""
    if not (bids_dir / "dataset_description.json").is_file():
        raise ValueError(f"{bids_dir}: not a BIDS dataset (no dataset_description.json)")
    _check_target(bids_dir, release_dir)
    replaced = {_relative(k, "replacements"): Path(v) for k, v in replacements.items()}
    overrides = {_relative(k, "sidecars"): v for k, v in sidecars.items()}
    _check_replacements(bids_dir, replaced)
    return replaced, overrides


def _start_partial(release_dir: Path, generated_by: dict) -> Path:
    """An empty ``<release_dir>.partial`` with our marker: the release is built and searched there."""
    partial = release_dir.with_name(release_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # a crashed previous release of ours (see _check_target)
    partial.mkdir(parents=True)
    write_json(partial / MARKER, {"GeneratedBy": generated_by})
    return partial


def _build_release(
    writer: ReleaseWriter,
    release_dir: Path,
    replaced: dict[str, Path],
    overrides: dict[str, dict],
    include,
    note: str,
    generated_by: dict,
) -> ReleaseSummary:
    """Write every file into the partial release (``writer.out``), search it, and sum it up."""
    files, excluded, missing, not_replaced = _write_files(writer, replaced, overrides, include)
    writer.drop_labels(files)
    readme = _write_texts(writer, writer.bids_dir, files, note, generated_by)
    if not_replaced:
        LOGGER.warning(
            "%d anatomical images released without defacing (headers scrubbed): %s",
            len(not_replaced),
            ", ".join(not_replaced),
        )
    values = sorted(writer.values)
    leftovers, findings = _search(writer, writer.out, release_dir, values)
    return ReleaseSummary(
        release_dir,
        tuple(sorted(replaced)),
        tuple(sorted(r for r, a in files.items() if a == catalog.SIDECAR)),
        sum(a == catalog.COPY for a in files.values()),
        readme,
        tuple(not_replaced),
        files,
        excluded,
        tuple(missing),
        writer.removed_summary(),
        tuple(writer.redacted),
        tuple(writer.kept),
        leftovers,
        findings,
        len(values),
    )


def _publish(partial: Path, summary: ReleaseSummary) -> None:
    """Rename the searched partial release into place, then say so."""
    _move_into_place(partial, summary.release_dir)
    LOGGER.info(
        "release written to %s: %d files (%d replaced), %d left out",
        summary.release_dir,
        len(summary.files),
        len(summary.replaced),
        len(summary.excluded),
    )


def make_release(
    bids_dir: Path,
    release_dir: Path,
    replacements: dict[Path, Path],
    sidecars: dict[Path, dict],
    *,
    note: str,
    policy: ScrubPolicy | None = None,
    include=(),
    generated_by: dict | None = None,
    publish_unclean: bool = True,
) -> ReleaseSummary:
    """Write a defaced, scrubbed copy of ``bids_dir`` into ``release_dir`` and search it.

    Parameters
    ----------
    bids_dir
        The input dataset (only read).
    release_dir
        Where the release goes: must be outside ``bids_dir``, and absent, empty or a
        previous release of ours (replaced as a whole).
    replacements
        Source relative path -> defaced image: the defaced file (header scrubbed, no
        gzip name) takes the place of the source, whose bytes never enter the release.
    sidecars
        Relative path -> sidecar content to write instead of the source's (the defaced
        images' sidecars with their provenance; also for sidecars the source lacks).
        Scrubbed by ``policy`` too.
    note
        What was done; appended to the README (created if absent).
    policy
        The scrubbing policy for every sidecar, header, table and text (default level).
    include
        Patterns of files kept out by default (``code/**``) to copy as they are.
    publish_unclean
        False: a release that is not :attr:`~ReleaseSummary.clean` (a removed value found again,
        a file's content missing) is not renamed into place; it stays in
        ``<release_dir>.partial`` for inspection and an earlier release is left as it was.
    generated_by
        The ``GeneratedBy`` entry added to ``dataset_description.json`` (the caller
        gives the version); defaults to the name only.

    Notes
    -----
    The release is built in ``<release_dir>.partial``, searched there, and renamed at
    the end; every file is written to a temporary name and renamed. An ``OSError`` (a full
    disk) removes the partial release before it propagates; a process killed meanwhile
    leaves only ``<release_dir>.partial``, which the next release replaces. One release is
    written into a folder at a time (:func:`release_lock`; :class:`ReleaseBusy` otherwise). Files are copied,
    never hard-linked: editing a release never edits the input.
    """
    bids_dir, release_dir = Path(bids_dir).resolve(), Path(release_dir).resolve()
    with release_lock(release_dir):
        replaced, overrides = _checked_inputs(bids_dir, release_dir, replacements, sidecars)
        generated_by = generated_by or {"Name": "bids_deface", "Description": "defaced, metadata-scrubbed release"}
        partial = _start_partial(release_dir, generated_by)
        try:
            writer = ReleaseWriter(bids_dir, partial, policy or ScrubPolicy())
            summary = _build_release(writer, release_dir, replaced, overrides, include, note, generated_by)
            if summary.clean or publish_unclean:
                _publish(partial, summary)
            else:
                summary = replace(summary, published=False)
        except OSError:  # e.g. no space left: no partial release stays behind to be taken for one
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return summary


def _write_texts(writer: ReleaseWriter, bids_dir: Path, files: dict, note: str, generated_by: dict) -> str:
    """README (with the note), CHANGES and the other free text, redacted; dataset_description.json.

    Returns the README's name.
    """
    readme = next((n for n in catalog.README_NAMES if (bids_dir / n).is_file()), "README")
    label = " ".join(str(v) for v in (generated_by["Name"], generated_by.get("Version")) if v)
    heading = f"De-identified release ({label})"
    block = f"{heading}\n{'=' * len(heading)}\n" if readme.endswith(".rst") else f"## {heading}\n"
    for rel in [n for n in catalog.FREE_TEXT if (bids_dir / n).is_file() and n != readme] + [readme]:
        writer.free_text(rel, note=f"{block}\n{note.strip()}\n" if rel == readme else "")
        files[rel] = catalog.FREETEXT
    writer.description(generated_by)
    files["dataset_description.json"] = catalog.DESCRIPTION
    return readme


def _search(writer: ReleaseWriter, partial: Path, release_dir: Path, values: list[str]) -> tuple[tuple, tuple]:
    """Every removed value searched for in every released byte, and the identifier patterns."""
    found = scan_leftovers(partial, values, [writer.values[v] for v in values])
    leftovers = tuple(Leftover(release_dir / i.path.relative_to(partial), i.value_index, i.origin) for i in found)
    return leftovers, tuple(scan_patterns(partial))


def _check_replacements(bids_dir: Path, replaced: dict[str, Path]) -> None:
    for rel, defaced in replaced.items():
        source = bids_dir / rel
        if not source.is_file():
            raise ValueError(f"{source}: replacement given for a file that is not in the dataset")
        if not defaced.is_file():
            raise ValueError(f"{defaced}: defaced image for {rel} does not exist")
        if os.path.samefile(source, defaced):
            raise ValueError(f"{defaced}: the 'defaced' image for {rel} is the original file itself")


def _write_files(writer: ReleaseWriter, replaced: dict[str, Path], overrides: dict[str, dict], include):
    """Write every file but the free text and the description; tables before their dictionaries."""
    files, excluded, missing, not_replaced = {}, {}, [], []
    plan = {}
    for rel in catalog.dataset_files(writer.bids_dir):
        action, reason = catalog.classify(rel, include)
        if action is None:
            excluded[rel] = reason
        elif action not in (catalog.FREETEXT, catalog.DESCRIPTION):
            plan[rel] = action
    for rel in overrides:
        plan.setdefault(rel, catalog.SIDECAR)
    order = {catalog.TABLE: 0, catalog.DICTIONARY: 2}
    for rel, action in sorted(plan.items(), key=lambda item: (order.get(item[1], 1), item[0])):
        source = writer.bids_dir / rel
        if not source.exists() and rel not in overrides:
            missing.append(missing_reason(source))
            continue
        if action == catalog.NIFTI:
            if rel not in replaced and "/anat/" in f"/{rel}":
                not_replaced.append(rel)
            writer.nifti(rel, replaced.get(rel))
        elif action == catalog.SIDECAR:
            writer.sidecar(rel, overrides.get(rel))
        elif action == catalog.TABLE:
            writer.table(rel)
        elif action == catalog.DICTIONARY:
            writer.dictionary(rel)
        else:
            writer.copy(rel)
        files[rel] = action
    for rel in missing:
        LOGGER.error("%s", rel)
    return files, excluded, missing, not_replaced


def _move_into_place(partial: Path, release_dir: Path) -> None:
    if release_dir.exists():  # absent, empty, or a previous release of ours (checked before)
        old = Path(tempfile.mkdtemp(prefix=f".{release_dir.name}.old.", dir=release_dir.parent))
        os.replace(release_dir, old / "release")
        os.replace(partial, release_dir)
        shutil.rmtree(old)
    else:
        os.replace(partial, release_dir)


__all__ = ["MARKER", "ReleaseBusy", "ReleaseSummary", "make_release", "release_lock"]
