"""Index the input dataset with pybids and plan the work: sessions, references, images."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from .config import ANAT_SUFFIXES, REFERENCE_PREFERENCE

LOGGER = logging.getLogger(__name__)


class DatasetError(Exception):
    """The input dataset or the selection of data from it is unusable (exit code 2)."""


@dataclass(frozen=True)
class AnatImage:
    """One anatomical image of the input dataset."""

    path: Path
    relpath: str
    subject: str
    session: str | None
    suffix: str
    entities: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def identity(self) -> dict:
        """The fields every record of this image carries."""
        return {"subject": self.subject, "session": self.session or "", "suffix": self.suffix}

    @property
    def key(self) -> str:
        """A unique, identifier-safe name (used for nipype node names)."""
        stem = self.relpath.split("/")[-1].split(".")[0]
        return re.sub(r"[^0-9a-zA-Z]", "_", stem)


@dataclass(frozen=True)
class SessionPlan:
    """The images of one participant's session; the reference carries the template registration."""

    subject: str
    session: str | None
    reference: AnatImage
    images: tuple[AnatImage, ...]

    @property
    def key(self) -> str:
        return f"sub_{self.subject}" + (f"_ses_{self.session}" if self.session else "")


#: Top-level folders pybids does not index (and the fingerprint does not list).
IGNORED = ("code", "stimuli", "sourcedata", "models", "derivatives")
FINGERPRINT_NAME = "bids_deface_fingerprint.txt"


def dataset_fingerprint(bids_dir: Path, *, validate: bool = True) -> str:
    """A digest of the dataset's file listing: names, sizes and modification times.

    Folders pybids ignores (:data:`IGNORED`, dot folders such as ``.git``) are not
    listed. A symlink counts with its target's size and time (a ``datalad get`` changes
    them); a dangling one with its own.
    """
    digest = hashlib.sha256(f"{bids_dir.resolve()}\0validate={validate}\n".encode())
    stack = [bids_dir]
    entries = []
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError as err:
            entries.append(f"{folder}: unreadable ({err.strerror})")
            continue
        for entry in children:
            rel = Path(entry.path).relative_to(bids_dir).as_posix()
            if entry.name.startswith(".") or (folder == bids_dir and entry.name in IGNORED):
                continue
            if entry.is_dir():  # follows symlinks, as pybids does
                stack.append(Path(entry.path))
                continue
            try:
                info = os.stat(entry.path)
            except OSError:
                info = os.lstat(entry.path)
            entries.append(f"{rel}\0{info.st_size}\0{info.st_mtime_ns}")
    for line in sorted(entries):
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


def index_dataset(bids_dir: Path, *, database_path: Path | None = None, validate: bool = True):
    """A pybids ``BIDSLayout`` of the input dataset; the database is cached in ``database_path``.

    The cached database is reused only while the dataset's file listing is unchanged
    (:func:`dataset_fingerprint`, stored beside it): a participant added, or a file
    changed, since the last run with the same work folder is indexed again.
    """
    from bids.exceptions import BIDSValidationError
    from bids.layout import BIDSLayout, BIDSLayoutIndexer

    if not (bids_dir / "dataset_description.json").is_file():
        raise DatasetError(f"{bids_dir}: not a BIDS dataset (no dataset_description.json)")
    kwargs = {}
    fingerprint_file = fingerprint = None
    if database_path is not None:
        database_path.mkdir(parents=True, exist_ok=True)
        fingerprint_file = database_path / FINGERPRINT_NAME
        fingerprint = dataset_fingerprint(bids_dir, validate=validate)
        try:
            cached = fingerprint_file.read_text().strip()
        except OSError:
            cached = None
        kwargs["database_path"] = database_path
        kwargs["reset_database"] = cached != fingerprint
        if cached != fingerprint:
            if cached is not None:
                LOGGER.info("%s: the dataset changed since it was indexed; indexing it again", bids_dir)
            fingerprint_file.unlink(missing_ok=True)  # written again once the new index is complete
    indexer = BIDSLayoutIndexer(validate=validate, ignore=(*IGNORED, re.compile(r"^\.")))
    try:
        layout = BIDSLayout(str(bids_dir), indexer=indexer, **kwargs)
    except (BIDSValidationError, ValueError) as err:
        raise DatasetError(f"{bids_dir}: cannot index the dataset ({err})") from err
    if fingerprint_file is not None:
        from .methods.io import atomic_path

        with atomic_path(fingerprint_file) as tmp:
            tmp.write_text(fingerprint + "\n")
    return layout


def _filters_for(suffix: str, bids_filters: dict) -> dict:
    """fMRIPrep-style filters: keyed by lower-case suffix ("t1w": {...}) or plain entities."""
    keyed = {k.lower(): v for k, v in bids_filters.items() if isinstance(v, dict)}
    if keyed:
        return dict(keyed.get(suffix.lower(), {}))
    return dict(bids_filters)


def _selected_subjects(layout, participants: list[str] | None, sessions: list[str] | None) -> list[str]:
    """The participants to plan; raises :class:`DatasetError` on an unknown participant or session label."""
    known = layout.get_subjects()
    if participants:
        missing = sorted(set(participants) - set(known))
        if missing:
            raise DatasetError(
                f"{layout.root}: participant(s) {', '.join(missing)} not found "
                f"(the dataset has: {', '.join(sorted(known)) or 'none'})"
            )
    subjects = participants or sorted(known)
    if sessions:
        known_sessions = set(layout.get_sessions(subject=subjects))
        missing = sorted(set(sessions) - known_sessions)
        if missing:
            raise DatasetError(
                f"{layout.root}: session(s) {', '.join(missing)} not found for the selected participants "
                f"(available: {', '.join(sorted(known_sessions)) or 'none'})"
            )
    return subjects


