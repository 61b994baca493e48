"""Small, pure metrics comparing the processing of an original and a defaced image.

Every function works on plain numpy arrays so that it can be unit-tested on tiny
hand-made arrays. The metrics follow Theyers et al. (2021), "Multisite comparison of MRI
defacing software across multiple cohorts", Front. Psychiatry 12:617997, who compared
FreeSurfer volumes, thickness, gray/white contrast-to-noise ratio and tissue overlap
between original and defaced scans.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "cnr",
    "dice",
    "displacement_stats",
    "iou",
    "max_abs_difference_in_mask",
    "percent_change",
    "volume_change_pct",
]


def _as_bool_pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return two boolean arrays of identical shape, or raise ``ValueError``."""
    a = np.asarray(a).astype(bool)
    b = np.asarray(b).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    return a, b


def dice(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Dice similarity coefficient ``2 |A & B| / (|A| + |B|)`` of two masks.

    Parameters
    ----------
    a, b : array_like
        Masks of the same shape (non-zero = inside).

    Returns
    -------
    float
        Dice in [0, 1]; 1.0 when both masks are empty (they agree perfectly).
    """
    a, b = _as_bool_pair(a, b)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / total


def iou(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Intersection over union (Jaccard index) ``|A & B| / |A | B|`` of two masks.

    Returns 1.0 when both masks are empty.
    """
    a, b = _as_bool_pair(a, b)
    union = int(np.logical_or(a, b).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(a, b).sum()) / union


def percent_change(original: float, new: float) -> float:
    """Relative change ``100 * (new - original) / original`` in percent.

    Returns 0.0 when both values are 0 and ``nan`` when only ``original`` is 0 (the
    change is undefined; callers treat ``nan`` as a failed comparison).
    """
    if original == 0:
        return 0.0 if new == 0 else float("nan")
    return 100.0 * (float(new) - float(original)) / float(original)


def volume_change_pct(original_mask: npt.ArrayLike, new_mask: npt.ArrayLike) -> float:
    """Volume change (percent) of ``new_mask`` relative to ``original_mask``.

    Both masks must be on the same grid, so voxel counts are proportional to volumes.
    """
    a, b = _as_bool_pair(original_mask, new_mask)
    return percent_change(int(a.sum()), int(b.sum()))


def cnr(image: npt.ArrayLike, gm_mask: npt.ArrayLike, wm_mask: npt.ArrayLike) -> float:
    """Gray/white contrast-to-noise ratio ``(WMavg - GMavg)^2 / (WMvar + GMvar)``.

    This is the definition used by FreeSurfer's ``mri_cnr`` and by Theyers et al. (2021).
    Variances are population variances (``ddof=0``).

    Parameters
    ----------
    image : array_like
        Intensities.
    gm_mask, wm_mask : array_like
        Gray- and white-matter masks on the grid of ``image``.

    Returns
    -------
    float
        The CNR; ``nan`` if either class is empty, ``inf`` if both variances are 0 and the
        means differ.
    """
    image = np.asarray(image, dtype=np.float64)
    gm, wm = _as_bool_pair(gm_mask, wm_mask)
    if gm.shape != image.shape:
        raise ValueError(f"mask shape {gm.shape} differs from image shape {image.shape}")
    if not gm.any() or not wm.any():
        return float("nan")
    gm_values, wm_values = image[gm], image[wm]
    contrast = (wm_values.mean() - gm_values.mean()) ** 2
    noise = wm_values.var() + gm_values.var()
    if noise == 0:
        return 0.0 if contrast == 0 else float("inf")
    return float(contrast / noise)


def displacement_stats(points_a: npt.ArrayLike, points_b: npt.ArrayLike) -> tuple[float, float]:
    """Mean and maximum Euclidean distance between corresponding points.

    Parameters
    ----------
    points_a, points_b : array_like, shape (n, d)
        The same n points mapped by two different transforms (e.g. brain voxel centres
        of the original image sent to template space by the registration of the
        original and by that of the defaced image), in mm.

    Returns
    -------
    tuple of float
        ``(mean_mm, max_mm)``; ``(0.0, 0.0)`` for zero points.
    """
    a = np.asarray(points_a, dtype=np.float64)
    b = np.asarray(points_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"point arrays must both be (n, d); got {a.shape} and {b.shape}")
    if a.shape[0] == 0:
        return 0.0, 0.0
    distances = np.linalg.norm(a - b, axis=1)
    return float(distances.mean()), float(distances.max())


def max_abs_difference_in_mask(original: npt.ArrayLike, defaced: npt.ArrayLike, mask: npt.ArrayLike) -> float:
    """Largest absolute intensity difference between two images inside a mask.

    Defacing must leave every brain voxel untouched, so this is exactly 0 for a correct
    deface evaluated inside the original's brain mask. Returns 0.0 for an empty mask.
    """
    original = np.asarray(original, dtype=np.float64)
    defaced = np.asarray(defaced, dtype=np.float64)
    mask = np.asarray(mask).astype(bool)
    if not (original.shape == defaced.shape == mask.shape):
        raise ValueError(f"shapes differ: original {original.shape}, defaced {defaced.shape}, mask {mask.shape}")
    if not mask.any():
        return 0.0
    return float(np.abs(original[mask] - defaced[mask]).max())
