"""Which rays of a render can hit the head at all (the others need no casting).

A ray finds the skin where the linearly interpolated soft head volume
(:class:`~bids_deface.methods.qa.render.SurfaceVolume`) reaches 0.5. An interpolated value
of 0.5 or more needs a voxel of 0.5 or more among the eight around the sample, each within
``m`` (the sum of the voxel axes' lengths) of it; and a ray that passes within ``m`` of such
a voxel passes within ``2 m`` of one on the edge of that set (a voxel with a face
neighbour below 0.5): walk from the voxel along the ray's direction until the set ends.
So a ray further than ``2 m`` from every edge voxel, in the picture plane, misses the head,
and the rays that miss are the costly ones (they run the whole depth).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from scipy import ndimage

from ..volume import erode


def edge_points(soft: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World coordinates (N, 3) of every voxel >= 0.5 with a face neighbour below 0.5 (or the grid's edge)."""
    inside = soft >= 0.5
    edge = inside & ~erode(inside, ndimage.generate_binary_structure(3, 1))
    return nib.affines.apply_affine(affine, np.argwhere(edge))


def ray_candidates(points, affine, centre, right, up, n: int, step: float) -> np.ndarray:
    """Boolean (n, n), the ray grid of ``render._cast``: False where the ray surely misses.

    ``points``: :func:`edge_points` of the volume the rays are cast through.
    """
    if len(points) == 0:
        return np.zeros((n, n), dtype=bool)
    import cv2

    margin = 2.0 * np.linalg.norm(np.asarray(affine, float)[:3, :3], axis=0).sum()
    # rounding a point to its ray moves it by at most 0.71 ray: one more ray of margin
    radius = int(np.ceil(margin / step)) + 1
    rel = np.asarray(points, float) - np.asarray(centre, float)
    half = (n - 1) / 2
    col = np.rint(rel @ np.asarray(right, float) / step + half).astype(np.int64) + radius
    row = np.rint(rel @ -np.asarray(up, float) / step + half).astype(np.int64) + radius
    size = n + 2 * radius
    keep = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    grid = np.zeros((size, size), dtype=np.uint8)
    grid[row[keep], col[keep]] = 1
    disc = np.hypot(*np.ogrid[-radius : radius + 1, -radius : radius + 1]) <= radius
    grid = cv2.dilate(grid, disc.astype(np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return grid[radius : radius + n, radius : radius + n].astype(bool)