def _anat_images(
    layout, subjects: list[str], suffixes, sessions: list[str] | None, bids_filters: dict
) -> dict[str, list[AnatImage]]:
    """Each selected participant's anatomical images of every suffix, in the selected sessions.

    One pybids query per suffix for all participants (one per participant and suffix took
    about 14 ms each: half a minute to plan 200 participants).
    """
    images: dict[str, list[AnatImage]] = {subject: [] for subject in subjects}
    for suffix in suffixes:
        query = {
            "subject": list(subjects),
            "datatype": "anat",
            "suffix": suffix,
            "extension": [".nii", ".nii.gz"],
            **_filters_for(suffix, bids_filters),
        }
        if sessions:
            query["session"] = sessions
        for bids_file in layout.get(**query):
            entities = bids_file.get_entities()
            subject = entities.get("subject")
            if subject not in images:  # a filter naming another participant
                continue
            images[subject].append(
                AnatImage(
                    path=Path(bids_file.path),
                    relpath=Path(bids_file.path).relative_to(layout.root).as_posix(),
                    subject=subject,
                    session=entities.get("session"),
                    suffix=suffix,
                    entities={k: v for k, v in entities.items() if isinstance(v, (str, int))},
                )
            )
    return images


def _session_plans(subject: str, images: list[AnatImage]) -> list[SessionPlan]:
    """One plan per session of the participant's images, the reference first."""
    by_session: dict[str | None, list[AnatImage]] = {}
    for image in sorted(images, key=lambda i: i.relpath):
        by_session.setdefault(image.session, []).append(image)
    if not by_session:
        LOGGER.warning("sub-%s: no anatomical image to deface", subject)
    plans = []
    for session, session_images in sorted(by_session.items(), key=lambda kv: kv[0] or ""):
        reference = choose_reference(session_images)
        ordered = (reference, *[i for i in session_images if i != reference])
        plans.append(SessionPlan(subject=subject, session=session, reference=reference, images=ordered))
    return plans


def collect_sessions(
    layout,
    *,
    participants: list[str] | None = None,
    sessions: list[str] | None = None,
    suffixes: list[str] | tuple[str, ...] = ANAT_SUFFIXES,
    bids_filters: dict | None = None,
) -> list[SessionPlan]:
    """Plan every (participant, session) with at least one anatomical image.

    Raises
    ------
    DatasetError
        An unknown participant or session label, or no anatomical image at all.
    """
    bids_filters = bids_filters or {}
    plans = []
    subjects = _selected_subjects(layout, participants, sessions)
    for subject, images in _anat_images(layout, subjects, suffixes, sessions, bids_filters).items():
        plans.extend(_session_plans(subject, images))
    if not plans:
        raise DatasetError(f"{layout.root}: no anatomical images ({', '.join(suffixes)}) for the selected participants")
    return plans


def unavailable_reason(path: Path) -> str | None:
    """Why an image's content cannot be read at all, or None when it can be opened.

    A dangling symlink is what a git-annex (DataLad) dataset holds for a file whose
    content was not fetched: pybids indexes it, but nothing can read it.
    """
    if path.is_symlink() and not path.exists():
        return "content not present (a dangling symlink, e.g. a git-annex file: run `datalad get`)"
    if not path.exists():
        return "file does not exist"
    if not path.is_file():
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "file is not readable (permission denied)"
    return None


def split_unavailable(plans: list[SessionPlan]) -> tuple[list[SessionPlan], list[tuple[AnatImage, str]]]:
    """Take out the images whose content cannot be read (with the reason for each).

    A session keeps its other images, with a reference chosen again among them; a
    session left with none is dropped. No graph node is built for a taken-out image.
    """
    kept: list[SessionPlan] = []
    unavailable: list[tuple[AnatImage, str]] = []
    for plan in plans:
        available = []
        for image in plan.images:
            reason = unavailable_reason(image.path)
            if reason is None:
                available.append(image)
            else:
                unavailable.append((image, f"{image.relpath}: {reason}"))
        if not available:
            continue
        if len(available) == len(plan.images):
            kept.append(plan)
            continue
        reference = choose_reference(available)
        ordered = (reference, *[i for i in available if i != reference])
        kept.append(SessionPlan(subject=plan.subject, session=plan.session, reference=reference, images=ordered))
    return kept, unavailable


def _voxel_volume(path: Path) -> float:
    try:
        header = nib.load(path).header
        return float(np.prod(header.get_zooms()[:3])) if len(header.get_data_shape()) in (3, 4) else np.inf
    except Exception:  # noqa: BLE001 - an unreadable image is reported when it is processed
        return np.inf


def choose_reference(images: list[AnatImage]) -> AnatImage:
    """The best image for the template registration: by contrast preference, then finest voxels."""

    def rank(image: AnatImage):
        try:
            contrast = REFERENCE_PREFERENCE.index(image.suffix)
        except ValueError:
            contrast = len(REFERENCE_PREFERENCE)
        return (contrast, _voxel_volume(image.path), image.relpath)

    return min(images, key=rank)
