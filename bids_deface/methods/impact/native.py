"""The impact check's intensity check on the native grid: did defacing change a brain voxel?

The brain mask comes from the working grid (2 mm); the changes are counted on the image's
own grid, where the brain is carried by nearest-neighbour resampling, and only when a
changed voxel could take its value (:func:`may_touch_brain`).
"""

from __future__ import annotations

import numpy as np

from bids_deface.methods.impact.pipeline import WorkingImages


def may_touch_brain(images: WorkingImages, brain: np.ndarray, chunk: int = 200_000) -> bool:
    """Whether any voxel defacing changed could take the brain's value in a nearest-neighbour resampling.

    Nearest-neighbour interpolation picks, along each axis, the floor or the ceiling of a
    point's continuous index in the working grid, so a changed voxel none of whose eight
    surrounding working voxels is brain is outside the resampled brain, whatever the
    rounding. Answers without resampling the brain onto the native grid (ANTs' resampling
    holds about 200 MB for a 1 mm head). ``chunk``: changed voxels looked at together (their
    index, world and working-grid coordinates take about 200 bytes each).
    """
    grid, work = images.native.grid, images.work_original
    to_world = np.asarray(grid.direction) @ np.diag(grid.spacing)
    to_work = np.linalg.inv(np.asarray(work.direction) @ np.diag(work.spacing))
    # padded by one voxel of background: a floor of -1 or n-1 has a neighbour off the grid
    padded = np.pad(brain.astype(bool), 1)
    corners = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    near = np.zeros(tuple(n + 1 for n in brain.shape), bool)  # near[f + 1]: one of f + {0, 1}^3 is brain
    for a, b, c in corners:
        near |= padded[a : a + near.shape[0], b : b + near.shape[1], c : c + near.shape[2]]
    for start in range(0, images.native.index.size, chunk):
        ijk = np.stack(np.unravel_index(images.native.index[start : start + chunk], grid.shape), axis=1)
        world = ijk @ to_world.T + np.asarray(grid.origin)
        floor = np.floor((world - np.asarray(work.origin)) @ to_work.T).astype(np.int64) + 1
        valid = np.all((floor >= 0) & (floor < np.asarray(near.shape)), axis=1)
        if near[tuple(floor[valid].T)].any():
            return True
    return False


def intensity_change_in_brain(images: WorkingImages, brain: np.ndarray) -> float:
    """Largest raw intensity change inside the original's brain mask, on the native grid."""
    import ants

    if not may_touch_brain(images, brain):
        return 0.0
    brain_native = (
        ants.resample_image_to_target(
            images.work_original.new_image_like(brain.astype(np.float32)),
            images.native.grid,
            interp_type="nearestNeighbor",
        ).numpy()
        > 0.5
    )
    # overlap.max_abs_difference_in_mask over the changed voxels only (elsewhere it is 0)
    inside = brain_native.ravel()[images.native.index]
    return float(images.native.size[inside].max()) if inside.any() else 0.0
