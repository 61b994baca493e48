"""nibabel images into antspyx, and one way to seed ANTs' registrations.

antspyx is imported lazily: the rooms that never register load without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import nibabel as nib
import numpy as np


def nifti_to_ants(img: nib.Nifti1Image):
    """Convert a 3D nibabel image to an ``ants.ANTsImage`` (float32, LPS physical space).

    Unlike ``ants.from_nibabel_nifti`` this neither prints nor modifies the header.
    Trailing singleton dimensions are dropped; anything else than 3D raises ``ValueError``.
    """
    import ants

    data = volume_3d(img).astype(np.float32)
    return ants.from_numpy(data, **ants_geometry(img))


def volume_3d(img: nib.Nifti1Image) -> np.ndarray:
    """The voxel values (scaled, as stored otherwise) without trailing singleton dimensions; 3D or ``ValueError``."""
    data = np.asanyarray(img.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"expected a 3D image; got shape {img.shape}")
    return data


def ants_geometry(img: nib.Nifti1Image) -> dict:
    """The ``origin``, ``spacing`` and ``direction`` (LPS) of a nibabel image, for ``ants.from_numpy``."""
    affine = np.asarray(img.affine, dtype=np.float64)
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if np.any(spacing == 0):
        raise ValueError(f"image affine is singular (voxel sizes {spacing})")
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    direction = ras_to_lps @ (affine[:3, :3] / spacing)
    origin = ras_to_lps @ affine[:3, 3]
    return {"origin": tuple(origin), "spacing": tuple(spacing), "direction": direction}


def write_ras_affine(matrix: np.ndarray, path: str) -> str:
    """Write a 4x4 RAS world matrix (fixed point -> moving point) as an ANTs affine file.

    The inverse of reading an ANTs ``.mat`` as RAS: ANTs works in LPS, so the matrix is
    conjugated by ``diag(-1, -1, 1)``; the transform's centre is the origin.
    """
    import ants

    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    lps = flip @ np.asarray(matrix, dtype=np.float64) @ flip
    transform = ants.create_ants_transform(
        transform_type="AffineTransform",
        dimension=3,
        matrix=lps[:3, :3],
        translation=tuple(lps[:3, 3]),
        center=(0.0, 0.0, 0.0),
    )
    ants.write_transform(transform, path)
    return path


@contextlib.contextmanager
def ants_seed(seed: int) -> Iterator[None]:
    """Seed every ``ants.registration`` in the block (antspyx passes it as ``--random-seed``).

    antspyx reads the seed from a module-level setting and ignores a ``random_seed``
    keyword; this sets it for the block and puts the previous value back.
    """
    import ants

    previous = ants.config._random_seed
    ants.config._random_seed = int(seed)
    try:
        yield
    finally:
        ants.config._random_seed = previous
