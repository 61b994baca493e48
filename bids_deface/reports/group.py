"""The group report ``group.html`` and its figures (``figures/group_desc-*.svg``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..ratings import RATING_FIELDS
from .fragments import format_value, reason_of, render, status_of
from .group_figures import plot_confidence, plot_impact, plot_status
from .participant import external_resources, write_text

LOGGER = logging.getLogger(__name__)

#: Figure name (desc entity) -> (maker, caption).
FIGURES = {
    "status": (plot_status, "Verdicts per suffix and per session (pass green, fail red, error amber)."),
    "confidence": (
        plot_confidence,
        "Face detection confidence on the original (blue, left) and defaced (right, "
        "coloured by verdict) renders of each image, per view; lines join the two "
        "renders of one image.",
    ),
    "impact": (plot_impact, "Distribution of each impact metric over images (points coloured by verdict)."),
}
_LABEL = re.compile(r"^[A-Za-z0-9]+$")


def _report_link(output_dir: Path, subject: str) -> str:
    """Relative link to a participant's report when it exists (labels must be BIDS labels)."""
    if _LABEL.match(subject) and (output_dir / f"sub-{subject}.html").is_file():
        return f"sub-{subject}.html"
    return ""


def _row(record: Mapping, output_dir: Path) -> dict:
    subject = str(record.get("subject") or "")
    if not subject:
        match = re.match(r"^sub-([A-Za-z0-9]+)/", str(record.get("source_file", "")))
        subject = match.group(1) if match else ""
    return {
        "source_file": str(record.get("source_file", "")),
        "subject": subject,
        "session": str(record.get("session") or ""),
        "suffix": str(record.get("suffix") or ""),
        "status": status_of(record),
        "reason": reason_of(record),
        "report": _report_link(output_dir, subject),
        **{key: str(record.get(key) or "") for key in RATING_FIELDS},
    }


def write_group_figures(records: Sequence[Mapping], output_dir: Path) -> list[dict]:
    """Draw every figure whose data exist into ``output_dir/figures``; return src + caption."""
    fig_dir = output_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for desc, (maker, caption) in FIGURES.items():
        out = fig_dir / f"group_desc-{desc}.svg"
        made = maker(records, out)
        if made is None:
            out.unlink(missing_ok=True)  # a stale figure from an earlier run must not be shown
            LOGGER.info("group report: no data for the %s figure", desc)
            continue
        figures.append({"src": f"figures/{out.name}", "caption": caption, "path": out})
    return figures


def reid_sentence(reid: Mapping) -> str:
    """The re-identification audit in words: what top-1 is, what chance is, and which it is."""
    if not reid or not reid.get("measured"):
        return ""
    from scipy.stats import binom

    n, top1, chance = int(reid.get("n_queries", 0)), float(reid.get("top1", 0.0)), float(reid.get("chance_top1", 0.0))
    if n == 0:
        return "No defaced render showed anything a face recogniser describes: there was nothing to match."
    hits = round(top1 * n)
    p_value = float(binom.sf(hits - 1, n, chance)) if hits else 1.0
    text = (
        f"A face recogniser (dlib) described {n} defaced render(s) and matched each against the original "
        f"renders of the {reid.get('n_participants', '?')} participant(s) whose original face it found: "
        f"{hits} ({top1:.0%}) were matched first to their own participant, where guessing would match {chance:.0%}."
    )
    if p_value < 0.05:
        shown = "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"
        return text + (
            f" That is better than chance ({shown}): the defaced renders still carry identity; "
            "look at them before sharing."
        )
    return text + f" That is no better than chance (p = {p_value:.2f}): the recogniser cannot tell whose head it is."


def write_group_report(
    output_dir: str | Path,
    records: Sequence[Mapping],
    summary: Mapping,
    *,
    failed: Sequence[Mapping] = (),
    review: Sequence[Mapping] = (),
) -> Path:
    """Write ``group.html`` (and its figures) at the root of the outputs.

    Parameters
    ----------
    output_dir
        The derivatives dataset.
    records
        Every image's metrics record.
    summary
        The content of ``group_summary.json`` (counts, pass rate, ``fail_on``, ``reid``).
    failed
        The records that fail the run under ``--fail-on`` (listed first).
    review
        The other records whose status is ``review`` (listed next: a person must look).
    """
    output_dir = Path(output_dir).absolute()
    rows = sorted((_row(r, output_dir) for r in records), key=lambda r: r["source_file"])
    failed_rows = sorted((_row(r, output_dir) for r in failed), key=lambda r: r["source_file"])
    review_rows = sorted((_row(r, output_dir) for r in review), key=lambda r: r["source_file"])
    figures = write_group_figures(records, output_dir)
    reid = summary.get("reid") or {}
    html = render(
        "group.html.j2",
        summary=summary,
        failed=failed_rows,
        review=review_rows,
        reid=[(key, format_value(value)) for key, value in sorted(reid.items())] if isinstance(reid, Mapping) else [],
        reid_not_measured=reid.get("not_measured_reason", "") if isinstance(reid, Mapping) else "",
        reid_sentence=reid_sentence(reid) if isinstance(reid, Mapping) else "",
        figures=figures,
        images=rows,
        version=__version__,
        generated=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
    )
    out = write_text(output_dir / "group.html", html)
    remote = external_resources(html)
    if remote:
        LOGGER.warning("%s: the report refers to network resources: %s", out, ", ".join(remote[:3]))
    LOGGER.info("group report: %s", out)
    return out
