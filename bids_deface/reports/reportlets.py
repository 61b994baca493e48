"""Reportlet makers: pure functions that write one SVG or PNG figure each.

* :func:`plot_flicker` -- fMRIPrep's "flicker" before/after SVG (nireports'
  ``compose_view``): the original image, with the defaced image fading in and out when
  the mouse hovers over it.
* :func:`plot_removal_mosaic` -- the removed region (deface mask == 0) as a red fill and
  outline over an orthogonal mosaic of the image.

Both draw their slices with :mod:`.mosaic` (NumPy and OpenCV), not nilearn.
* :func:`plot_render_gallery` -- the head renders (original row, defaced row) tiled
  into one PNG.

Images are shown in their closest canonical (RAS) orientation with any obliquity
dismissed, so that the panels read like radiological views whatever the acquisition.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import nibabel as nib
import numpy as np

from .mosaic import hex_color, mosaic_row, row_svg

LOGGER = logging.getLogger(__name__)

#: Words in a render's file name that mark it as made from the defaced image.
DEFACED_TOKENS = ("defaced", "after", "post")
#: Rows of the mosaics, top to bottom: sagittal, axial, coronal.
ORDER = ("x", "z", "y")
#: Words dropped from render file names to find the view they show.
_ROLE_TOKENS = ("original", "orig", "before", "pre", "defaced", "after", "post", "render", "renders", "desc")


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def canonical_3d(img: nib.spatialimages.SpatialImage | str | os.PathLike) -> nib.Nifti1Image:
    """The image as a 3D RAS image with its obliquity dismissed (no resampling).

    Parameters
    ----------
    img
        A 3D or 4D image (or its path); a 4D image contributes its first volume. Its
        data are read once, into memory.
    """
    from nireports.tools.ndimage import rotate_affine, rotation2canonical

    if not isinstance(img, nib.spatialimages.SpatialImage):
        img = nib.load(str(img))
    data = np.asanyarray(img.dataobj)
    if data.ndim > 3:
        data = data.reshape(data.shape[:3] + (-1,))[..., 0]
    img = nib.Nifti1Image(data, img.affine, img.header)
    rot = rotation2canonical(img)
    img = nib.as_closest_canonical(img)
    return rotate_affine(img, rot=rot) if rot is not None else img


def _like(img: nib.Nifti1Image, data: np.ndarray) -> nib.Nifti1Image:
    out = nib.Nifti1Image(data.astype(np.uint8), img.affine)
    out.header.set_xyzt_units("mm")
    return out


def removal_cuts(original: nib.Nifti1Image, defaced: nib.Nifti1Image, n_cuts: int = 3) -> dict[str, list[float]]:
    """Cut coordinates through the head tissue defacing changed (the whole head when none).

    Both images must share a grid (as a defaced image shares its original's).
    """
    from nireports.reportlets.utils import cuts_from_bbox

    a = np.asanyarray(original.dataobj)
    b = np.asanyarray(defaced.dataobj)
    if a.shape != b.shape:
        raise ValueError(f"original {a.shape} and defaced {b.shape} images do not share a grid")
    tissue = a > 0.1 * np.percentile(a, 99) if a.size else a > 0
    changed = (a != b) & tissue
    if not changed.any():
        changed = tissue if tissue.any() else np.ones(a.shape, bool)
    return cuts_from_bbox(_like(original, changed), cuts=n_cuts)


def _display_limits(img: nib.Nifti1Image) -> dict:
    data = np.asanyarray(img.dataobj).astype("float32")
    inside = data[data > 0]
    if inside.size == 0:
        return {"vmin": 0.0, "vmax": 1.0}
    return {"vmin": float(np.percentile(inside, 2)), "vmax": float(np.percentile(inside, 99.5))}


def plot_flicker(
    original: str | os.PathLike,
    defaced: str | os.PathLike,
    out_file: str | os.PathLike,
    *,
    n_cuts: int = 3,
    labels: tuple[str, str] = ("original", "defaced"),
) -> Path:
    """Write fMRIPrep's before/after "flicker" SVG of a defacing.

    Parameters
    ----------
    original, defaced
        The input image and its defaced copy (same grid).
    out_file
        The SVG to write.
    n_cuts
        Cuts per axis (axial, sagittal, coronal), placed through the voxels that changed.
    labels
        Titles of the background (before) and foreground (after) panels.

    Returns
    -------
    Path
        ``out_file``.
    """
    from nireports._vendored.svgutils.transform import fromstring
    from nireports.reportlets.utils import compose_view

    before, after = canonical_3d(original), canonical_3d(defaced)
    cuts = removal_cuts(before, after, n_cuts=n_cuts)
    limits = _display_limits(before)
    layers = []
    for img, label in zip((before, after), labels):
        data = np.asanyarray(img.dataobj)
        layers.append(
            [
                fromstring(row_svg(*mosaic_row(data, img.affine, mode, cuts[mode], **limits), f"{label}-{mode}", title))
                for mode, title in zip(ORDER, (label, None, None))
            ]
        )
    out_file = Path(out_file)
    compose_view(layers[0], layers[1], out_file=out_file)
    return out_file


def head_cuts(img: nib.Nifti1Image, n_cuts: int = 7) -> dict[str, list[float]]:
    """Equally spaced cuts through the head (voxels brighter than the image's background)."""
    from nireports.reportlets.utils import cuts_from_bbox

    data = np.asanyarray(img.dataobj).astype("float32")
    positive = data[data > 0]
    threshold = np.percentile(positive, 20) if positive.size else 0.0
    return cuts_from_bbox(_like(img, data > threshold), cuts=n_cuts)


def plot_removal_mosaic(
    in_file: str | os.PathLike,
    mask: str | os.PathLike,
    out_file: str | os.PathLike,
    *,
    n_cuts: int = 7,
    color: str = "#e8393c",
) -> Path:
    """Write a mosaic (sagittal, axial, coronal rows) of the removed region over the image.

    Parameters
    ----------
    in_file
        The original image.
    mask
        The deface mask on the image's grid: removed = 0, kept = 1.
    out_file
        The SVG to write.
    n_cuts
        Cuts per axis, spread over the head.
    color
        Fill and contour colour of the removed region.
    """
    from nireports._vendored.svgutils.transform import fromstring
    from nireports.reportlets.utils import compose_view

    image = canonical_3d(in_file)
    kept = canonical_3d(mask)
    if kept.shape != image.shape:
        raise ValueError(f"{mask}: mask grid {kept.shape} differs from the image's {image.shape} ({in_file})")
    removed = np.asanyarray(kept.dataobj) < 0.5
    cuts = head_cuts(image, n_cuts=n_cuts)
    limits = _display_limits(image)
    data = np.asanyarray(image.dataobj)
    panels = [
        fromstring(
            row_svg(
                *mosaic_row(data, image.affine, mode, cuts[mode], region=removed, color=hex_color(color), **limits),
                f"removal-{mode}",
            )
        )
        for mode in ORDER
    ]
    out_file = Path(out_file)
    compose_view(panels, None, out_file=out_file)
    return out_file


def split_renders(renders: list[str | os.PathLike]) -> tuple[dict[str, Path], dict[str, Path]]:
    """Sort render PNGs into (original, defaced) dictionaries keyed by their view.

    A render is "defaced" when a word of its file name is one of :data:`DEFACED_TOKENS`.
    Its view is what is left of its name once role words (``desc-defaced``, ``original``)
    and the words every render shares (``sub-01``, ``T1w``) are dropped: ``yaw-030`` for
    ``sub-01_T1w_desc-defaced_yaw-030.png``.
    """
    paths = [Path(r) for r in renders]

    def role_free(path: Path) -> list[str]:
        return [
            part
            for part in path.stem.split("_")
            if part.lower() not in _ROLE_TOKENS and part.split("-")[0].lower() not in _ROLE_TOKENS
        ]

    words = {path: role_free(path) for path in paths}
    shared = set.intersection(*(set(w) for w in words.values())) if words else set()
    original: dict[str, Path] = {}
    defaced: dict[str, Path] = {}
    for path in paths:
        view = "_".join(w for w in words[path] if w not in shared) or "view"
        tokens = {t for t in re.split(r"[_.\-]+", path.stem.lower()) if t}
        target = defaced if tokens & set(DEFACED_TOKENS) else original
        target[view] = path
    return original, defaced


def plot_render_gallery(
    renders: list[str | os.PathLike],
    out_file: str | os.PathLike,
    *,
    tile_inches: float = 2.2,
    original_label: str = "original",
) -> Path:
    """Tile head renders into one PNG: originals on the top row, defaced below.

    Columns pair an original render with the defaced render of the same view. With no
    renders the PNG says so (the report keeps its layout and the reader knows why).

    Parameters
    ----------
    renders
        PNG files (with detection boxes and landmarks drawn, as the QA step writes them).
    out_file
        The PNG to write.
    tile_inches
        Size of one tile.
    original_label
        The title of the first row (an audit has no original: ``"as published"``).
    """
    plt = _matplotlib()
    out_file = Path(out_file)
    original, defaced = split_renders(renders)
    views = sorted(set(original) | set(defaced), key=view_order)
    if not views:
        fig, ax = plt.subplots(figsize=(6, 0.8))
        ax.axis("off")
        ax.text(0.5, 0.5, "No head renders were made for this image.", ha="center", va="center", fontsize=11)
        fig.savefig(out_file, dpi=100)
        plt.close(fig)
        return out_file
    rows = [(original_label, original), ("defaced", defaced)]
    rows = [row for row in rows if row[1]]
    fig, axes = plt.subplots(
        len(rows), len(views), figsize=(tile_inches * len(views), tile_inches * len(rows) + 0.3), squeeze=False
    )
    for r, (role, images) in enumerate(rows):
        for c, view in enumerate(views):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if view in images:
                ax.imshow(plt.imread(str(images[view])), cmap="gray")
            else:
                ax.text(0.5, 0.5, "missing", ha="center", va="center", transform=ax.transAxes, color="0.5")
            if r == 0:
                ax.set_title(view, fontsize=9)
            if c == 0:
                ax.set_ylabel(role, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return out_file


def view_order(view: str) -> tuple[float, str]:
    """Sort views by the signed angle in their name: ``yaw-m30`` < ``yaw-000`` < ``yaw-030``.

    A ``-`` after a word is a separator (``yaw-030`` is +30); negative angles are written
    ``m30``, ``neg30``, ``minus30``, ``--30`` or start the name (``-30``).
    """
    match = re.search(r"(\d+(?:\.\d+)?)(?!.*\d)", view)
    if not match:
        return (0.0, view)
    before = view[: match.start()].lower()
    negative = before.endswith(("m", "neg", "minus", "--")) or before == "-"
    return ((-1.0 if negative else 1.0) * float(match.group(1)), view)
