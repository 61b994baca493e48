"""Real heads that break the usual assumptions, built from ../shared/data/heads in a test.

* :func:`wrong_voxel_size`: the head on a grid half as fine, stored with a header that still
  says the original voxel size (a conformed 128^3-style volume whose header says 1 mm): the
  head looks half its physical size.
* :func:`lower_face_removed`: only the lower half of what a full deface removes is zeroed (the
  eyes stay): a crude deface an audit must fail.
* :func:`face_already_removed`: the head cut quickshear-style, by the plane tangent to the
  anterior-inferior side of its brain mask (shifted out by a margin): nothing of the face is
  left, the brain is whole.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi


def wrong_voxel_size(img: nib.Nifti1Image, factor: int = 2) -> nib.Nifti1Image:
    """Block-average by ``factor`` per axis, keep the header's voxel size and orientation."""
    data = np.asanyarray(img.dataobj, dtype=np.float32)
    shape = np.asarray(data.shape[:3]) // factor
    cropped = data[: shape[0] * factor, : shape[1] * factor, : shape[2] * factor]
    small = cropped.reshape(shape[0], factor, shape[1], factor, shape[2], factor).mean(axis=(1, 3, 5))
    affine = img.affine.copy()
    centre = img.affine @ np.r_[(np.asarray(data.shape[:3]) - 1) / 2.0, 1.0]
    affine[:3, 3] = centre[:3] - affine[:3, :3] @ ((shape - 1) / 2.0)  # same centre, same voxel size
    out = nib.Nifti1Image(small.astype(np.float32), affine)
    out.header.set_xyzt_units("mm", "sec")
    return out


def face_already_removed(img: nib.Nifti1Image, brain: np.ndarray, margin_mm: float = 8.0) -> nib.Nifti1Image:
    """Zero everything anterior-inferior of a left-right plane that clears the brain by ``margin_mm``.

    Quickshear's idea: of the planes tangent to the brain (grown by the margin) whose normal
    points between anterior and inferior, the one that removes most of the head.
    """
    data = np.asanyarray(img.dataobj).copy()
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    grown = ndi.distance_transform_edt(~brain.astype(bool), sampling=zooms) <= margin_mm
    ijk = np.indices(data.shape[:3]).reshape(3, -1).T
    yz = nib.affines.apply_affine(img.affine, ijk)[:, 1:3]  # RAS: anterior, superior
    inside = yz[grown.reshape(-1)]
    head = data.reshape(-1) > np.percentile(data, 60)
    best = None
    for degrees in range(15, 76, 5):
        normal = np.array([np.cos(np.radians(degrees)), -np.sin(np.radians(degrees))])
        cut = yz @ normal > (inside @ normal).max()
        if best is None or (cut & head).sum() > (best & head).sum():
            best = cut
    data.reshape(-1)[best] = 0
    return nib.Nifti1Image(data, img.affine, img.header.copy())


def lower_face_removed(img: nib.Nifti1Image, deface_mask: nib.Nifti1Image) -> nib.Nifti1Image:
    """A cruder deface: only the lower half (inferior) of the region a full deface removes is zeroed.

    ``deface_mask`` is the participant level's mask of the same image (removed = 0): the
    eyes and the brow stay, the mouth and the chin go, as a box over the lower face would do.
    """
    data = np.asanyarray(img.dataobj).copy()
    removed = np.asanyarray(deface_mask.dataobj) == 0
    ijk = np.argwhere(removed)
    superior = nib.affines.apply_affine(img.affine, ijk)[:, 2]
    lower = ijk[superior < np.median(superior)]
    data[tuple(lower.T)] = 0
    out = nib.Nifti1Image(data, img.affine, img.header)
    out.set_data_dtype(img.get_data_dtype())
    return out
