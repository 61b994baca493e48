"""Is a face found on a defaced render sitting on the participant's own skin?

A detector that fires on a defaced render may have found what is left of the face, or a
face-like pattern in what the cut laid bare (sinuses, orbits, bone). The two renders of a
view are made from the same viewpoint and framing, so the pixels where the defaced render
equals the original are the skin that defacing left untouched. A detection counts as a
face left only when at least two of its features (eyes, nose, mouth: Theyers et al. 2021
allow one partial feature) fall on that untouched skin. The rule uses no template and no
registration: only the two images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .faces import LANDMARK_FEATURES, Detection

#: Grey levels two renders may differ by where the surface is the same (shading noise).
SAME_SKIN_TOLERANCE = 6
#: A face is left when at least this many of eyes, nose and mouth sit on untouched skin.
MIN_FEATURES_ON_SKIN = 2
#: Detectors whose boxes and landmarks follow a face: MTCNN (its own keypoints), dlib's CNN
#: and HOG (68 landmarks fitted in a face-shaped box). OpenCV's Haar cascades are reported
#: but not decisive: the landmarks fitted in their boxes land on skin whatever the box holds
#: (calibration in benchmarks/README.md).
DECISIVE_DETECTORS = ("mtcnn", "dlib_cnn", "dlib_hog")
#: MTCNN's five keypoints, grouped into the features they mark.
_KEYPOINT_FEATURES = {"eyes": ("left_eye", "right_eye"), "nose": ("nose",), "mouth": ("mouth_left", "mouth_right")}
_RADIUS = 3


def untouched_skin(original: np.ndarray, defaced: np.ndarray) -> np.ndarray:
    """Pixels of the head where the defaced render shows the original surface (bool)."""
    same = np.abs(original.astype(np.int16) - defaced.astype(np.int16)) <= SAME_SKIN_TOLERANCE
    return ndimage.binary_opening(same & (original > 0), iterations=2)


def _on(mask: np.ndarray, x: float, y: float) -> bool:
    h, w = mask.shape
    col, row = int(round(x)), int(round(y))
    if not (0 <= col < w and 0 <= row < h):
        return False
    patch = mask[max(row - _RADIUS, 0) : row + _RADIUS + 1, max(col - _RADIUS, 0) : col + _RADIUS + 1]
    return bool(patch.mean() > 0.5)


def features_on(det: Detection, mask: np.ndarray, min_fraction: float = 0.6) -> list[str]:
    """Which of eyes, nose and mouth of a detection lie on ``mask``.

    MTCNN's keypoints count when any point of a feature is on the mask; dlib's 68
    landmarks when ``min_fraction`` of a feature's points are.
    """
    if det.keypoints:
        return [f for f, names in _KEYPOINT_FEATURES.items() if any(_on(mask, *det.keypoints[n]) for n in names)]
    if det.landmarks is None:
        return []
    out = []
    for name in _KEYPOINT_FEATURES:
        points = det.landmarks[list(LANDMARK_FEATURES[name])]
        if np.mean([_on(mask, x, y) for x, y in points]) >= min_fraction:
            out.append(name)
    return out


def faces_left(detections: list[Detection], mask: np.ndarray) -> list[tuple[Detection, list[str]]]:
    """The detections of :data:`DECISIVE_DETECTORS` with at least :data:`MIN_FEATURES_ON_SKIN` features on untouched skin."""
    found = [(det, features_on(det, mask)) for det in detections if det.detector in DECISIVE_DETECTORS]
    return [(det, feats) for det, feats in found if len(feats) >= MIN_FEATURES_ON_SKIN]
