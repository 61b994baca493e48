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


@dataclass
class Look:
    """One picture and what the detectors saw on it."""

    picture: np.ndarray
    detections: list
    descriptor: list[float] | None = None


@dataclass
class OriginalViews:
    """Everything the face check needs of the original image: made before the defaced one exists.

    The original's head mask (for the feature check), each view's framing (the defaced
    render is framed identically) and each view's picture and detections; ``settings``,
    the picture size and the detectors they were made with.
    """

    mask: np.ndarray
    frames: dict[str, tuple[np.ndarray, float]]
    looks: dict[str, Look]
    seconds: float
    settings: tuple = ()


def _look(picture: np.ndarray, view: str, detectors: tuple[str, ...]) -> Look:
    """Detect faces on a render; describe the most confident dlib face of a re-identification view.

    The descriptor is of the best dlib face even where a Haar cascade scored higher: otherwise
    such a defaced render would count as "no face" in the re-identification audit.
    """
    from .reid import descriptor_of

    dets = detect_faces(picture, detectors)
    dlib_dets = [d for d in dets if d.detector.startswith("dlib")]
    descriptor = None
    if view in REID_VIEWS and dlib_dets:
        descriptor = descriptor_of(picture, max(dlib_dets, key=lambda d: d.confidence)).round(6).tolist()
    return Look(picture, dets, descriptor)


def look_at_original(
    original: nib.Nifti1Image,
    *,
    views: dict[str, float] = QA_VIEWS,
    size: int = 512,
    detectors: tuple[str, ...] = DETECTORS,
) -> OriginalViews:
    """Render the original head from every view and run the detectors (no registration needed).

    The views are taken about the image's own RAS axes.
    """
    start = time.monotonic()
    original = in_memory(original)
    mask = head_mask(original)
    surface = surface_volume(original, mask)
    frames, looks = {}, {}
    for view, yaw in views.items():
        toward, right, up = view_axes(yaw, 0.0, None)
        frames[view] = view_frame(surface.points, toward, right, up)
        picture = _render(surface, original.affine, yaw, 0.0, None, size, *frames[view])
        looks[view] = _look(picture, view, detectors)
    seconds = round(time.monotonic() - start, 2)
    return OriginalViews(mask=mask, frames=frames, looks=looks, seconds=seconds, settings=(size, tuple(detectors)))


def _view_metrics(metrics: dict, seen: dict, descriptors: dict, role: str, view: str, look: Look) -> None:
    """A view's best confidence, the landmark features seen and the descriptor, for one role."""
    metrics[f"face_confidence_{role}_{view}"] = round(max_confidence(look.detections), 3)
    if look.detections:
        best = max(look.detections, key=lambda d: d.confidence)
        if best.landmarks is not None:
            seen[role] |= {k for k, v in landmark_features(best, look.picture).items() if v}
    if look.descriptor is not None:
        descriptors[role][view] = look.descriptor


def face_qa(
    original: nib.Nifti1Image,
    defaced: nib.Nifti1Image,
    features: np.ndarray | None,
    labels: dict[int, str],
    *,
    views: dict[str, float] = QA_VIEWS,
    size: int = 512,
    detectors: tuple[str, ...] = DETECTORS,
    before: OriginalViews | None = None,
) -> FaceQA:
    """Render, detect and check one image (see the module docstring).

    ``before``: :func:`look_at_original` of ``original`` with the same views, size and
    detectors, when a step made it while the template was being registered (made here
    otherwise). Nothing here depends on the template registration except the feature
    labels (``features``).
    """
    before = before or look_at_original(original, views=views, size=size, detectors=detectors)
    if set(before.looks) != set(views) or before.settings != (size, tuple(detectors)):
        raise ValueError(
            f"the original's renders ({sorted(before.looks)}, size and detectors {before.settings}) "
            f"are not the check's ({sorted(views)}, {(size, tuple(detectors))})"
        )
    start = time.monotonic()
    original, defaced = in_memory(original), in_memory(defaced)
    surface = surface_volume(defaced)
    renders: dict[str, dict[str, np.ndarray]] = {"original": {}, "defaced": {}}
    metrics: dict = {}
    descriptors: dict[str, dict[str, list[float]]] = {"original": {}, "defaced": {}}
    seen: dict[str, set[str]] = {"original": set(), "defaced": set()}
    n_found, left = 0, []
    for view, yaw in views.items():
        looks = {"original": before.looks[view]}
        picture = _render(surface, original.affine, yaw, 0.0, None, size, *before.frames[view])
        looks["defaced"] = _look(picture, view, detectors)
        for role, look in looks.items():
            renders[role][view] = look.picture
            _view_metrics(metrics, seen, descriptors, role, view, look)
        found = [d for d in looks["defaced"].detections if d.confidence >= FOUND]
        n_found += len(found)
        kept = untouched_skin(renders["original"][view], renders["defaced"][view])
        on_skin = faces_left(found, kept)
        left.extend((view, det, feats) for det, feats in on_skin)
        # what decides, per view: the best detection with two features on untouched skin
        metrics[f"face_on_skin_defaced_{view}"] = round(max((det.confidence for det, _ in on_skin), default=0.0), 3)
    metrics["time_qa_render_detect_s"] = round(before.seconds + time.monotonic() - start, 2)
    del surface  # a soft head volume (4 bytes a voxel): not needed by the feature check
    metrics.update(_detection_summary(metrics, views, seen, descriptors))
    metrics.update(_skin_check(metrics, left, len(views), n_found))
    if features is not None:
        metrics.update(_feature_check(original, defaced, features, labels, before.mask))
    metrics["time_qa_original_s"] = before.seconds
    metrics["time_qa_s"] = round(before.seconds + time.monotonic() - start, 2)
    return FaceQA(renders=renders, metrics=metrics, descriptors=descriptors)
