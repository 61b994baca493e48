"""Where a face's skin would be: depth maps of a head and of the registered template.

A check without the original (the audit of a dataset defaced earlier) cannot compare
renders before and after. What it can compare is the head's surface with the template's
skin carried onto the image by the template registration, seen from the same viewpoint
with the same framing: a face left on the head lies where the template's skin is (give or
take the shape of one face), while a cut surface lies well behind it, inside what was the
head. :func:`face_depth_skin` marks, per picture pixel, the surface that lies no more than
:data:`FACE_DEPTH_MM` behind the template's skin.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from scipy import ndimage

from .render import SurfaceVolume, _surface_points, cast_view, ray_grid, view_axes

#: How far behind the template's skin (mm, along the view) a surface still counts as a face's
#: skin. On the shared heads the features of every face found on an original lie between
#: 10 mm in front of and 12.5 mm behind the template's skin (registration error, the shape of
#: one face); the features of detections on cut surfaces 22-42 mm behind it: the limit sits
#: between the two (benchmarks/README.md, "Audit without the original").
FACE_DEPTH_MM = 15.0


def mask_surface(mask: np.ndarray, affine: np.ndarray) -> SurfaceVolume:
    """A :class:`~.render.SurfaceVolume` of a binary head mask (the template's, carried to an image)."""
    mask = np.asarray(mask, dtype=bool)
    zooms = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    soft = ndimage.gaussian_filter(mask.astype(np.float32), sigma=np.clip(0.8 / zooms, 0.3, 1.0))
    return SurfaceVolume(soft, _surface_points(mask, affine))


def depth_map(
    surface: SurfaceVolume, affine: np.ndarray, yaw_deg: float, centre: np.ndarray, fov_mm: float, size: int
) -> np.ndarray:
    """Depth (mm toward the camera; NaN where no surface) per pixel of a ``size`` picture of one view.

    The rays of :func:`~.render._render` with the same framing, so pixel ``(row, col)`` here
    is pixel ``(row, col)`` of the picture.
    """
    return to_picture(cast_view(surface, affine, view_axes(yaw_deg, 0.0, None), size, centre, fov_mm), size)


def to_picture(rays: np.ndarray, size: int) -> np.ndarray:
    """A view's depth map (:func:`~.render.cast_view`) at picture size: each pixel takes its ray's depth."""
    return rays[np.ix_(*[_pixel_rays(len(rays), size)] * 2)]


def _pixel_rays(ncast: int, size: int) -> np.ndarray:
    """The ray of each pixel along a side of the picture."""
    return np.minimum((np.arange(size) * ncast) // size, ncast - 1)


def surface_in(
    mask: np.ndarray, affine: np.ndarray, depth: np.ndarray, yaw_deg: float, centre: np.ndarray, fov_mm: float
) -> np.ndarray:
    """Per pixel of a depth map: does the surface point seen there lie in ``mask`` (on the image grid)?"""
    size = depth.shape[0]
    ncast, step = ray_grid(fov_mm, size)
    offsets = (_pixel_rays(ncast, size) - (ncast - 1) / 2) * step
    toward, right, up = view_axes(yaw_deg, 0.0, None)
    rows, cols = np.meshgrid(offsets, offsets, indexing="ij")
    hit = np.isfinite(depth)
    world = (
        np.asarray(centre)[None, :]
        - rows[hit][:, None] * up[None, :]
        + cols[hit][:, None] * right[None, :]
        + depth[hit][:, None] * toward[None, :]
    )
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(affine), world)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(mask.shape[:3])), axis=1)
    found = np.zeros(len(ijk), dtype=bool)
    found[inside] = mask[tuple(ijk[inside].T)]
    out = np.zeros(depth.shape, dtype=bool)
    out[hit] = found
    return out


def face_depth_skin(head_depth: np.ndarray, template_depth: np.ndarray, max_behind_mm: float = FACE_DEPTH_MM):
    """Pixels whose surface is where a face's skin would be (bool, picture-sized).

    A pixel counts when the head's surface there lies at most ``max_behind_mm`` behind the
    template's skin, or when the template does not reach that pixel (a head larger than the
    template: nothing says it is a cut, so it counts as skin).
    """
    head = np.isfinite(head_depth)
    behind = np.where(np.isfinite(template_depth), template_depth - head_depth, 0.0)
    return head & (behind <= max_behind_mm)
