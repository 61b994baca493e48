"""The independent brain check: a second atlas, registered by a second route.

The defacing protects its template's brain mask carried by the template registration, so
counting that mask's voxels in the removal can never fail. This module estimates the brain
without that registration: the ROBEX head atlas and its brain mask
(:mod:`bids_deface.data.atlas`), registered to the image from the centres of mass by a
similarity then affine fit (:func:`~bids_deface.methods.deface.register.register_from_moments`;
no rotation search, another head, another starting point). Two numbers come out of it:

* :func:`brain_core`: that mask shrunk by :data:`BRAIN_MARGIN_MM` (the boundary error of an
  affine atlas mask), in which no voxel may be removed;
* :func:`registration_disagreement_mm`: how far apart the two registrations put the brain
  (median over the atlas brain, in template millimetres). A wrong defacing registration that
  still looks plausible (a turned head, a local optimum) shows here, whatever the face looks like.

Calibration (docs/methods.rst, "Independent brain check"): on the shared heads the two
registrations disagree by 2-6 mm; a 30-degree error in yaw moves the brain by ~25 mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from ..volume import ball, erode, fill_holes, resample_support
from .register import register_from_moments

#: Shrink the atlas brain mask by this much before counting removed voxels in it: the
#: boundary of an affinely registered atlas mask lies a median 2.8 mm (95th percentile
#: 8.4 mm) outside the true brain of sub-colin.
BRAIN_MARGIN_MM = 6.0
#: The two registrations disagree when they put the brain further apart than this (median, mm).
MAX_DISAGREEMENT_MM = 10.0
#: Every n-th atlas brain voxel is compared (the median needs no more).
_POINT_STRIDE = 50


@dataclass(frozen=True)
class IndependentBrain:
    """The atlas brain mask on an image's grid, and the image -> atlas registration."""

    mask: np.ndarray
    image_to_atlas: np.ndarray


def independent_brain(image: nib.Nifti1Image, atlas, *, seed: int = 42) -> IndependentBrain:
    """Register ``atlas`` (:class:`~bids_deface.data.atlas.BrainAtlas`) to ``image``; carry its brain mask."""
    image_to_atlas = register_from_moments(image, atlas.head, seed=seed)
    brain = atlas.brain
    mask = (
        resample_support(np.asanyarray(brain.dataobj), brain.affine, image.shape[:3], image.affine, image_to_atlas)
        >= 0.5
    )
    return IndependentBrain(mask=mask, image_to_atlas=image_to_atlas)


def registration_disagreement_mm(image_to_template: np.ndarray, image_to_atlas: np.ndarray, atlas) -> float:
    """Median distance (template mm) between where the two registrations put the atlas brain.

    Each atlas brain point is taken back to the image by the independent registration, then
    to the template by the defacing one; the fixed template -> atlas matrix says where it
    should land.
    """
    brain = np.asanyarray(atlas.brain.dataobj) >= 0.5
    points = nib.affines.apply_affine(atlas.brain.affine, np.argwhere(brain)[::_POINT_STRIDE])
    in_image = nib.affines.apply_affine(np.linalg.inv(image_to_atlas), points)
    by_defacing = nib.affines.apply_affine(image_to_template, in_image)
    expected = nib.affines.apply_affine(np.linalg.inv(atlas.template_to_atlas), points)
    return float(np.median(np.linalg.norm(by_defacing - expected, axis=1)))


def brain_core(brain: np.ndarray, zooms, *, margin_mm: float = BRAIN_MARGIN_MM) -> np.ndarray:
    """The voxels deeper than ``margin_mm`` inside ``brain``: what no removal may touch."""
    if not brain.any():
        return brain.copy()
    # the voxels with no non-brain voxel within margin_mm (the distance transform > margin_mm,
    # beyond the grid counting as brain): an erosion by that ball, without a full-grid EDT
    return erode(brain, ball(margin_mm, zooms), outside=True)


def disagreement_review(disagreement_mm: float, *, limit_mm: float = MAX_DISAGREEMENT_MM) -> str | None:
    """The review reason when the two registrations disagree, else ``None``."""
    if disagreement_mm <= limit_mm:
        return None
    return (
        f"the defacing registration and an independent one (another atlas, another start) put the brain "
        f"{disagreement_mm:.1f} mm apart (limit {limit_mm:g} mm): the template may sit on the head wrongly"
    )


def zeroed_from_outside(data: np.ndarray, fill: float = 0) -> np.ndarray:
    """Voxels holding exactly ``fill`` and connected, through such voxels, to the edge of the grid.

    That is the air of an image whose background is zero, and whatever a deface zeroed (its
    removal reaches the air). Tissue inside the skull never holds exactly the fill value all
    the way out to the air, so a voxel of a brain mask in this set was removed.
    """
    zero = np.asarray(data) == fill
    return zero & ~fill_holes(~zero)  # fill_holes adds the zeros that do not reach the edge


def brain_removed_before(data: np.ndarray, core: np.ndarray) -> int:
    """Voxels of an independent brain core that an earlier deface removed (:func:`zeroed_from_outside`)."""
    if data.ndim == 4:
        data = data[..., 0]
    return int((zeroed_from_outside(data) & np.asarray(core, dtype=bool)).sum())
