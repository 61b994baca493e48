"""A person's ratings of the images: read from the files the participant reports save, merged into records.

The participant report lets a reviewer rate each image (``good``, ``redo``: needs defacing
again, ``exclude``: leave it out of the release) and saves ``sub-<label>_desc-ratings.json``;
the reviewer puts it into the output folder. The group level reads every such file there,
the newest rating of an image wins, and the release gate asks for ``good``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

LOGGER = logging.getLogger(__name__)

RATINGS = ("good", "redo", "exclude")
#: ``--require-rating``: which images need a person's ``good`` before they are released.
REQUIRE = ("review", "all")
RATING_FIELDS = ("rating", "rating_note", "rated_by", "rated_at", "rating_file")


def read_ratings(output_dir: str | Path) -> dict[str, dict]:
    """``source_file`` -> its newest rating (``rating``, ``rating_note``, ``rated_by``, ``rated_at``, ``rating_file``).

    A file that cannot be read, or an entry without a known rating, is skipped with a
    warning naming the file: a broken ratings file never counts as a sign-off.
    """
    output_dir = Path(output_dir)
    found: dict[str, dict] = {}
    for path in sorted(output_dir.rglob("*_desc-ratings.json")):
        if "logs" in path.relative_to(output_dir).parts:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries, reviewer, when = data["ratings"], str(data.get("reviewer") or ""), str(data.get("rated_at") or "")
        except (OSError, ValueError, KeyError, TypeError) as err:
            LOGGER.warning("%s: not a ratings file (%s); ignored", path, err)
            continue
        for entry in entries if isinstance(entries, list) else []:
            rating = entry.get("rating") if isinstance(entry, Mapping) else None
            source = entry.get("source_file") if isinstance(entry, Mapping) else None
            if rating not in RATINGS or not source:
                LOGGER.warning("%s: an entry without a source file or a known rating (%s); ignored", path, entry)
                continue
            if not reviewer:
                LOGGER.warning("%s: no reviewer name; its ratings are ignored", path)
                break
            rated = {
                "rating": rating,
                "rating_note": str(entry.get("note") or ""),
                "rated_by": reviewer,
                "rated_at": when,
                "rating_file": path.relative_to(output_dir).as_posix(),
            }
            if source not in found or when >= found[source]["rated_at"]:
                found[str(source)] = rated
    return found


def with_ratings(records: Iterable[Mapping], ratings: Mapping[str, Mapping]) -> list[dict]:
    """Copies of ``records`` with the rating fields of their image (empty strings when unrated)."""
    out = []
    for record in records:
        rated = ratings.get(str(record.get("source_file", "")), {})
        out.append({**record, **{key: rated.get(key, "") for key in RATING_FIELDS}})
    return out


def not_signed_off(records: Iterable[Mapping], require: str) -> list[tuple[str, str]]:
    """(source_file, why) of the images the release may not include under ``require``.

    ``review``: an image in ``review`` needs a ``good`` rating (it is then released like a
    passed one); ``all``: every image does. An image rated ``redo`` or ``exclude`` is never
    released; the others need ``status`` pass (checked by the release itself).
    """
    blocked = []
    for record in records:
        source, rating, status = str(record.get("source_file", "")), record.get("rating") or "", record.get("status")
        if rating in ("redo", "exclude"):
            blocked.append((source, f"rated '{rating}' by {record.get('rated_by')}"))
        elif rating != "good" and (require == "all" or status == "review"):
            blocked.append(
                (source, "not rated 'good' by a person" + (" (status review)" if status == "review" else ""))
            )
    return blocked


def rated_before(rated_at: str, defaced: Path) -> bool:
    """Whether a rating was made before ``defaced`` was last written (a re-run defaced it again).

    A rating without a readable time counts as made before: it cannot vouch for this output.
    """
    try:
        when = datetime.fromisoformat(rated_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        written = datetime.fromtimestamp(defaced.stat().st_mtime, tz=timezone.utc)
    except OSError:
        return False  # no defaced image: the release refuses it for that reason
    return when < written
