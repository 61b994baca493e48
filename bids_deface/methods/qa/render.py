"""Head-surface renders of anatomical MRI, before and after defacing.

The renders are what a rater (Theyers et al. 2021) or a face detector looks at: the skin
surface of the head seen from the front and at 30 and 45 degrees either side, plus a
profile, as 8-bit grey images with the face up.

How a view is made (pure numpy/scipy, no OpenGL):

1. :func:`head_mask` separates head from background with a threshold estimated from the
   data (:func:`bids_deface.methods.volume.background_threshold`), then keeps the largest component, closes it and
   fills it, so it works for T1w, T2w, PDw and FLAIR alike.
2. The mask, lightly smoothed, is sampled with :func:`scipy.ndimage.map_coordinates`
   on a view-aligned grid of about 1 mm in *world* millimetres (via the affine, so
   anisotropic voxels keep their physical aspect).
3. The first crossing of the 0.5 level along each ray gives a depth map (sub-sample
   precision by linear interpolation), upsampled to the output size.
4. Normals from the depth-map gradient are shaded (Lambert + Blinn-Phong, a head light
   slightly above the camera), with a mild depth cue; the background is black.

Conventions
-----------
World space is RAS+ (nibabel). The *head frame* is RAS+ too: world itself, or, when
``head_to_world`` (4x4, e.g. the template-to-image registration) is given, the frame it
maps from, so an oblique or tilted head is viewed in its own frame. With ``yaw_deg=0``
the camera stands on the +A side looking at the face, superior at the top of the
picture, the subject's right on the picture's left (as in a photograph). ``yaw_deg > 0``
moves the viewpoint toward the subject's right (90 is the right profile, face pointing to
the picture's right); ``pitch_deg > 0`` raises the viewpoint toward superior.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import nibabel as nib
import numpy as np
from scipy import ndimage

from ..volume import background_threshold, dilate, ellipsoid, erode, fill_holes, float_volume, largest_component
from .silhouette import edge_points, ray_candidates

LOGGER = logging.getLogger(__name__)

#: Named views (yaw in degrees; positive toward the subject's right).
VIEWS: dict[str, float] = {
    "front": 0.0,
    "left30": -30.0,
    "right30": 30.0,
    "left45": -45.0,
    "right45": 45.0,
    "profile": 90.0,
}

#: Sampling step of the ray cast, mm (the depth map is upsampled to the output size).
RAY_STEP_MM = 1.0
#: Margin around the head silhouette, as a fraction of its larger extent.
FRAME_MARGIN = 0.04
#: The skin is placed at this multiple of the Otsu background threshold: a little
#: above the air/tissue split, which drops faint shells (partial volume, noise, and
#: the averaged goggles in front of the pydeface template's face) and keeps the skin,
#: whose intensity is many times the noise floor in every contrast.
SKIN_FACTOR = 2.5


def skin_threshold(data: np.ndarray) -> float:
    """Intensity of the skin surface: ``SKIN_FACTOR`` x :func:`background_threshold`."""
    return SKIN_FACTOR * background_threshold(data)


def head_mask(img: nib.Nifti1Image) -> np.ndarray:
    """Binary head mask (skin surface and everything inside), robust to contrast.

    Parameters
    ----------
    img
        A 3D or 4D anatomical image (4D images are averaged over volumes).

    Returns
    -------
    numpy.ndarray
        Boolean array on the image grid (first three axes).
    """
    data = float_volume(img)
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    # light smoothing (about 1 mm) tames the background noise before thresholding
    smooth = ndimage.gaussian_filter(data, sigma=np.clip(1.0 / zooms, 0.3, 1.5))
    del data  # each full-size volume is let go once the next exists (4 bytes a voxel each)
    mask = smooth > skin_threshold(smooth)
    del smooth
    if not mask.any():
        raise ValueError("no voxel above the background threshold")
    mask = largest_component(mask)
    # close small gaps (dark skull, sinuses, ear canals) about 3 mm, then fill
    radius = np.maximum(np.round(3.0 / zooms).astype(int), 1)
    struct = ellipsoid(radius)
    pad = radius.max() + 1
    padded = np.pad(mask, pad)
    padded = erode(dilate(padded, struct), struct)  # a binary closing
    mask = padded[pad:-pad, pad:-pad, pad:-pad]
    mask = _fill_holes(mask, img.affine)
    LOGGER.debug("head mask: %d voxels (%.1f%%)", mask.sum(), 100 * mask.mean())
    return mask


def _fill_holes(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Fill 3D holes, then 2D holes in axial slices (a neck open at the edge of the FOV).

    Only the voxel axis closest to superior-inferior is sliced: filling coronal or
    sagittal slices would close the ring of brow, cheekbones and orbital rims and
    paint a plate over the eyes.
    """
    mask = fill_holes(mask)
    axis = int(np.argmax(np.abs(affine[2, :3]) / np.linalg.norm(affine[:3, :3], axis=0)))
    moved = np.moveaxis(mask, axis, 0)
    filled = np.stack([fill_holes(s) for s in moved])
    return np.moveaxis(filled, 0, axis)


