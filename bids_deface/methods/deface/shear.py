"""``--method shear``: a quickshear-style cut (Schimke & Hale 2011).

Quickshear removes everything on the far side of a plane that touches the brain mask
from the front and below. Here the plane is defined in the template's frame (so it is
the same anatomical plane whatever the image orientation): its normal points anterior
and inferior at ``angle_deg`` below the anterior axis and it is pushed out from the
(already dilated) brain by ``margin_mm``. It is constant along left-right.
"""

from __future__ import annotations

import numpy as np


def shear_mask(
    shape: tuple[int, ...],
    affine: np.ndarray,
    image_to_template: np.ndarray,
    protected: np.ndarray,
    *,
    angle_deg: float = 45.0,
    margin_mm: float = 0.0,
) -> np.ndarray:
    """Voxels beyond the anterior-inferior supporting plane of ``protected`` (bool, image grid)."""
    if not protected.any():
        raise ValueError("the brain mask is empty; cannot place a shear plane")
    angle = np.deg2rad(angle_deg)
    normal = np.array([0.0, np.cos(angle), -np.sin(angle)])  # template RAS: anterior and inferior
    vox_to_template = image_to_template @ affine
    ijk = np.indices(shape[:3], dtype=np.float32).reshape(3, -1)
    coords = vox_to_template[:3, :3] @ ijk + vox_to_template[:3, 3:4]
    distance = (normal @ coords).reshape(shape[:3])
    support = distance[protected].max()
    return (distance > support + margin_mm) & ~protected
