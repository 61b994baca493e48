"""Tests of bids_deface.methods.qa.reid."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from phantoms import template_head

from bids_deface.methods.qa import reid, render


def _people(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {f"sub-{i:02d}": rng.normal(0, 0.1, 128) for i in range(n)}


def test_rates_on_known_descriptors():
    people = _people()
    rng = np.random.default_rng(1)
    originals = {k: [v, None] for k, v in people.items()}
    # three participants recognisable (small noise), two unrecognisable, one without face
    keys = list(people)
    defaced = {k: [people[k] + rng.normal(0, 0.005, 128)] for k in keys[:3]}
    defaced.update({k: [rng.normal(0, 0.1, 128)] for k in keys[3:5]})
    defaced[keys[5]] = [None]
    out = reid.reid_rates(originals, defaced)
    assert out["n_participants"] == 6 and out["n_queries"] == 6 and out["n_no_face"] == 1
    assert out["chance_top1"] == pytest.approx(1 / 6) and out["chance_top5"] == pytest.approx(5 / 6)
    assert 3 / 6 <= out["top1"] <= 5 / 6  # the noisy ones match at most by chance
    assert out["top1"] <= out["top5"] <= 5 / 6  # the faceless query never matches
    assert out["median_distance_own"] < out["median_distance_other"]


def test_small_gallery_and_unknown_participants():
    people = _people(3)
    out = reid.reid_rates({k: [v] for k, v in people.items()}, {**{k: [v] for k, v in people.items()}, "sub-x": [None]})
    assert out["top1"] == out["top5"] == 1.0
    assert out["chance_top5"] == 1.0 and out["n_queries"] == 3


def test_no_face_gives_none():
    assert reid.descriptor(np.zeros((200, 200), np.uint8)) is None


@pytest.fixture(scope="module")
def template_variants():
    """Five heads from the pydeface template: affine scalings/shears and intensities."""
    img = template_head(2.0)
    data = np.asarray(img.dataobj, dtype=np.float32)
    linear = [
        np.eye(3),
        np.diag([1.12, 1, 1]),
        np.diag([1, 0.9, 1.05]),
        np.array([[1, 0.15, 0], [0, 1, 0], [0, 0, 1]]),
        np.diag([0.9, 1.1, 0.92]),
    ]
    out = {}
    for i, lin in enumerate(linear):
        aff = img.affine.copy()
        aff[:3, :3] = lin @ aff[:3, :3]
        out[f"sub-{i}"] = nib.Nifti1Image(data * (1 + 0.5 * i), aff)
    return out


def test_reid_on_template_heads(template_variants):
    originals, queries = {}, {}
    for name, img in template_variants.items():
        pics = render.render_views(img, {"front": 0.0, "right30": 30.0}, size=256)
        originals[name] = [reid.descriptor(pics["front"], ("dlib_hog",))]
        queries[name] = [reid.descriptor(pics["right30"], ("dlib_hog",))]
    assert all(v[0] is not None and v[0].shape == (128,) for v in originals.values())
    out = reid.reid_rates(originals, queries)
    assert out["n_participants"] == 5 and out["n_queries"] == 5
    assert out["chance_top1"] == pytest.approx(0.2) and out["chance_top5"] == 1.0
    assert 0.0 <= out["top1"] <= out["top5"] == 1.0
    # the same face seen at 30 degrees is within dlib's same-person distance
    assert out["median_distance_own"] < reid.DLIB_SAME_PERSON


def test_descriptor_distances_per_view():
    from bids_deface.methods.qa.check import descriptor_distances

    base = np.zeros(128)
    near, far = base.copy(), base.copy()
    near[0], far[0] = 0.3, 0.9
    out = descriptor_distances(
        {
            "original": {"front": base.tolist(), "left30": base.tolist(), "right30": base.tolist()},
            "defaced": {"front": near.tolist(), "left30": far.tolist()},  # no face on right30
        }
    )
    assert out == {
        "face_descriptor_distance_front": 0.3,
        "face_descriptor_distance_left30": 0.9,
        "face_same_person_views": 1,
    }
    assert descriptor_distances({"original": {}, "defaced": {"front": near.tolist()}}) == {"face_same_person_views": 0}


def test_an_audit_over_no_face_is_not_measured():
    out = reid.reid_rates({"sub-01": [None], "sub-02": [None]}, {"sub-01": [None], "sub-02": [None]})
    assert out["measured"] is False and "not measured" in out["not_measured_reason"]
    assert out["n_participants"] == 0 and np.isnan(out["top1"])
