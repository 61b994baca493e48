"""Figures of the group report (SVG, matplotlib). Each is drawn only when its data exist."""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .fragments import status_of

LOGGER = logging.getLogger(__name__)

COLORS = {"pass": "#1e7e34", "review": "#6639ba", "fail": "#b3261e", "error": "#9a6700"}
_CONF = re.compile(r"^face_confidence_(original|defaced)_(.+)$")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def status_counts(records: Sequence[Mapping], key: str) -> dict[str, dict[str, int]]:
    """Counts of pass/fail/error per value of ``key`` (``suffix``, ``session``)."""
    counts: dict[str, dict[str, int]] = {}
    for record in records:
        group = str(record.get(key) or "(none)")
        counts.setdefault(group, dict.fromkeys(COLORS, 0))[status_of(record)] += 1
    return dict(sorted(counts.items()))


def plot_status(records: Sequence[Mapping], out_file: Path) -> Path:
    """Stacked bars of pass/fail/error per suffix and per session."""
    plt = _plt()
    panels = [("suffix", "per suffix"), ("session", "per session")]
    panels = [(key, title) for key, title in panels if any(record.get(key) for record in records)] or panels[:1]
    groups = {key: status_counts(records, key) for key, _ in panels}
    rows = max(len(g) for g in groups.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 0.9 + 0.42 * rows), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        counts = groups[key]
        labels = list(counts)
        left = np.zeros(len(labels))
        for status, color in COLORS.items():
            values = np.array([counts[label][status] for label in labels])
            ax.barh(labels, values, left=left, color=color, label=status, height=0.6)
            for y, (x0, v) in enumerate(zip(left, values)):
                if v:
                    ax.text(
                        x0 + v / 2, y, str(v), ha="center", va="center", color="white", fontsize=9, fontweight="bold"
                    )
            left += values
        ax.set_title(f"Images {title}", fontsize=11, loc="left")
        ax.invert_yaxis()
        ax.set_xlabel("images")
        ax.xaxis.get_major_locator().set_params(integer=True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


def confidence_table(records: Sequence[Mapping]) -> dict[str, list[tuple[float, float, str]]]:
    """Per view, (original, defaced, status) detection confidences of every image that has both.

    The defaced value is what the face check counts (``face_on_skin_defaced_<view>``: a face on
    untouched skin), or for records made before it, any detection on the defaced render.
    """
    views: dict[str, list[tuple[float, float, str]]] = {}
    from .reportlets import view_order

    names = sorted({m.group(2) for r in records for k in r if (m := _CONF.match(k))}, key=view_order)
    for view in names:
        for record in records:
            before = record.get(f"face_confidence_original_{view}")
            after = record.get(f"face_on_skin_defaced_{view}", record.get(f"face_confidence_defaced_{view}"))
            if _is_number(before) and _is_number(after):
                views.setdefault(view, []).append((float(before), float(after), status_of(record)))
    return views


def plot_confidence(records: Sequence[Mapping], out_file: Path) -> Path | None:
    """Face detection confidence before vs after defacing, per view (None when absent)."""
    table = confidence_table(records)
    if not table:
        return None
    plt = _plt()
    views = list(table)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(views) + 2), 3.6))
    rng = np.random.default_rng(0)
    for i, view in enumerate(views):
        for before, after, status in table[view]:
            jitter = rng.uniform(-0.05, 0.05)
            ax.plot([i - 0.18 + jitter, i + 0.18 + jitter], [before, after], color="0.75", lw=0.8, zorder=1)
            ax.scatter([i - 0.18 + jitter], [before], color="#0b5cad", s=18, zorder=2)
            ax.scatter([i + 0.18 + jitter], [after], color=COLORS[status], s=18, zorder=2)
    ax.set_xticks(range(len(views)), views, rotation=30 if len(views) > 5 else 0)
    ax.set_ylabel("face detection confidence")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Face detection per view: original, and defaced on untouched skin", fontsize=11, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


def impact_table(records: Sequence[Mapping], prefix: str = "impact_") -> dict[str, list[tuple[float, str]]]:
    """Per numeric ``impact_*`` metric, its (value, status) over images."""
    metrics: dict[str, list[tuple[float, str]]] = {}
    for key in sorted({k for r in records for k in r if k.startswith(prefix)}):
        values = [(float(r[key]), status_of(r)) for r in records if _is_number(r.get(key))]
        if values:
            metrics[key] = values
    return metrics


def plot_impact(records: Sequence[Mapping], out_file: Path, *, columns: int = 4) -> Path | None:
    """Distributions of the impact metrics (box + points), one small panel each (None when absent)."""
    table = impact_table(records)
    if not table:
        return None
    plt = _plt()
    n = len(table)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.6 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (key, values) in zip(axes.flat, table.items()):
        data = np.array([v for v, _ in values])
        ax.boxplot(data, widths=0.5, showfliers=False, medianprops={"color": "black"})
        xs = 1 + rng.uniform(-0.12, 0.12, size=len(values))
        ax.scatter(xs, data, s=14, c=[COLORS[s] for _, s in values], zorder=3)
        ax.set_title(key.removeprefix("impact_"), fontsize=9)
        ax.set_xticks([])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Impact of defacing on downstream processing", fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file
