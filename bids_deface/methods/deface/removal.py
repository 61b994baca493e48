"""Apply a removal mask to an image without changing anything else by a single bit."""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from ..io import raw_data, stored_header, stored_zero

#: The defacing methods bids_deface implements itself.
METHODS = ("deface", "reface", "shear")


@dataclass(frozen=True)
class Defaced:
    """Stored (unscaled) voxel values and the source header as on disk (scaling included)."""

    raw: np.ndarray
    header: nib.Nifti1Header
    voxels_removed: int


def apply_removal(img: nib.Nifti1Image, removal: np.ndarray, fill: np.ndarray | None = None) -> Defaced:
    """Set the voxels of ``removal`` to 0 (or to ``fill``) in every volume of ``img``.

    The stored values are edited, not the scaled ones: dtype, ``scl_slope``/``scl_inter``
    and every header field stay as they are, and voxels outside ``removal`` keep their
    exact bytes. ``fill`` (scaled, real-world values, used by ``reface``) is converted to
    the stored dtype with the source's scaling.
    """
    if removal.shape != img.shape[:3]:
        raise ValueError(f"removal mask shape {removal.shape} differs from the image's {img.shape[:3]}")
    raw = np.array(raw_data(img), copy=True)
    header = stored_header(img)  # with the scaling nibabel keeps in the proxy
    if fill is None:
        value = stored_zero(header)
        if raw.ndim == 4:
            raw[removal, :] = value
        else:
            raw[removal] = value
    else:
        stored = _to_stored(fill[removal], header)
        if raw.ndim == 4:
            raw[removal, :] = stored[:, None]
        else:
            raw[removal] = stored
    return Defaced(raw=raw, header=header, voxels_removed=int(removal.sum()))


def _to_stored(values: np.ndarray, header: nib.Nifti1Header) -> np.ndarray:
    dtype = header.get_data_dtype()
    slope, inter = header.get_slope_inter()
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else slope
    inter = 0.0 if inter is None or not np.isfinite(inter) else inter
    stored = (np.asarray(values, dtype=np.float64) - inter) / slope
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        stored = np.clip(np.rint(stored), info.min, info.max)
    return stored.astype(dtype)