def _orthonormal(linear: np.ndarray) -> np.ndarray:
    """Closest rotation to a 3x3 linear map (polar decomposition)."""
    u, _, vt = np.linalg.svd(linear)
    rot = u @ vt
    if np.linalg.det(rot) < 0:  # keep a proper rotation; a flip is not a viewpoint
        u[:, -1] *= -1
        rot = u @ vt
    return rot


def view_axes(
    yaw_deg: float, pitch_deg: float = 0.0, head_to_world: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World directions of a view: (toward camera, picture right, picture up).

    Parameters
    ----------
    yaw_deg, pitch_deg
        Viewpoint angles in the head frame (see the module docstring).
    head_to_world
        4x4 head(template)-to-world affine; its closest rotation orients the view.

    Returns
    -------
    tuple of numpy.ndarray
        Three unit 3-vectors in world RAS.
    """
    yaw, pitch = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    toward = np.array([np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), np.sin(pitch)])
    superior = np.array([0.0, 0.0, 1.0])
    up = superior - superior.dot(toward) * toward
    if np.linalg.norm(up) < 1e-6:  # looking straight down/up: anterior is up
        up = np.array([0.0, 1.0, 0.0]) * -np.sign(toward[2])
    up /= np.linalg.norm(up)
    right = np.cross(up, toward)
    if head_to_world is not None:
        rot = _orthonormal(np.asarray(head_to_world, dtype=float)[:3, :3])
        toward, right, up = rot @ toward, rot @ right, rot @ up
    return toward, right, up


def _surface_points(mask: np.ndarray, affine: np.ndarray, max_points: int = 200_000) -> np.ndarray:
    """World coordinates (N, 3) of the mask's boundary voxels, subsampled."""
    edge = mask & ~erode(mask, ndimage.generate_binary_structure(3, 1))
    ijk = np.argwhere(edge)
    if len(ijk) > max_points:
        ijk = ijk[:: len(ijk) // max_points + 1]
    return nib.affines.apply_affine(affine, ijk)


def render_head(
    img: nib.Nifti1Image,
    yaw_deg: float = 0.0,
    *,
    pitch_deg: float = 0.0,
    head_to_world: np.ndarray | None = None,
    size: int = 512,
    mask: np.ndarray | None = None,
    center_mm: np.ndarray | None = None,
    fov_mm: float | None = None,
) -> np.ndarray:
    """Render the head surface of an image from one viewpoint.

    Parameters
    ----------
    img
        Anatomical image (3D or 4D).
    yaw_deg, pitch_deg, head_to_world
        Viewpoint (see the module docstring for the conventions).
    size
        Output height and width, pixels.
    mask
        Head mask on the image grid (default: :func:`head_mask`).
    center_mm, fov_mm
        World point at the picture centre and field of view (mm). Default: the head
        silhouette, plus a small margin, fills the frame. Pass the values of the
        original image (:func:`view_frame`) to frame a defaced image identically.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array (size, size), superior at the top, black background.
    """
    surface = surface_volume(img, mask)
    return _render(surface, img.affine, yaw_deg, pitch_deg, head_to_world, size, center_mm, fov_mm)


class SurfaceVolume:
    """What every view of one image needs: a soft head volume and its surface points.

    ``soft`` is 0 in the air and 1 inside the head, with the skin at the 0.5 level:
    the intensity scaled so that the background threshold maps to 0.5 (a smooth,
    sub-voxel iso-surface, like marching cubes on the intensities), restricted to the
    head mask grown by about 1 mm, and forced to 1 deeper than about 2 mm inside the
    mask so that dark tissue under the skin never lets a ray through.
    """

    def __init__(self, soft: np.ndarray, points: np.ndarray):
        self.soft = soft
        self.points = points
        self.edges: dict = {}  # affine bytes -> silhouette.edge_points, made at the first render


def surface_volume(img: nib.Nifti1Image, mask: np.ndarray | None = None) -> SurfaceVolume:
    """Prepare an image for rendering (see :class:`SurfaceVolume`)."""
    # one full-size float volume at a time (a 1 mm head is 55 MB each): the mask first, and
    # each step's input let go once the next one exists
    mask = head_mask(img) if mask is None else np.asarray(mask, dtype=bool)
    data = float_volume(img)
    if mask.shape != data.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {data.shape}")
    zooms = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))
    smooth = ndimage.gaussian_filter(data, sigma=np.clip(0.6 / zooms, 0.3, 1.0))
    del data
    if not mask.any():
        return SurfaceVolume(np.zeros(smooth.shape, np.float32), np.empty((0, 3)))
    threshold = skin_threshold(smooth)
    # in place: two more full-size temporaries otherwise
    smooth *= 0.5 / threshold
    soft = np.clip(smooth, 0.0, 1.0, out=smooth).astype(np.float32, copy=False)
    del smooth
    soft[~dilate(mask, ellipsoid(np.maximum(np.round(1.0 / zooms), 1).astype(int)))] = 0.0
    soft[erode(mask, ellipsoid(np.maximum(np.round(2.0 / zooms), 1).astype(int)))] = 1.0
    soft = ndimage.gaussian_filter(soft, sigma=np.clip(0.5 / zooms, 0.25, 1.0))
    return SurfaceVolume(soft, _surface_points(mask, img.affine))


