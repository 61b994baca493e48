"""Voxel data as float volumes, and the intensity thresholds every room shares.

One definition of "the image as numbers" (float32, 3D, a 4D image averaged over its
volumes, non-finite values as background) and of the air/tissue split (Otsu on log
intensities), so the registration, the renders and the feature checks agree on what is
head. Two head masks are built on that split, for two jobs:

* :func:`coarse_head_mask`: the foreground of a 4-8 mm registration copy (the split,
  largest blob, filled slice-wise); it judges how well a template registration overlaps
  the head;
* :func:`bids_deface.methods.qa.render.head_mask`: the skin surface at full resolution
  (a little above the split, smoothed and closed about 3 mm) that the renders and the
  facial-feature check look at.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi


def float_volume(img: nib.Nifti1Image) -> np.ndarray:
    """The image data as float32 3D (mean over volumes for 4D), non-finite values -> 0."""
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4:
        data = data.mean(axis=3, dtype=np.float32)
    elif data.ndim != 3:
        raise ValueError(f"expected a 3D or 4D image, got shape {data.shape}")
    data = np.asarray(data, dtype=np.float32)
    return np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)


def background_threshold(data: np.ndarray) -> float:
    """Intensity separating head from background, estimated from the data.

    Otsu's threshold (scikit-image) on ``log1p`` of the positive intensities: the air
    (noise floor, Rician, a few units) and the tissues (hundreds) are two modes far apart
    on a log scale whatever the contrast. Exact zeros (zero-filled or previously masked
    backgrounds) are left out of the histogram.

    Parameters
    ----------
    data
        3D intensities.

    Returns
    -------
    float
        The threshold; voxels strictly above it are candidate head.
    """
    from skimage.filters import threshold_otsu

    positive = data[data > 0]
    if positive.size < 16:
        raise ValueError("image has (almost) no positive voxels: no head to find")
    if positive.size > 2_000_000:  # a regular subsample is plenty for a histogram
        positive = positive[:: positive.size // 2_000_000 + 1]
    return float(np.expm1(threshold_otsu(np.log1p(positive))))


def coarse_head_mask(data: np.ndarray) -> np.ndarray:
    """The head (foreground) of a coarse copy, any contrast: above the split, largest blob, filled."""
    if np.count_nonzero(data > 0) < 100:
        return np.zeros(data.shape, dtype=bool)
    mask = data > background_threshold(data)
    mask = ndi.binary_opening(mask, iterations=1)
    labels, n = ndi.label(mask)
    if n > 1:
        sizes = ndi.sum(mask, labels, index=np.arange(1, n + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    mask = ndi.binary_closing(mask, iterations=2)
    # fill holes slice-wise along every axis (the air in sinuses and ear canals)
    for axis in range(3):
        mask |= _fill_along(mask, axis)
    return mask


def _fill_along(mask: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(mask, axis, 0)
    filled = np.stack([ndi.binary_fill_holes(s) for s in moved], axis=0)
    return np.moveaxis(filled, 0, axis)
