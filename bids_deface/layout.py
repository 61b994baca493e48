"""Index the input dataset with pybids and plan the work: sessions, references, images."""

from __future__ import annotations

import logging
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


def index_dataset(bids_dir: Path, *, database_path: Path | None = None, validate: bool = True):
    """A pybids ``BIDSLayout`` of the input dataset; the database is cached in ``database_path``."""
    from bids.layout import BIDSLayout, BIDSLayoutIndexer
    from bids.exceptions import BIDSValidationError

    if not (bids_dir / "dataset_description.json").is_file():
        raise DatasetError(f"{bids_dir}: not a BIDS dataset (no dataset_description.json)")
    kwargs = {}
    if database_path is not None:
        database_path.mkdir(parents=True, exist_ok=True)
        kwargs["database_path"] = database_path
    indexer = BIDSLayoutIndexer(
        validate=validate,
        ignore=("code", "stimuli", "sourcedata", "models", "derivatives", re.compile(r"^\.")),
    )
    try:
        return BIDSLayout(str(bids_dir), indexer=indexer, **kwargs)
    except (BIDSValidationError, ValueError) as err:
        raise DatasetError(f"{bids_dir}: cannot index the dataset ({err})") from err


def _filters_for(suffix: str, bids_filters: dict) -> dict:
    """fMRIPrep-style filters: keyed by lower-case suffix ("t1w": {...}) or plain entities."""
    keyed = {k.lower(): v for k, v in bids_filters.items() if isinstance(v, dict)}
    if keyed:
        return dict(keyed.get(suffix.lower(), {}))
    return dict(bids_filters)


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

    plans = []
    for subject in subjects:
        images = []
        for suffix in suffixes:
            query = {
                "subject": subject,
                "datatype": "anat",
                "suffix": suffix,
                "extension": [".nii", ".nii.gz"],
                **_filters_for(suffix, bids_filters),
            }
            if sessions:
                query["session"] = sessions
            for bids_file in layout.get(**query):
                entities = bids_file.get_entities()
                images.append(
                    AnatImage(
                        path=Path(bids_file.path),
                        relpath=Path(bids_file.path).relative_to(layout.root).as_posix(),
                        subject=subject,
                        session=entities.get("session"),
                        suffix=suffix,
                        entities={k: v for k, v in entities.items() if isinstance(v, (str, int))},
                    )
                )
        by_session: dict[str | None, list[AnatImage]] = {}
        for image in sorted(images, key=lambda i: i.relpath):
            by_session.setdefault(image.session, []).append(image)
        if not by_session:
            LOGGER.warning("sub-%s: no anatomical image to deface", subject)
        for session, session_images in sorted(by_session.items(), key=lambda kv: kv[0] or ""):
            reference = choose_reference(session_images)
            ordered = (reference, *[i for i in session_images if i != reference])
            plans.append(SessionPlan(subject=subject, session=session, reference=reference, images=ordered))
    if not plans:
        raise DatasetError(f"{layout.root}: no anatomical images ({', '.join(suffixes)}) for the selected participants")
    return plans


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
