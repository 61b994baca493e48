"""``--release-dir``: a shareable copy of the dataset, defaced and scrubbed, searched for leftovers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .. import __version__
from ..config import Config
from ..derivatives import read_records, write_json
from ..ratings import not_signed_off, rated_before, read_ratings, with_ratings

LOGGER = logging.getLogger("bids_deface")


def _defaced_path(output_dir: Path, relpath: str) -> Path:
    """The derivative of an anatomical image ``sub-*/[ses-*/]anat/<entities>_<suffix>.nii[.gz]``."""
    folder, name = relpath.rsplit("/", 1)
    stem, ext = name.split(".", 1)
    entities, suffix = stem.rsplit("_", 1)
    return output_dir / folder / f"{entities}_desc-defaced_{suffix}.{ext if ext.endswith('gz') else ext + '.gz'}"


def _sidecar_of(relpath: str) -> str:
    return relpath.split(".", 1)[0] + ".json"


def _anatomical_images(bids_dir: Path, suffixes) -> list[str]:
    """The raw anatomical images of the selected suffixes, relative to ``bids_dir``, sorted."""
    return sorted(
        p.relative_to(bids_dir).as_posix()
        for p in bids_dir.glob("sub-*/**/anat/*.nii*")
        if p.name.split(".")[0].rsplit("_", 1)[-1] in suffixes
    )


def _unsafe_images(anat: list[str], output_dir: Path, require_rating: str) -> list[str]:
    """The images the release may not hold, each with why: no defaced derivative on disk, a
    status other than pass (or review signed off by a person), or a rating that holds it back."""
    # a rating of an earlier defacing signs off nothing
    ratings = {
        rel: rated
        for rel, rated in read_ratings(output_dir).items()
        if not rated_before(rated["rated_at"], _defaced_path(output_dir, rel))
    }
    records = {r["source_file"]: r for r in with_ratings(read_records(output_dir), ratings)}
    blocked = dict(not_signed_off(records.values(), require_rating))
    unsafe = []
    for rel in anat:
        record = records.get(rel, {})
        status = record.get("status", "not processed")
        if rel in blocked:
            unsafe.append(f"{rel} ({blocked[rel]})")
        elif status not in ("pass", "review") or not _defaced_path(output_dir, rel).is_file():
            unsafe.append(f"{rel} ({status})")
    return unsafe


def _derivative_sidecars(replacements: dict[Path, Path]) -> dict[Path, dict]:
    """The raw sidecar path -> the content of the defaced image's derivative sidecar, where there is one."""
    sidecars = {}
    for rel, defaced in replacements.items():
        derivative = defaced.with_name(defaced.name.split(".", 1)[0] + ".json")
        if derivative.is_file():  # scrubbed, with the provenance of the defacing
            sidecars[Path(_sidecar_of(str(rel)))] = json.loads(derivative.read_text())
    return sidecars


def _release_note(wf) -> str:
    return (
        f"Every anatomical image was defaced, and every NIfTI header, JSON sidecar, BIDS table and free-text "
        f"file scrubbed (policy '{wf.scrub}'), by bids_deface {__version__} (method '{wf.method}', "
        f"template '{wf.template}'). Files outside BIDS raw data were left out."
    )


def _log_release_problems(summary, release_dir: Path) -> None:
    """One error for missing files, one for removed values found again, and where the copy is."""
    if not summary.clean and not summary.published:
        LOGGER.error(
            "release not published: the copy stays in %s for inspection, and %s was not changed",
            release_dir.with_name(release_dir.name + ".partial"),
            release_dir,
        )
    if summary.missing:
        LOGGER.error(
            "release %s is incomplete: %d file(s) without content (see release_summary.json): %s",
            release_dir,
            len(summary.missing),
            "; ".join(summary.missing[:5]),
        )
    if summary.leftovers:
        LOGGER.error(
            "release %s: %d removed value(s) found again, in %s (see release_summary.json)",
            release_dir,
            len(summary.leftovers),
            ", ".join(sorted({str(i.path.relative_to(release_dir)) for i in summary.leftovers})[:10]),
        )


def _log_release_written(summary, release_dir: Path) -> None:
    redactions = sum(item["count"] for item in summary.redacted)
    LOGGER.warning(
        "release written to %s: %d images defaced, %d files written, %d left out; none of the %d removed values "
        "found again; %d free-text redaction(s), %d e-mail/telephone finding(s) in kept text. Read "
        "release_summary.json (kept on purpose, left out) before publishing.",
        release_dir,
        len(summary.replaced),
        len(summary.files),
        len(summary.excluded),
        summary.values_checked,
        redactions,
        sum(item["count"] for item in summary.findings),
    )


def write_release(config: Config) -> bool:
    """Write the release copy; False when an image is not safely defaced (nothing written)
    or when the written release holds a removed value or lacks a file."""
    from ..methods.metadata.release import ReleaseBusy

    ex, wf = config.execution, config.workflow
    bids_dir, output_dir, release_dir = ex.bids_dir, ex.output_dir, wf.release_dir
    anat = _anatomical_images(bids_dir, wf.suffixes)
    unsafe = _unsafe_images(anat, output_dir, wf.require_rating)
    if unsafe:
        LOGGER.error(
            "release not written: %d anatomical image(s) have no passed or signed-off defaced version "
            "(run every participant first, fix the failures, rate the images in the participant reports "
            "and save the ratings into %s; --require-rating %s): %s",
            len(unsafe),
            output_dir,
            wf.require_rating,
            "; ".join(unsafe[:10]),
        )
        return False

    replacements = {Path(rel): _defaced_path(output_dir, rel) for rel in anat}
    try:
        summary = _make_release(config, replacements)
    except ReleaseBusy as err:
        LOGGER.error("release not written: %s", err)
        return False
    except OSError as err:  # a full disk, a read-only target: nothing is published, the partial copy is removed
        LOGGER.error(
            "release not written to %s: %s: %s (the partial copy was removed; free space or choose another "
            "--release-dir and run the group level again)",
            release_dir,
            err.filename or release_dir,
            err.strerror or err,
        )
        return False
    write_json(output_dir / "release_summary.json", summary.as_dict())
    _log_release_problems(summary, release_dir)
    if not summary.clean:
        return False
    _log_release_written(summary, release_dir)
    return True


def _make_release(config: Config, replacements: dict):
    from ..methods.metadata.policy import ScrubPolicy
    from ..methods.metadata.release import make_release

    wf = config.workflow
    return make_release(
        config.execution.bids_dir,
        wf.release_dir,
        replacements,
        _derivative_sidecars(replacements),
        note=_release_note(wf),
        policy=ScrubPolicy.from_options(wf),
        include=tuple(wf.release_include),
        generated_by={
            "Name": "bids_deface",
            "Version": __version__,
            "Description": "defaced, metadata-scrubbed release",
        },
        publish_unclean=False,  # the release folder only ever holds a clean release
    )
