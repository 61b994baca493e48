"""HTML fragments (reportlets) built from metrics records, always HTML-escaped.

Everything shown here comes from user files (file names, JSON sidecars, metric strings),
so the templates are rendered with jinja2's autoescape on: ``<script>`` in a file name is
shown as text, never run.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from ..methods.record import STATUSES

TEMPLATES = Path(__file__).parent / "templates"

#: The question each check answers, shown beside its result.
CHECK_QUESTIONS = {
    "brain": "Did defacing leave an independent brain mask untouched (another atlas, another registration)?",
    "registration": "Did the template registration succeed?",
    "face": "Is at most one partial facial feature left (template feature labels)?",
    "face_skin": "Does no face detector find a face on the skin that defacing left untouched (no registration)?",
    "impact": "Is downstream processing unchanged within tolerance?",
    "freesurfer": "Are FreeSurfer volumes and thickness unchanged within tolerance?",
    "error": "Was the image processed without error?",
}


@lru_cache(maxsize=1)
def environment():
    """The jinja2 environment of the report templates (autoescape on)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **context) -> str:
    """Render one template of :data:`TEMPLATES` with autoescape."""
    return environment().get_template(template).render(**context)


def format_value(value) -> str | float | int:
    """A metric value for display: floats rounded to 4 significant digits, lists joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            return str(value)
        return float(f"{value:.4g}")
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return "" if value is None else str(value)


def reason_of(record: Mapping) -> str:
    """Why the image did not pass: the failed checks' reasons, else what a person must review."""
    return str(record.get("reason") or record.get("review_reason") or "")


def status_of(record: Mapping) -> str:
    """The record's status, one of :data:`STATUSES` (``error`` when it is missing or unknown)."""
    status = str(record.get("status", "error"))
    return status if status in STATUSES else "error"


def check_rows(record: Mapping) -> list[dict]:
    """One row per ``check_<name>`` boolean of a record: name, question, passed, reason."""
    rows = []
    names = [
        key[len("check_") :] for key, value in record.items() if key.startswith("check_") and isinstance(value, bool)
    ]
    order = {name: i for i, name in enumerate(CHECK_QUESTIONS)}
    for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
        passed = bool(record[f"check_{name}"])
        rows.append(
            {
                "name": name,
                "question": CHECK_QUESTIONS.get(name, ""),
                "passed": passed,
                "reason": "" if passed else str(record.get(f"check_{name}_reason", f"{name} check failed")),
            }
        )
    return rows


def face_rows(record: Mapping) -> list[tuple[str, str, str, str]]:
    """(view, original, defaced, defaced on untouched skin) detection confidences per view.

    From ``face_confidence_{original,defaced}_<view>`` (any detector, any surface) and
    ``face_on_skin_defaced_<view>`` (the decisive detectors, two features on untouched skin:
    what the face check counts); records made before that field show ``n/a`` there.
    """
    from .reportlets import view_order

    views = sorted(
        {
            key.split("_", 3)[-1]
            for key in record
            if key.startswith(("face_confidence_original_", "face_confidence_defaced_"))
        },
        key=view_order,
    )
    rows = []
    for view in views:
        before = record.get(f"face_confidence_original_{view}", "n/a")
        after = record.get(f"face_confidence_defaced_{view}", "n/a")
        on_skin = record.get(f"face_on_skin_defaced_{view}", "n/a")
        rows.append((view, format_value(before), format_value(after), format_value(on_skin)))
    return rows


def metrics_fragment(record: Mapping) -> str:
    """The per-image reportlet: verdict banner, checks table, face table, every metric."""
    metrics = [
        (key, format_value(value))
        for key, value in sorted(record.items())
        if not key.startswith("check_") and key not in ("status", "reason", "source_file")
    ]
    return render(
        "metrics.html.j2",
        status=status_of(record),
        source_file=str(record.get("source_file", "unknown image")),
        subject=str(record.get("subject") or ""),
        form_id=hashlib.sha1(str(record.get("source_file", "")).encode()).hexdigest()[:12],
        reason=reason_of(record),
        checks=check_rows(record),
        faces=face_rows(record),
        metrics=metrics,
    )


def summary_fragment(records: Iterable[Mapping], settings: Mapping | None = None) -> str:
    """The participant summary: counts, one row per image, and the run's settings."""
    records = sorted(records, key=lambda r: str(r.get("source_file", "")))
    statuses = [status_of(r) for r in records]
    images = [
        {
            "source_file": str(r.get("source_file", "")),
            "session": str(r.get("session") or ""),
            "suffix": str(r.get("suffix") or ""),
            "status": status,
            "reason": reason_of(r),
        }
        for r, status in zip(records, statuses)
    ]
    return render(
        "summary.html.j2",
        n_images=len(records),
        n_sessions=len({r["session"] for r in images}),
        n_passed=statuses.count("pass"),
        n_review=statuses.count("review"),
        n_failed=statuses.count("fail"),
        n_errors=statuses.count("error"),
        images=images,
        settings=[(key, format_value(value)) for key, value in (settings or {}).items()],
    )


def errors_fragment(records: Iterable[Mapping], log_dir: str | None = None) -> str:
    """The errors section: every image whose status is ``error``, with its reason."""
    errors = [
        {"source_file": str(r.get("source_file", "")), "reason": str(r.get("reason") or "")}
        for r in records
        if status_of(r) == "error"
    ]
    return render("errors.html.j2", errors=errors, log_dir=log_dir)
