"""``--method reface``: replace the removed region with the template's face.

Defacing leaves a hole that downstream tools and deep-learning models have never seen
(Cali et al. 2023 found a brain-age CNN's error rising from 4.9 to 8.0-10.6 years after
defacing). Refacing fills the hole with the template's face, carried by the same
registration and intensity-matched to the image by quantile mapping on the tissue
around the hole, so that the head looks plausible and belongs to nobody.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from ..volume import coarse_head_mask, float_volume, resample_to
from .masks import dilate_mm

#: Quantiles matched between template and image intensities.
_QUANTILES = np.linspace(1, 99, 50)


def reface_fill(
    img: nib.Nifti1Image,
    template_head: nib.Nifti1Image,
    image_to_template: np.ndarray,
    removal: np.ndarray,
    *,
    ring_mm: float = 15.0,
) -> np.ndarray:
    """Intensities (real-world, scaled) for the voxels of ``removal``; 0 elsewhere.

    The template head is resampled onto ``img``'s grid; its intensities are mapped to the
    image's by matching quantiles inside a ring of head tissue around the removal region
    (``ring_mm`` wide), where both images show the same anatomy.
    """
    data = float_volume(img)
    template = resample_to(
        np.asanyarray(template_head.dataobj), template_head.affine, img.shape[:3], img.affine, image_to_template
    )
    ring = dilate_mm(removal, img.header.get_zooms(), ring_mm) & ~removal
    head = coarse_head_mask(data)
    ring &= head & (template > 0)
    if ring.sum() < 50:  # nothing to learn from: scale by the ratio of head medians
        ratio = np.median(data[head]) / max(np.median(template[template > 0]), 1e-6) if head.any() else 1.0
        mapped = template * ratio
    else:
        source_q = np.percentile(template[ring], _QUANTILES)
        target_q = np.percentile(data[ring], _QUANTILES)
        source_q, index = np.unique(source_q, return_index=True)
        mapped = np.interp(template, source_q, target_q[index])
        mapped[template <= 0] = 0.0
    fill = np.zeros(img.shape[:3], dtype=np.float32)
    fill[removal] = mapped[removal]
    return fill