def _render(surface, affine, yaw_deg, pitch_deg, head_to_world, size, center_mm, fov_mm):
    """Ray-cast and shade one view of a prepared :class:`SurfaceVolume`."""
    points = surface.points
    if len(points) == 0:
        return np.zeros((size, size), dtype=np.uint8)
    toward, right, up = view_axes(yaw_deg, pitch_deg, head_to_world)
    if center_mm is None or fov_mm is None:
        c0, f0 = view_frame(points, toward, right, up)
        center_mm = c0 if center_mm is None else np.asarray(center_mm, float)
        fov_mm = f0 if fov_mm is None else float(fov_mm)
    depth_map = cast_view(surface, affine, (toward, right, up), size, center_mm, fov_mm)
    return _shade(depth_map, ray_grid(fov_mm, size)[1], size)


def ray_grid(fov_mm: float, size: int) -> tuple[int, float]:
    """The rays of a ``size`` picture of ``fov_mm``: how many per side, and their spacing (mm)."""
    ncast = int(min(size, max(64, np.ceil(fov_mm / RAY_STEP_MM))))
    return ncast, fov_mm / ncast


def cast_view(surface, affine, axes, size: int, center_mm, fov_mm: float) -> np.ndarray:
    """Depth map of one view (:func:`ray_grid` rays a side; mm toward the camera, NaN for a miss).

    ``axes``: the view's (toward, right, up) of :func:`view_axes`. Rays that surely miss the
    head (:mod:`.silhouette`) are not cast.
    """
    toward, right, up = axes
    ncast, step = ray_grid(fov_mm, size)
    if len(surface.points) == 0:
        return np.full((ncast, ncast), np.nan, dtype=np.float32)
    depth_extent = surface.points @ toward - np.dot(center_mm, toward)
    front, back = depth_extent.max() + 3.0, depth_extent.min() - 3.0
    key = np.asarray(affine, float).tobytes()
    if key not in getattr(surface, "edges", {}):
        surface.edges = {key: edge_points(surface.soft, affine)}
    todo = ray_candidates(surface.edges[key], affine, center_mm, right, up, ncast, step)
    return _cast(surface.soft, affine, center_mm, toward, right, up, ncast, step, front, back, todo)


