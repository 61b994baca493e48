"""The independent brain check: a second atlas, a second registration route (no mocks)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bids_deface.data.atlas import get_brain_atlas
from bids_deface.data.templates import get_template
from bids_deface.methods.deface.brain_check import (
    MAX_DISAGREEMENT_MM,
    brain_core,
    disagreement_review,
    independent_brain,
    registration_disagreement_mm,
)
from bids_deface.methods.record import fails_run, finalise_record


def _yaw(degrees: float, center=(0.0, 0.0, 0.0)) -> np.ndarray:
    t = np.deg2rad(degrees)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    shift = np.eye(4)
    shift[:3, 3] = center
    return shift @ rot @ np.linalg.inv(shift)


def test_brain_core_is_the_mask_shrunk_by_the_margin():
    grid = np.indices((61, 61, 61)) - 30
    sphere = (grid**2).sum(axis=0) <= 20**2  # 20 mm radius at 1 mm
    core = brain_core(sphere, (1.0, 1.0, 1.0), margin_mm=6.0)
    radius = np.sqrt((grid[:, core] ** 2).sum(axis=0)).max()
    assert 13.0 <= radius <= 14.5
    assert not brain_core(np.zeros_like(sphere), (1.0, 1.0, 1.0)).any()


def test_consistent_registrations_agree_and_a_turned_one_does_not():
    atlas = get_brain_atlas()
    image_to_atlas = _yaw(8.0) @ atlas.template_to_atlas  # any head pose: the two agree on it
    consistent = np.linalg.inv(atlas.template_to_atlas) @ image_to_atlas
    assert registration_disagreement_mm(consistent, image_to_atlas, atlas) < 0.01
    assert disagreement_review(0.0) is None
    turned = consistent @ _yaw(30.0)
    disagreement = registration_disagreement_mm(turned, image_to_atlas, atlas)
    assert disagreement > 2 * MAX_DISAGREEMENT_MM
    assert "put the brain" in disagreement_review(disagreement)
    assert registration_disagreement_mm(consistent @ _yaw(5.0), image_to_atlas, atlas) < MAX_DISAGREEMENT_MM


@pytest.mark.slow
def test_the_second_route_finds_the_template_head_where_the_shipped_matrix_puts_it():
    atlas = get_brain_atlas()
    head = nib.load(get_template().head)
    brain = independent_brain(head, atlas)
    # the template registered to itself is the identity: the two routes must agree on it
    assert registration_disagreement_mm(np.eye(4), brain.image_to_atlas, atlas) < 4.0
    template_brain = np.asanyarray(nib.load(get_template().brain_mask).dataobj) > 0
    overlap = (brain.mask & template_brain).sum() / template_brain.sum()
    assert overlap > 0.85


def test_removed_voxels_in_the_independent_brain_ask_for_review_and_gate_the_run():
    record = finalise_record(
        {
            "source_file": "sub-01_T1w.nii.gz",
            "check_registration": True,
            "check_face": True,
            "brain_voxels_removed": 0,
            "brain_voxels_removed_independent": 42,
            "brain_check_method": "atlas-robex",
            "brain_check_margin_mm": 6.0,
        }
    )
    assert record["check_brain"] is False and record["status"] == "review"
    assert "42 voxels removed inside the independent brain mask (atlas-robex" in record["review_reason"]
    assert fails_run(record, ["brain"]) and not fails_run(record, ["face"])
    clean = finalise_record({"source_file": "x", "check_face": True, "brain_voxels_removed_independent": 0})
    assert clean["check_brain"] is True and clean["status"] == "pass"
