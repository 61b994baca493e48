"""QC figures for :mod:`bids_deface.data.make_masks` (PNG, matplotlib Agg).

Writes, to the folder given:

* ``<mask>_ortho.png``: the mask outlined over the template, three planes, two
  slices per plane;
* ``features_surface.png``: front, left and right surface views of the head
  with the feature labels painted on;
* ``defaced_surface.png``: the same views of the head after removing the face
  and ears masks (what a defaced template looks like).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

LOGGER = logging.getLogger(__name__)
_COLOURS = np.array(
    [[0, 0, 0], [0.1, 0.5, 1], [1, 0.2, 0.2], [1, 0.6, 0], [0.6, 0.2, 1], [0.2, 0.9, 0.3], [1, 1, 0.2], [0.2, 1, 1]],
    dtype=float,
)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _shade(depth: np.ndarray) -> np.ndarray:
    """Lambertian shading of a depth map (larger = closer to the viewer)."""
    filled = np.where(np.isfinite(depth), depth, np.nanmin(depth) - 20)
    gx, gy = np.gradient(filled)
    normal = np.stack([-gx, -gy, np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=0)
    light = np.array([0.3, 0.4, 0.87]) / np.linalg.norm([0.3, 0.4, 0.87])
    shade = np.clip(np.tensordot(light, normal, 1), 0, 1) * 0.85 + 0.15
    return np.where(np.isfinite(depth), shade, 0.0)


def surface_view(mask: np.ndarray, labels: np.ndarray | None, view: str) -> np.ndarray:
    """RGB render (rows = superior first) of a mask seen from the front/left/right."""
    if view == "front":  # look along -j; image axes (k, i)
        vol = mask.transpose(0, 2, 1)[:, :, ::-1]
        lab = None if labels is None else labels.transpose(0, 2, 1)[:, :, ::-1]
    elif view == "left":  # look along +i; image axes (k, j), anterior on the left
        vol = mask.transpose(1, 2, 0)[::-1]
        lab = None if labels is None else labels.transpose(1, 2, 0)[::-1]
    elif view == "right":  # look along -i; anterior on the right
        vol = mask.transpose(1, 2, 0)[:, :, ::-1]
        lab = None if labels is None else labels.transpose(1, 2, 0)[:, :, ::-1]
    else:
        raise ValueError(f"unknown view {view!r}")
    hit = vol.any(axis=2)
    first = np.argmax(vol, axis=2)
    depth = np.where(hit, -first.astype(float), np.nan)
    rgb = np.repeat(_shade(depth)[..., None], 3, axis=2)
    if lab is not None:
        a, b = np.indices(hit.shape)
        surf = np.where(hit, lab[a, b, first], 0)
        painted = surf > 0
        rgb[painted] = 0.45 * rgb[painted] + 0.55 * _COLOURS[surf[painted]]
    return np.flip(rgb.transpose(1, 0, 2), axis=0)


def _ortho(plt, data, mask, title: str, path: Path) -> None:
    """Mask outlined (or label-coloured) over the template in three planes."""
    coords = np.argwhere(mask > 0)
    centre = coords.mean(axis=0).astype(int) if len(coords) else np.array(data.shape) // 2
    fig, axes = plt.subplots(2, 3, figsize=(15, 10))
    vmax = np.percentile(data, 99.5)
    for row in range(2):
        for col, axis in enumerate((0, 1, 2)):
            if row:
                n = int(centre[axis])
            else:  # the slice holding most of the mask inside the head
                other = tuple(a for a in range(3) if a != axis)
                n = int(np.argmax(((mask > 0) & (data > 0.2 * vmax)).sum(axis=other)))
            sl = [slice(None)] * 3
            sl[axis] = n
            ax = axes[row, col]
            ax.imshow(data[tuple(sl)].T, origin="lower", cmap="gray", vmax=vmax)
            m = mask[tuple(sl)].T
            if mask.max() > 1:
                rgba = np.zeros(m.shape + (4,))
                rgba[..., :3] = _COLOURS[np.clip(m, 0, 7)]
                rgba[..., 3] = (m > 0) * 0.7
                ax.imshow(rgba, origin="lower")
            elif m.any():
                ax.contour(m, [0.5], colors="r", linewidths=1.2)
            ax.set_title(f"{'ijk'[axis]}={n}")
            ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def write_qc(data, head, masks: dict[str, np.ndarray], dseg, world, qc_dir: Path) -> list[Path]:
    """Write all QC PNGs; return their paths."""
    plt = _plt()
    qc_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, mask in {**masks, "features": dseg}.items():
        path = qc_dir / f"{name}_ortho.png"
        _ortho(plt, data, mask.astype(np.uint8), f"tpl-pydeface {name}", path)
        paths.append(path)
    defaced = head & ~masks["face"].astype(bool) & ~masks["ears"].astype(bool)
    removal = np.where(masks["face"] | masks["ears"], 2, 0).astype(np.uint8)
    for name, vol, lab in (
        ("features_surface", head, dseg),
        ("removal_surface", head, removal),
        ("defaced_surface", defaced, None),
    ):
        fig, axes = plt.subplots(1, 3, figsize=(18, 7))
        for ax, view in zip(axes, ("left", "front", "right")):
            ax.imshow(surface_view(vol, lab, view))
            ax.set_title(view)
            ax.axis("off")
        fig.tight_layout()
        path = qc_dir / f"{name}.png"
        fig.savefig(path, dpi=60)
        plt.close(fig)
        paths.append(path)
    LOGGER.info("QC figures in %s", qc_dir)
    return paths