def view_frame(points: np.ndarray, toward: np.ndarray, right: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (world mm) and square field of view (mm) that frame the points."""
    u, v = points @ right, points @ up
    (u0, u1), (v0, v1) = (u.min(), u.max()), (v.min(), v.max())
    fov = max(u1 - u0, v1 - v0) * (1 + 2 * FRAME_MARGIN)
    depth = np.median(points @ toward)
    centre = right * (u0 + u1) / 2 + up * (v0 + v1) / 2 + toward * depth
    return centre, float(fov)


def _cast(soft, affine, centre, toward, right, up, n, step, front, back, todo=None) -> np.ndarray:
    """Depth (mm, along ``toward`` from the centre) of the first surface hit per ray.

    Rays that miss the head are NaN. The mask is smoothed (about 1 mm) and linearly
    interpolated, and the 0.5 crossing is located with sub-sample precision. ``todo``
    (n, n): the rays to cast (:func:`~bids_deface.methods.qa.silhouette.ray_candidates`);
    the others are taken to miss.
    """
    offsets = (np.arange(n) - (n - 1) / 2) * step
    depths = np.arange(front, back, -RAY_STEP_MM)
    world_to_vox = np.linalg.inv(affine)
    # voxel coordinates are affine in (row, col, depth): build them by broadcasting
    base = world_to_vox[:3, :3] @ centre + world_to_vox[:3, 3]
    d_col = world_to_vox[:3, :3] @ right
    d_row = world_to_vox[:3, :3] @ (-up)
    d_dep = world_to_vox[:3, :3] @ toward
    hit = np.full((n, n), np.nan, dtype=np.float32)
    prev = np.zeros((n, n), dtype=np.float32)
    rows, cols = np.meshgrid(offsets, offsets, indexing="ij")
    todo = np.ones((n, n), dtype=bool) if todo is None else np.array(todo, dtype=bool)
    slab = 16
    for start in range(0, len(depths), slab):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        dz = depths[start : start + slab]
        r, c = rows.ravel()[idx], cols.ravel()[idx]
        coords = (
            base[:, None, None]
            + d_row[:, None, None] * r[None, :, None]
            + d_col[:, None, None] * c[None, :, None]
            + d_dep[:, None, None] * dz[None, None, :]
        )
        vals = ndimage.map_coordinates(soft, coords.reshape(3, -1), order=1, cval=0.0)
        vals = vals.reshape(idx.size, dz.size)
        vals = np.concatenate([prev.ravel()[idx][:, None], vals], axis=1)
        above = vals >= 0.5
        first = np.argmax(above[:, 1:], axis=1) + 1
        found = above[:, 1:].any(axis=1)
        k = np.flatnonzero(found)
        v0, v1 = vals[k, first[k] - 1], vals[k, first[k]]
        frac = (0.5 - v0) / np.maximum(v1 - v0, 1e-6)
        zhit = dz[first[k] - 1] + RAY_STEP_MM * (1 - frac)  # dz[j] is the sample j+1
        hit.ravel()[idx[k]] = zhit
        todo.ravel()[idx[k]] = False
        prev.ravel()[idx] = vals[:, -1]
    return hit


def _shade(depth: np.ndarray, step: float, size: int) -> np.ndarray:
    """Shade a depth map (mm toward the camera; NaN = background) to uint8 (size, size)."""
    inside = np.isfinite(depth)
    if not inside.any():
        return np.zeros((size, size), dtype=np.uint8)
    floor = np.nanmin(depth) - 5.0
    filled = np.where(inside, depth, floor)
    # keep silhouette edges crisp: extend the surface outward before smoothing
    nearest = ndimage.distance_transform_edt(~inside, return_distances=False, return_indices=True)
    filled = filled[tuple(nearest)]
    zoom = size / depth.shape[0]
    hi = ndimage.zoom(filled, zoom, order=3, mode="nearest")
    inside_hi = ndimage.zoom(inside.astype(np.float32), zoom, order=1) >= 0.5
    hi = ndimage.gaussian_filter(hi, sigma=max(zoom * 0.6, 0.5))
    pix = step / zoom
    gy, gx = np.gradient(hi, pix)  # rows go down the picture, columns to the right
    # surface z(x, y) with y up: normal ~ (-dz/dx, -dz/dy, 1), dz/dy = -gy
    normal = np.stack([-gx, gy, np.ones_like(hi)])
    normal /= np.linalg.norm(normal, axis=0)
    light = np.array([-0.25, 0.35, 1.0])
    light /= np.linalg.norm(light)
    lambert = np.clip(np.tensordot(light, normal, axes=1), 0, 1)
    half = light + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    specular = np.clip(np.tensordot(half, normal, axes=1), 0, 1) ** 24
    d = hi[inside_hi]
    near, far = np.percentile(d, 99.5), np.percentile(d, 1)
    cue = 0.75 + 0.25 * np.clip((hi - far) / max(near - far, 1e-3), 0, 1)
    shade = (0.12 + 0.78 * lambert) * cue + 0.18 * specular
    out = np.where(inside_hi, np.clip(shade, 0, 1) * 255, 0)
    return out.astype(np.uint8)


def render_views(
    img: nib.Nifti1Image,
    views: Mapping[str, float] = VIEWS,
    *,
    head_to_world: np.ndarray | None = None,
    size: int = 512,
    mask: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Render several yaw views of one image (the head mask is computed once).

    Returns
    -------
    dict
        View name -> uint8 picture (see :func:`render_head`).
    """
    surface = surface_volume(img, mask)
    return {
        name: _render(surface, img.affine, yaw, 0.0, head_to_world, size, None, None) for name, yaw in views.items()
    }
