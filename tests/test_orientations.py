"""Any orientation: the same head in all 48 axis codes and 3 obliques gets the same removal.

The voxels never change, only the header (as a scanner would write them): the removal
mask mapped back to the canonical voxel order must agree with the canonical one
(Dice >= 0.95) and never touch the brain.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import nibabel as nib
import numpy as np
import pytest
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

from bids_deface.data.demo import DemoImage, _rotation, make_head
from bids_deface.methods.deface.masks import image_masks
from bids_deface.methods.deface.register import register_to_template
from bids_deface.methods.volume import downsample

AXES = [("R", "L"), ("A", "P"), ("S", "I")]
ALL_CODES = [
    "".join(AXES[axis][flip] for axis, flip in zip(perm, flips))
    for perm in itertools.permutations(range(3))
    for flips in itertools.product((0, 1), repeat=3)
]


@lru_cache(maxsize=1)
def _template():
    from bids_deface.interfaces.deface import load_template

    return load_template("pydeface")


@pytest.fixture(scope="module")
def head(template_head):
    """A demo head (the template moved and scaled like a child's, 4 mm: the registration's own grid) and its true brain."""
    spec = DemoImage("x", scale=0.9, rotation_deg=(5, 0, 3), voxel_mm=(4.0, 4.0, 4.0))
    return make_head(spec, template_head, np.random.default_rng(0))


def _removal(img):
    _, tpl_head, masks = _template()
    reg = register_to_template(img, downsample(tpl_head, 2.0))
    result = image_masks(img, masks, reg.image_to_template)
    return result, reg


@pytest.fixture(scope="module")
def canonical(head):
    masks, _ = _removal(head)
    assert masks.removal.sum() > 1000
    return masks


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _check(moved, back, canonical):
    masks, _ = _removal(moved)
    removal = back(masks.removal)
    assert _dice(removal, canonical.removal) >= 0.95
    assert not (removal & canonical.brain).any()
    assert not (masks.removal & masks.brain).any()


@pytest.mark.slow
@pytest.mark.parametrize("codes", ALL_CODES)
def test_48_axis_orientations(head, canonical, codes):
    start = io_orientation(head.affine)
    transform = ornt_transform(start, axcodes2ornt(tuple(codes)))
    moved = head.as_reoriented(transform)
    assert "".join(nib.aff2axcodes(moved.affine)) == codes
    inverse = ornt_transform(axcodes2ornt(tuple(codes)), start)

    def back(mask):
        return np.asanyarray(nib.Nifti1Image(mask.astype(np.uint8), moved.affine).as_reoriented(inverse).dataobj) > 0

    _check(moved, back, canonical)


@pytest.mark.parametrize("degrees", [(10, 0, 0), (0, 20, -10), (30, 0, 0)])
def test_oblique_acquisitions(head, canonical, degrees):
    """The header says the head is tilted (an oblique acquisition): same voxels, same removal."""
    tilt = np.eye(4)
    tilt[:3, :3] = _rotation(degrees)
    moved = nib.Nifti1Image(np.asanyarray(head.dataobj), tilt @ head.affine)
    _check(moved, lambda mask: mask, canonical)
