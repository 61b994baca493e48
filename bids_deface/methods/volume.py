"""Voxel data as float volumes, the intensity thresholds every room shares, coarse copies, head size
and resampling onto another grid.

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
    elif data.ndim == 3:
        data = data.astype(np.float32)  # a copy: the image's own array is never changed below
    else:
        raise ValueError(f"expected a 3D or 4D image, got shape {data.shape}")
    return np.nan_to_num(data, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


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
    mask = largest_component(ndi.binary_opening(mask, iterations=1))
    mask = ndi.binary_closing(mask, iterations=2)
    # fill holes slice-wise along every axis (the air in sinuses and ear canals)
    for axis in range(3):
        mask |= _fill_along(mask, axis)
    return mask


def _fill_along(mask: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(mask, axis, 0)
    filled = np.stack([ndi.binary_fill_holes(s) for s in moved], axis=0)
    return np.moveaxis(filled, 0, axis)


def downsample(img: nib.Nifti1Image, resolution_mm: float) -> nib.Nifti1Image:
    """Block-average an image to roughly ``resolution_mm`` voxels (never upsamples).

    Each axis is reduced by an integer factor, so the result is an exact anti-aliased
    average and its affine stays exact. Fast: no interpolation.
    """
    data = float_volume(img)
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    factors = np.maximum(1, np.floor(resolution_mm / zooms + 0.25)).astype(int)
    if np.all(factors == 1):
        return nib.Nifti1Image(data, img.affine)
    shape = np.asarray(data.shape) // factors
    shape = np.maximum(shape, 1)
    cropped = data[: shape[0] * factors[0], : shape[1] * factors[1], : shape[2] * factors[2]]
    blocks = cropped.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2])
    small = blocks.mean(axis=(1, 3, 5), dtype=np.float32)
    scale = np.eye(4)
    scale[:3, :3] = np.diag(factors)
    scale[:3, 3] = (factors - 1) / 2.0
    return nib.Nifti1Image(small, img.affine @ scale)


def head_size_ratio(image: nib.Nifti1Image, reference: nib.Nifti1Image) -> float:
    """How large the head in ``image`` is relative to the one in ``reference``, without registering.

    The geometric mean of the ratios of the heads' left-right widths and front-back lengths
    (2nd to 98th percentile of the head's coordinates on the RAS axes, coarse copies): the
    top of the head fixes both, so a field of view that cuts the face or the neck does not
    change them. A wrong voxel size in a header shows as a ratio far from 1.
    """

    def extent(img: nib.Nifti1Image) -> np.ndarray:
        img = nib.as_closest_canonical(img)
        head = coarse_head_mask(np.asanyarray(img.dataobj))
        if head.sum() < 10:
            return np.full(2, np.nan)
        world = nib.affines.apply_affine(img.affine, np.argwhere(head))[:, :2]
        return np.percentile(world, 98, axis=0) - np.percentile(world, 2, axis=0)

    ratios = extent(image) / extent(reference)
    ratio = float(np.sqrt(np.prod(ratios)))
    return ratio if np.isfinite(ratio) and ratio > 0 else 1.0


def to_plausible_size(
    image: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    *,
    resolution_mm: float,
    scale_range: tuple[float, float],
) -> tuple[nib.Nifti1Image, nib.Nifti1Image, np.ndarray, float]:
    """``image`` with its world frame scaled to ``reference``'s head size when that is implausible.

    A head whose :func:`head_size_ratio` is outside ``scale_range`` (a wrong voxel size in
    the header) is given a world frame scaled about its grid centre by the inverse ratio (the
    data untouched), so the registration sees a head of the usual size at the usual resolution.
    Returns the image, its ``resolution_mm`` copy (:func:`downsample`, made once: the
    measurement and the registration share it), the 4x4 RAS matrix image world -> its scaled
    world (identity when nothing was scaled) and the ratio.
    """
    small = downsample(image, resolution_mm)
    ratio = head_size_ratio(small, reference)
    if scale_range[0] <= ratio <= scale_range[1]:
        return image, small, np.eye(4), ratio
    centre = nib.affines.apply_affine(image.affine, (np.asarray(image.shape[:3]) - 1) / 2.0)
    scaling = np.diag([1 / ratio, 1 / ratio, 1 / ratio, 1.0])
    scaling[:3, 3] = centre - centre / ratio
    scaled = nib.Nifti1Image(np.asanyarray(image.dataobj), scaling @ image.affine)
    return scaled, downsample(scaled, resolution_mm), scaling, ratio


# --------------------------------------------------------------------------- fast binary morphology
# scipy's 3D binary morphology with a ball costs seconds on a 1 mm head (it visits every
# element of the structuring element at every voxel): these give the same voxels, slice by
# slice with OpenCV's 2D morphology (the ball's cross-section at each slice offset).


def dilate(mask: np.ndarray, struct: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(mask, struct)`` for a point-symmetric ``struct``, faster.

    Outside the grid counts as background, as in scipy.
    """
    import cv2

    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    struct = np.asarray(struct, dtype=bool)
    if (
        struct.ndim != 3
        or any(n % 2 == 0 for n in struct.shape)
        or not np.array_equal(struct, struct[::-1, ::-1, ::-1])
    ):
        raise ValueError("dilate needs a 3D point-symmetric structuring element of odd sides")
    r = struct.shape[0] // 2
    out = np.zeros_like(mask)
    for dz in range(r + 1):
        kernel = struct[r + dz].astype(np.uint8)
        if not kernel.any():
            continue
        flat = [cv2.dilate(s, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) for s in mask]
        layer = np.stack(flat) if flat else mask.copy()
        # the kernel at offset +dz equals the one at -dz (symmetry): shift the layer both ways
        out[: len(out) - dz] |= layer[dz:]
        if dz:
            out[dz:] |= layer[: len(layer) - dz]
    return out.astype(bool)


def erode(mask: np.ndarray, struct: np.ndarray, *, outside: bool = False) -> np.ndarray:
    """``scipy.ndimage.binary_erosion(mask, struct, border_value=outside)``, faster.

    ``outside``: what lies beyond the grid (background by default, as in scipy).
    """
    pad = [(n // 2, n // 2) for n in np.shape(struct)]
    grown = dilate(np.pad(~np.asarray(mask, dtype=bool), pad, constant_values=not outside), struct)
    return ~grown[tuple(slice(p, p + n) for (p, _), n in zip(pad, np.shape(mask)))]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` (face connectivity), by labelling the background once."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.size:
        return mask.copy()
    labels, _ = ndi.label(~mask)
    outside = np.zeros(labels.max() + 1, dtype=bool)  # background that reaches the grid's edge
    for axis in range(mask.ndim):
        for index in (0, -1):
            outside[np.unique(np.take(labels, index, axis=axis))] = True
    outside[0] = False  # label 0 is the mask itself
    return ~outside[labels]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected region of a mask (face connectivity; the first of equals); empty stays empty."""
    labels, n = ndi.label(mask)
    if n < 2:
        return labels > 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def fill_all_but_largest_background(mask: np.ndarray) -> np.ndarray:
    """ANTs ``iMath FillHoles``: every background region but the largest (face connectivity) filled.

    The same voxels as ANTs on the impact check's brain masks (its ITK filter took 0.6 s
    on a 2 mm head, this 0.02 s). Unlike :func:`fill_holes`, background cut off from the
    rest by the mask counts as a hole even where it reaches the grid's edge.
    """
    return ~largest_component(~np.asarray(mask, dtype=bool))


def ellipsoid(radius) -> np.ndarray:
    """Structuring element: an ellipsoid of whole voxels with per-axis radii (voxels, at least 1)."""
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
    return sum((g / max(r, 1)) ** 2 for g, r in zip(grids, radius)) <= 1.0


def ball(radius_mm: float, zooms) -> np.ndarray:
    """Structuring element: the voxel offsets within ``radius_mm`` (world mm) of the centre."""
    zooms = np.asarray(zooms[:3], dtype=float)
    half = np.floor(radius_mm / zooms).astype(int)
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    return np.sqrt(sum((g * z) ** 2 for g, z in zip(grids, zooms))) <= radius_mm


# --------------------------------------------------------------------------- resampling


def resample_to(
    source: np.ndarray,
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    target_to_source: np.ndarray | None = None,
    *,
    order: int = 1,
    cval: float = 0.0,
    mode: str = "constant",
) -> np.ndarray:
    """Resample ``source`` onto a target grid through ``target_to_source`` (RAS world 4x4).

    ``mode="nearest"`` extends the edge values beyond the source grid (for masks that
    reach the edge of their grid, such as the air in front of a template's face).
    """
    world = np.eye(4) if target_to_source is None else target_to_source
    vox = np.linalg.inv(source_affine) @ world @ target_affine
    return ndi.affine_transform(
        np.asarray(source, dtype=np.float32),
        vox[:3, :3],
        vox[:3, 3],
        output_shape=tuple(target_shape[:3]),
        order=order,
        mode=mode,
        cval=cval,
        prefilter=False,
    )


def resample_support(
    source: np.ndarray,
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    target_to_source: np.ndarray | None = None,
    *,
    order: int = 1,
) -> np.ndarray:
    """:func:`resample_to` (``mode="constant"``, ``cval=0``) of a mostly empty ``source``, done
    only in the box of the target grid its nonzero voxels can reach.

    A target voxel outside that box samples the source more than one voxel away from every
    nonzero voxel, where linear and nearest-neighbour interpolation both give 0; inside it,
    :func:`resample_box` (the rounding of its offset aside). The work is the box's alone: the
    template's facial features and ears cover a small part of a head's grid (0.5 -> 0.17 s
    and 0.6 -> 0.08 s on a 1 mm head). Returns the full-size result; an empty source gives
    zeros.
    """
    target_shape = tuple(target_shape[:3])
    nonzero = np.asarray(source) != 0
    out = np.zeros(target_shape, dtype=np.float32)
    if not nonzero.any():
        return out
    first, last = bounding_box(nonzero)
    lo, hi = first - 1, last + 1  # one voxel of interpolation around
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])], float)
    world = np.eye(4) if target_to_source is None else target_to_source
    to_target = np.linalg.inv(target_affine) @ np.linalg.inv(world) @ source_affine
    reach = nib.affines.apply_affine(to_target, corners)
    start = np.clip(np.floor(reach.min(axis=0)).astype(int) - 1, 0, target_shape)
    stop = np.clip(np.ceil(reach.max(axis=0)).astype(int) + 2, 0, target_shape)
    if np.any(stop <= start):
        return out
    box = tuple(slice(a, b) for a, b in zip(start, stop))
    out[box] = resample_box(source, source_affine, target_affine, start, stop, target_to_source, order=order)
    return out


def resample_box(
    source: np.ndarray,
    source_affine: np.ndarray,
    target_affine: np.ndarray,
    start,
    stop,
    target_to_source: np.ndarray | None = None,
    *,
    order: int = 1,
) -> np.ndarray:
    """:func:`resample_to` (``mode="constant"``) over the box ``[start, stop)`` of a target grid.

    The box's values are the whole grid's but for the rounding of the box's offset (1e-12
    apart on the shared heads; a voxel within that of a threshold or of a nearest-neighbour
    tie could go either way).
    """
    shift = np.eye(4)
    shift[:3, 3] = start
    shape = tuple(int(b - a) for a, b in zip(start, stop))
    return resample_to(source, source_affine, shape, target_affine @ shift, target_to_source, order=order)


def bounding_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of a nonempty mask's voxels along each axis (from its projections)."""
    mask = np.asarray(mask, dtype=bool)
    spans = [
        np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis))) for axis in range(mask.ndim)
    ]
    return np.array([span[0] for span in spans]), np.array([span[-1] for span in spans])
