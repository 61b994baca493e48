"""Tests of bids_deface.methods.qa.render on synthetic phantoms (2-3 mm, a few seconds)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from phantoms import deface_phantom, make_head

from bids_deface.methods.qa import render

SIZE = 192


def _bbox(picture: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(picture)
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.fixture(scope="module")
def head():
    return make_head(voxel_mm=3.0)


@pytest.mark.parametrize("contrast", ["T1w", "T2w", "PDw", "FLAIR"])
def test_head_mask_every_contrast(contrast):
    ph = make_head(voxel_mm=3.0, contrast=contrast)
    mask = render.head_mask(ph.image)
    # the whole brain is inside, and the mask is about the head ellipsoid's volume
    assert mask[ph.brain_mask].all()
    volume = mask.sum() * 27.0
    ellipsoid = 4 / 3 * np.pi * np.prod(make_head.__globals__["HEAD_AXES"])
    assert 0.95 * ellipsoid < volume < 1.2 * ellipsoid
    # no background: the corners of the box are air
    assert not mask[:3, :3, :3].any() and not mask[-3:, -3:, -3:].any()


def test_threshold_from_data_not_fixed():
    dim = make_head(voxel_mm=3.0)
    bright = nib.Nifti1Image(np.asarray(dim.image.dataobj) * 40.0, dim.image.affine)
    a, b = render.head_mask(dim.image), render.head_mask(bright)
    assert (a == b).mean() > 0.999
    assert render.background_threshold(np.asarray(bright.dataobj)) > 30 * render.background_threshold(
        np.asarray(dim.image.dataobj)
    )


def test_render_nonempty_and_fills_frame(head):
    pic = render.render_head(head.image, 0.0, size=SIZE)
    assert pic.shape == (SIZE, SIZE) and pic.dtype == np.uint8
    assert (pic > 0).mean() > 0.4
    r0, r1, c0, c1 = _bbox(pic)
    assert r1 - r0 > 0.85 * SIZE  # the head (taller than wide) fills the frame
    assert c1 - c0 > 0.5 * SIZE
    assert len(np.unique(pic[pic > 0])) > 50  # shaded, not a flat silhouette


def test_render_views_names(head):
    pics = render.render_views(head.image, size=96)
    assert set(pics) == set(render.VIEWS)
    assert all(p.any() for p in pics.values())


@pytest.mark.parametrize("codes", ["LPS", "PIR", "ASL"])
def test_orientation_invariance(head, codes):
    other = make_head(voxel_mm=3.0, affine_codes=codes)
    assert nib.aff2axcodes(other.image.affine) == tuple(codes)
    for yaw in (0.0, 45.0):
        a = render.render_head(head.image, yaw, size=SIZE).astype(float)
        b = render.render_head(other.image, yaw, size=SIZE).astype(float)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.98


def test_anisotropic_voxels_keep_aspect():
    iso = render.render_head(make_head(voxel_mm=2.0).image, 90.0, size=SIZE)
    aniso = render.render_head(make_head(voxel_mm=(2.0, 2.0, 4.0)).image, 90.0, size=SIZE)
    aspect = []
    for pic in (iso, aniso):
        r0, r1, c0, c1 = _bbox(pic)
        aspect.append((r1 - r0) / (c1 - c0))
    assert aspect[1] == pytest.approx(aspect[0], rel=0.04)


def test_yaw_and_picture_conventions(head):
    """Removing the subject's right ear changes the picture's left half seen from the
    front; removing the nose changes the picture's right half in the profile (yaw 90)."""
    surface = render.surface_volume(head.image)

    def pair(other, yaw):
        toward, right, up = render.view_axes(yaw)
        centre, fov = render.view_frame(surface.points, toward, right, up)
        kw = dict(size=SIZE, center_mm=centre, fov_mm=fov)
        a = render.render_head(head.image, yaw, **kw).astype(int)
        b = render.render_head(other, yaw, **kw).astype(int)
        return np.abs(a - b) > 40

    diff = pair(deface_phantom(head, remove=("ear_right",)), 0.0)
    assert diff[:, : SIZE // 2].sum() > 5 * max(diff[:, SIZE // 2 :].sum(), 1)
    diff = pair(deface_phantom(head, remove=("nose",)), 90.0)
    assert diff[:, SIZE // 2 :].sum() > 5 * max(diff[:, : SIZE // 2].sum(), 1)
    # superior at the top: the chin region (lower part) differs in the front view of a
    # chin deface, not the crown
    rows = np.nonzero(pair(deface_phantom(head, remove=("chin",)), 0.0).any(axis=1))[0]
    assert rows.min() > SIZE // 2


def test_head_to_world_views_a_tilted_head_in_its_frame(head):
    angle = np.deg2rad(20)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]  # pitch about x
    tilted = nib.Nifti1Image(np.asarray(head.image.dataobj), rot @ head.image.affine)
    straight = render.render_head(head.image, 30.0, size=SIZE).astype(float)
    naive = render.render_head(tilted, 30.0, size=SIZE).astype(float)
    framed = render.render_head(tilted, 30.0, size=SIZE, head_to_world=rot).astype(float)
    r_framed = np.corrcoef(straight.ravel(), framed.ravel())[0, 1]
    r_naive = np.corrcoef(straight.ravel(), naive.ravel())[0, 1]
    assert r_framed > 0.97 and r_framed > r_naive


def test_four_d_and_errors(head):
    data = np.asarray(head.image.dataobj)
    four = nib.Nifti1Image(np.stack([data, data], axis=3), head.image.affine)
    assert render.render_head(four, 0.0, size=64).any()
    with pytest.raises(ValueError, match="no head"):
        render.head_mask(nib.Nifti1Image(np.zeros((20, 20, 20), np.float32), np.eye(4)))
    with pytest.raises(ValueError, match="mask shape"):
        render.render_head(head.image, mask=np.ones((3, 3, 3), bool))
