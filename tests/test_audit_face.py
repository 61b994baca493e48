"""The audit's face check without an original, on the pydeface template head (a real face) at 2 mm."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from phantoms import template_head

from bids_deface.data.templates import get_template
from bids_deface.methods.qa.audit import audit_face, face_region, face_skin, feature_surface, template_skin
from bids_deface.methods.qa.depth import depth_map, face_depth_skin, mask_surface
from bids_deface.methods.qa.render import head_mask, view_axes, view_frame
from bids_deface.methods.volume import resample_to

VIEWS = {"front": 0.0, "right45": 45.0}


@pytest.fixture(scope="module")
def head():
    """The template at 2 mm, its head mask, its feature skin labels and the face mask on that grid."""
    img = template_head(2.0)
    template = get_template()
    shape = img.shape[:3]

    def carry(path):
        src = nib.load(str(path))
        return resample_to(np.asanyarray(src.dataobj), src.affine, shape, img.affine, np.eye(4), order=0)

    mask = head_mask(img)
    features = carry(template.features).astype(np.uint8)
    labels = dict(template.features_labels)
    return {
        "img": img,
        "mask": mask,
        "features": features,
        "skin": template_skin(mask, features, img.header.get_zooms()),
        "region": face_region(features, img.header.get_zooms(), labels),
        "face": carry(template.face_mask) > 0.5,
        "labels": labels,
    }


def _with_zeros(img, where):
    data = np.asanyarray(img.dataobj).copy()
    data[where] = 0
    return nib.Nifti1Image(data, img.affine)


def test_the_template_face_is_found_by_both_signals(head):
    result = audit_face(head["img"], head["mask"], head["skin"], head["labels"], head["region"], views=VIEWS)
    assert result.metrics["check_face"] is False  # eyes, nose and mouth present
    assert result.metrics["feature_eyes"] == "present" and result.metrics["feature_nose"] == "present"
    assert result.metrics["check_face_skin"] is False  # a detector sees it where the template's skin is
    assert set(result.renders) == set(VIEWS) and result.renders["front"].dtype == np.uint8


def test_a_defaced_template_passes_both_signals(head):
    defaced = _with_zeros(head["img"], head["face"])
    result = audit_face(defaced, head["mask"], head["skin"], head["labels"], head["region"], views=VIEWS)
    assert result.metrics["check_face"] is True, result.metrics["face_check_summary"]
    assert result.metrics["feature_eyes_remaining"] == 0.0
    assert result.metrics["check_face_skin"] is True, result.metrics["face_skin_summary"]


def test_a_box_over_the_lower_face_leaves_the_eyes_and_fails(head):
    """Only the lower half of the face zeroed: the eyes are still there."""
    rows = np.argwhere(head["face"])
    superior = int(np.argmax(np.abs(head["img"].affine[2, :3])))
    middle = np.median(rows[:, superior])
    lower = head["face"] & (np.indices(head["face"].shape)[superior] < middle)
    fractions = feature_surface(
        head_mask(_with_zeros(head["img"], lower)), head["skin"], head["img"].header.get_zooms(), head["labels"]
    )
    assert fractions["eyes"] >= 0.5 and fractions["mouth"] < 0.1


def _pixel(point, yaw, centre, fov, size):
    """(row, col) of a world point in a view's picture."""
    toward, right, up = view_axes(yaw)
    u, v = (point - centre) @ right, (point - centre) @ up
    return int(round((0.5 - v / fov) * size)), int(round((u / fov + 0.5) * size))


def test_the_face_region_holds_the_face_not_the_side_of_the_head(head):
    """Seen in profile, the template's own ear sits on its own skin depth, yet it is no face."""
    img, size = head["img"], 256
    surface = mask_surface(head["mask"], img.affine)
    region = head["region"]
    names = {name: value for value, name in head["labels"].items()}

    def centroid(name):
        return nib.affines.apply_affine(img.affine, np.argwhere(head["features"] == names[name]).mean(axis=0))

    for yaw, name, expected in ((0.0, "nose", True), (90.0, "ear_right", False)):
        centre, fov = view_frame(surface.points, *view_axes(yaw))
        head_depth = depth_map(surface, img.affine, yaw, centre, fov, size)
        skin = face_skin(head_depth, surface, region, img.affine, yaw, centre, fov)
        everywhere = face_skin(head_depth, surface, None, img.affine, yaw, centre, fov)
        row, col = _pixel(centroid(name), yaw, centre, fov, size)
        assert everywhere[row, col], name  # the template's own skin: at depth 0 everywhere
        assert skin[row - 3 : row + 4, col - 3 : col + 4].mean() > 0.5 if expected else not skin[row, col], name


def test_a_surface_far_behind_the_template_skin_is_no_face():
    head = np.array([[10.0, -5.0, np.nan], [np.nan, 10.0, 0.0]])
    template = np.array([[12.0, 20.0, 5.0], [np.nan, np.nan, 30.0]])
    assert face_depth_skin(head, template, max_behind_mm=15.0).tolist() == [[True, False, False], [False, True, False]]


def test_a_depth_map_frames_like_the_render(head):
    surface = mask_surface(head["mask"], head["img"].affine)
    toward, right, up = view_axes(0.0)
    centre, fov = view_frame(surface.points, toward, right, up)
    depth = depth_map(surface, head["img"].affine, 0.0, centre, fov, 128)
    assert depth.shape == (128, 128)
    assert np.isnan(depth[0, 0]) and np.isfinite(depth[64, 64])  # air in the corner, the face in the middle
    assert np.nanmax(depth) - np.nanmin(depth) > 60  # nose tip to the ears' depth


def test_brain_removed_by_an_earlier_deface_is_counted_only_when_reached_from_the_air():
    from bids_deface.methods.deface.brain_check import brain_removed_before

    data = np.zeros((40, 40, 40), dtype=np.int16)
    data[5:35, 5:35, 5:35] = 100  # the head, in zero air
    core = np.zeros(data.shape, dtype=bool)
    core[12:28, 12:28, 12:28] = True
    data[18:20, 18:20, 18:20] = 0  # dark voxels inside the brain: not reached from the air
    assert brain_removed_before(data, core) == 0
    data[:, 30:, :15] = 0  # a deface that cut into the brain core from the front
    assert brain_removed_before(data, core) == 0  # the cut stops short of the core
    data[:, 26:, :15] = 0
    assert brain_removed_before(data, core) == 2 * 16 * 3
