"""deface / shear / reface on the packaged template head (no registration needed: identity)."""

import nibabel as nib
import numpy as np
import pytest

from bids_deface.methods.deface.masks import dilate_mm
from bids_deface.methods.deface.reface import reface_fill
from bids_deface.methods.deface.removal import apply_removal
from bids_deface.methods.deface.shear import shear_mask
from bids_deface.methods.volume import coarse_head_mask as head_mask
from bids_deface.methods.volume import downsample


@pytest.fixture(scope="module")
def head(template_head):
    return downsample(template_head, 3.0)


@pytest.fixture(scope="module")
def brain(head):
    """A stand-in brain: an ellipsoid in the upper head (the template's own mask is tested elsewhere)."""
    ijk = np.indices(head.shape).reshape(3, -1).T
    xyz = nib.affines.apply_affine(head.affine, ijk).reshape(*head.shape, 3)
    centre = np.array([0.0, -15.0, 15.0])
    radii = np.array([65.0, 80.0, 60.0])
    return (((xyz - centre) / radii) ** 2).sum(-1) <= 1.0


def test_dilate_mm_is_physical():
    mask = np.zeros((41, 41, 21), bool)
    mask[20, 20, 10] = True
    dilated = dilate_mm(mask, (1.0, 1.0, 2.0), 6.0)
    assert dilated[20, 26, 10] and not dilated[20, 27, 10]
    assert dilated[20, 20, 13] and not dilated[20, 20, 14]


def test_shear_never_touches_protected_and_removes_the_front_below(head, brain):
    protected = dilate_mm(brain, head.header.get_zooms(), 6.0)
    removal = shear_mask(head.shape, head.affine, np.eye(4), protected)
    assert not (removal & protected).any()
    ijk = np.argwhere(removal)
    xyz = nib.affines.apply_affine(head.affine, ijk)
    assert removal.sum() > 1000
    assert np.median(xyz[:, 1]) > 0 and np.median(xyz[:, 2]) < 0  # anterior and inferior


def test_reface_fills_with_plausible_intensities(head, brain):
    data = np.asanyarray(head.dataobj)
    removal = shear_mask(head.shape, head.affine, np.eye(4), dilate_mm(brain, head.header.get_zooms(), 6.0))
    # the image is the template with another contrast scale: refacing must learn the scale
    img = nib.Nifti1Image((data * 3.0 + 5.0).astype(np.float32), head.affine)
    fill = reface_fill(img, head, np.eye(4), removal)
    inside = removal & head_mask(data)
    assert np.corrcoef(fill[inside], np.asanyarray(img.dataobj)[inside])[0, 1] > 0.95
    assert np.all(fill[~removal] == 0)
    defaced = apply_removal(img, removal, fill=fill)
    assert np.allclose(defaced.raw[inside], fill[inside])


# ----------------------------------------------------------------- fast binary morphology


def _blobs(shape, seed):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2) > 0.5


@pytest.mark.parametrize("radius", [(1, 1, 1), (2, 2, 2), (3, 3, 1), (1, 3, 2)])
def test_fast_morphology_gives_scipys_voxels(radius):
    from scipy import ndimage

    from bids_deface.methods.volume import dilate, ellipsoid, erode

    struct = ellipsoid(np.array(radius))
    for seed, shape in enumerate([(20, 31, 17), (9, 40, 25), (33, 12, 28)]):
        mask = _blobs(shape, seed)
        np.testing.assert_array_equal(dilate(mask, struct), ndimage.binary_dilation(mask, struct))
        np.testing.assert_array_equal(erode(mask, struct), ndimage.binary_erosion(mask, struct))
        np.testing.assert_array_equal(
            erode(mask, struct, outside=True), ndimage.binary_erosion(mask, struct, border_value=1)
        )
    with pytest.raises(ValueError, match="symmetric"):
        dilate(mask, np.ones((3, 2, 3), bool))


def test_fill_holes_gives_scipys_voxels():
    from scipy import ndimage

    from bids_deface.methods.volume import fill_holes

    for seed, shape in enumerate([(20, 31, 17), (40, 25)]):
        mask = _blobs(shape, seed)
        np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    shell = np.zeros((9, 9, 9), bool)
    shell[2:7, 2:7, 2:7] = True
    shell[3:6, 3:6, 3:6] = False
    assert fill_holes(shell)[4, 4, 4]


def test_fill_all_but_largest_background_gives_ants_voxels():
    import ants

    from bids_deface.methods.volume import fill_all_but_largest_background

    for seed in range(3):
        mask = _blobs((30, 26, 22), seed)
        mask[:, 12, :] = True  # a wall: the background beyond it reaches the edge but is not the largest
        expected = ants.iMath(ants.from_numpy(mask.astype("float32")), "FillHoles").numpy() > 0.5
        filled = fill_all_but_largest_background(mask)
        np.testing.assert_array_equal(filled, expected)
        assert (filled & ~mask).any()
    assert not fill_all_but_largest_background(np.zeros((4, 4, 4), bool)).any()


def test_largest_component_keeps_the_biggest_face_connected_blob():
    from bids_deface.methods.volume import largest_component

    mask = np.zeros((8, 8, 8), bool)
    mask[0:2, 0:2, 0:2] = True  # 8 voxels
    mask[4:7, 4:7, 4:7] = True  # 27 voxels
    mask[3, 3, 3] = True  # touches the big blob by a corner only: not face-connected
    kept = largest_component(mask)
    assert kept.sum() == 27 and kept[5, 5, 5] and not kept[3, 3, 3]
    assert not largest_component(np.zeros((4, 4, 4), bool)).any()


def test_ball_is_the_distance_transforms_erosion():
    from scipy import ndimage

    from bids_deface.methods.volume import ball, erode

    mask = _blobs((40, 36, 30), 3)
    mask[:, :, :3] = True  # touches the edge of the grid
    for zooms in [(1.0, 1.0, 1.0), (0.9, 0.9, 2.4)]:
        deep = ndimage.distance_transform_edt(mask, sampling=zooms) > 3.0
        np.testing.assert_array_equal(erode(mask, ball(3.0, zooms), outside=True), deep)
