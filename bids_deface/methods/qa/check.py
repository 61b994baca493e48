"""Look for the face: renders of original and defaced heads, detections, features.

One call per image: the original and the defaced head are rendered from the same
viewpoints with the same framing (so the pictures differ only by what defacing did),
every render goes through the face detectors, the template's facial-feature labels
carried to the image tell which features' skin survived, and the Theyers et al. (2021)
rule gives the verdict. Detections on the originals measure the check's sensitivity:
"no face detected after defacing" means something only where a face was found before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np

from ..io import in_memory
from .faces import DETECTORS, LANDMARK_FEATURES, detect_faces, landmark_features, max_confidence
from .features import feature_metrics, feature_presence
from .render import _render, head_mask, surface_volume, view_axes, view_frame
from .skin import faces_left, untouched_skin

LOGGER = logging.getLogger(__name__)

#: Theyers et al. (2021): 0, +-30 and +-45 degrees; plus a profile.
QA_VIEWS = {"front": 0.0, "left30": -30.0, "right30": 30.0, "left45": -45.0, "right45": 45.0, "profile": 90.0}
#: Views whose descriptors feed the re-identification audit.
REID_VIEWS = ("front", "left30", "right30")
#: A detection at or above this confidence counts as "face found".
FOUND = 0.5


@dataclass
class FaceQA:
    """Renders (role -> view -> uint8 picture), a flat metrics record, face descriptors."""

    renders: dict[str, dict[str, np.ndarray]]
    metrics: dict
    descriptors: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def yaw_token(yaw: float) -> str:
    """``-30`` -> ``yaw-m030`` (file-name friendly, sorts left to right)."""
    return f"yaw-{'m' if yaw < 0 else ''}{abs(int(round(yaw))):03d}"


def descriptor_distances(descriptors: dict[str, dict[str, list[float]]]) -> dict:
    """Per view, how far the defaced face's descriptor is from the original's.

    ``face_descriptor_distance_<view>`` (Euclidean, dlib's 128-D space) for every view
    with a dlib face on both renders, and ``face_same_person_views``: how many of them are
    closer than dlib's same-person distance (0.6), i.e. where the face-recognition model
    still takes the defaced render for the same person.
    """
    from .reid import DLIB_SAME_PERSON

    out: dict = {}
    close = 0
    for view, vec in descriptors.get("defaced", {}).items():
        ref = descriptors.get("original", {}).get(view)
        if ref is None:
            continue
        distance = float(np.linalg.norm(np.asarray(vec, float) - np.asarray(ref, float)))
        out[f"face_descriptor_distance_{view}"] = round(distance, 4)
        close += distance < DLIB_SAME_PERSON
    out["face_same_person_views"] = int(close)
    return out


def _detection_summary(metrics: dict, views, seen: dict[str, set[str]], descriptors: dict) -> dict:
    """How many views showed a face, which landmark features were seen, descriptor distances."""
    found = [v for v in views if metrics[f"face_confidence_original_{v}"] >= FOUND]
    out = {
        "face_detected_original_views": len(found),
        "face_detection_rate_original": round(len(found) / len(views), 3),
        "face_detected_defaced_views": sum(metrics[f"face_confidence_defaced_{v}"] >= FOUND for v in views),
    }
    for role in ("original", "defaced"):
        out[f"landmark_features_{role}"] = sorted(seen[role] & set(LANDMARK_FEATURES))
    out.update(descriptor_distances(descriptors))
    return out


def _feature_check(original, defaced, features, labels, mask=None) -> dict:
    """What skin of each facial feature survives, and the face check's verdict on it."""
    return feature_metrics(feature_presence(original, defaced, features, labels, mask))


def _skin_check(metrics: dict, left: list[tuple], n_views: int, n_found: int) -> dict:
    """The registration-free face signals: a face left on the skin fails, a blind check is reviewed."""
    views = sorted({view for view, _, _ in left})
    out: dict = {"face_left_on_skin_views": views, "check_face_skin": not left}
    if left:
        out["face_skin_summary"] = f"a face on untouched skin in {len(views)} view(s)"
        found = "; ".join(f"{det.detector} {det.confidence:.2f} on {view} ({', '.join(f)})" for view, det, f in left)
        out["check_face_skin_reason"] = f"face: a detector found a face on untouched skin: {found}"
    elif n_found:
        out["face_skin_summary"] = (
            f"{n_found} detection(s) on the defaced renders, none with two features on untouched skin "
            "(they sit on the cut surface)"
        )
    else:
        out["face_skin_summary"] = "no face detected on the defaced renders"
    if metrics["face_detected_original_views"] == 0:
        out["review_face_blind"] = (
            f"no face detector found a face on any of the {n_views} original renders, so the detectors "
            "cannot vouch that no face is left (only the template's feature check does)"
        )
    return out


def face_qa(
    original: nib.Nifti1Image,
    defaced: nib.Nifti1Image,
    features: np.ndarray | None,
    labels: dict[int, str],
    *,
    views: dict[str, float] = QA_VIEWS,
    size: int = 512,
    detectors: tuple[str, ...] = DETECTORS,
) -> FaceQA:
    """Render, detect and check one image (see the module docstring).

    The views are taken about the image's own RAS axes: nothing here depends on the
    template registration except the feature labels (``features``).
    """
    from .reid import descriptor_of

    start = time.monotonic()
    # each image is read once, and the original's head mask made once (renders and features)
    original, defaced = in_memory(original), in_memory(defaced)
    mask = head_mask(original)
    surfaces = {"original": surface_volume(original, mask), "defaced": surface_volume(defaced)}
    renders: dict[str, dict[str, np.ndarray]] = {"original": {}, "defaced": {}}
    metrics: dict = {}
    descriptors: dict[str, dict[str, list[float]]] = {"original": {}, "defaced": {}}
    seen: dict[str, set[str]] = {"original": set(), "defaced": set()}
    n_found, left = 0, []
    for view, yaw in views.items():
        toward, right, up = view_axes(yaw, 0.0, None)
        centre, fov = view_frame(surfaces["original"].points, toward, right, up)
        dets = {}
        for role in ("original", "defaced"):
            picture = _render(surfaces[role], original.affine, yaw, 0.0, None, size, centre, fov)
            renders[role][view] = picture
            dets[role] = detect_faces(picture, detectors)
            metrics[f"face_confidence_{role}_{view}"] = round(max_confidence(dets[role]), 3)
            if dets[role]:
                best = max(dets[role], key=lambda d: d.confidence)
                if best.landmarks is not None:
                    seen[role] |= {k for k, v in landmark_features(best, picture).items() if v}
            # the audit describes the most confident dlib face even where a Haar cascade
            # scored higher: otherwise such a defaced render would count as "no face"
            dlib_dets = [d for d in dets[role] if d.detector.startswith("dlib")]
            if view in REID_VIEWS and dlib_dets:
                best_dlib = max(dlib_dets, key=lambda d: d.confidence)
                descriptors[role][view] = descriptor_of(picture, best_dlib).round(6).tolist()
        found = [d for d in dets["defaced"] if d.confidence >= FOUND]
        n_found += len(found)
        kept = untouched_skin(renders["original"][view], renders["defaced"][view])
        on_skin = faces_left(found, kept)
        left.extend((view, det, feats) for det, feats in on_skin)
        # what decides, per view: the best detection with two features on untouched skin
        metrics[f"face_on_skin_defaced_{view}"] = round(max((det.confidence for det, _ in on_skin), default=0.0), 3)
    metrics["time_qa_render_detect_s"] = round(time.monotonic() - start, 2)
    del surfaces  # two soft head volumes (4 bytes a voxel each): not needed by the feature check
    metrics.update(_detection_summary(metrics, views, seen, descriptors))
    metrics.update(_skin_check(metrics, left, len(views), n_found))
    if features is not None:
        metrics.update(_feature_check(original, defaced, features, labels, mask))
    metrics["time_qa_s"] = round(time.monotonic() - start, 2)
    return FaceQA(renders=renders, metrics=metrics, descriptors=descriptors)
