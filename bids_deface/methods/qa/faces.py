"""Is there a face left? Face detection on renders (the surface check is :mod:`.features`).

Two complementary estimates, following Theyers et al. (2021), whose raters called a
deface successful when "no more than one partial facial feature (eyes, nose or mouth)"
remained and no brain was removed:

* *detectors* on the renders of :mod:`bids_deface.methods.qa.render`: dlib's CNN (MMOD)
  and HOG face detectors, OpenCV's Haar cascades (frontal and profile) when the
  installed OpenCV has them, and dlib's 68-point landmarks of each detected face;
* *the surface itself* (:func:`feature_presence`): the fraction of each
  facial feature's skin that survives the deface, from a feature label map.

Every model ships offline in a PyPI package (``face_recognition_models``, OpenCV's
``cv2.data``) and is loaded once per process.

Confidence mapping
------------------
Each detector has its own score scale; :attr:`Detection.confidence` maps it to [0, 1]
with a logistic ``1 / (1 + exp(-score / scale))`` whose midpoint (0.5) is the
detector's *default decision threshold* (score 0 for dlib CNN and HOG, a Haar
cascade's final stage weight 0). ``scale`` is 0.5 for dlib's detectors and 2.0 for
Haar cascades, whose level weights run about ten times wider. So any reported
detection has a confidence >= 0.5, clear faces approach 1, and no detection is 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from . import mtcnn

LOGGER = logging.getLogger(__name__)

DETECTORS = ("dlib_cnn", "dlib_hog", "opencv_haar", "mtcnn")

#: 68-point landmark indices (iBUG 300-W) of each facial feature.
LANDMARK_FEATURES: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "eyes": tuple(range(36, 48)),
    "nose": tuple(range(27, 36)),
    "mouth": tuple(range(48, 68)),
}

_SCALES = {"dlib_cnn": 0.5, "dlib_hog": 0.5, "opencv_haar": 2.0}


@dataclass
class Detection:
    """One face found in one picture.

    Attributes
    ----------
    detector
        ``"dlib_cnn"``, ``"dlib_hog"`` or ``"opencv_haar"`` (``"opencv_haar_profile"``
        for the profile cascade).
    box
        ``(left, top, right, bottom)`` in pixels, clipped to the picture.
    confidence
        Detector score mapped to [0, 1] (see the module docstring).
    landmarks
        (68, 2) ``(x, y)`` pixel coordinates from dlib's shape predictor, or None.
    score
        The detector's raw score.
    """

    detector: str
    box: tuple[int, int, int, int]
    confidence: float
    landmarks: np.ndarray | None = None
    score: float = field(default=0.0, repr=False)
    keypoints: dict | None = field(default=None, repr=False)


def confidence_from_score(detector: str, score: float) -> float:
    """Map a raw detector score to [0, 1]; 0.5 at the detector's own threshold.

    MTCNN's score is already a probability (its own threshold is 0.7): kept as it is.
    """
    if detector == "mtcnn":
        return float(score)
    scale = _SCALES["opencv_haar" if detector.startswith("opencv_haar") else detector]
    return float(1.0 / (1.0 + np.exp(-float(score) / scale)))


def _models_dir() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.__file__).parent / "models"


@cache
def _dlib_model(name: str):
    """Load a dlib model once: ``cnn``, ``hog``, ``landmarks68``, ``landmarks5``, ``resnet``."""
    import dlib

    files = {
        "cnn": "mmod_human_face_detector.dat",
        "landmarks68": "shape_predictor_68_face_landmarks.dat",
        "landmarks5": "shape_predictor_5_face_landmarks.dat",
        "resnet": "dlib_face_recognition_resnet_model_v1.dat",
    }
    if name == "hog":
        return dlib.get_frontal_face_detector()
    path = _models_dir() / files[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: dlib model missing (reinstall face-recognition-models)")
    loader = {
        "cnn": dlib.cnn_face_detection_model_v1,
        "resnet": dlib.face_recognition_model_v1,
    }.get(name, dlib.shape_predictor)
    LOGGER.debug("loading dlib model %s", path)
    return loader(str(path))


@cache
def _haar_cascades() -> tuple | None:
    """OpenCV (frontal, profile) cascades, or None when this OpenCV has none.

    OpenCV 5 moved ``CascadeClassifier`` and the cascade files to opencv-contrib
    and its wheels ship an empty ``cv2.data``; OpenCV 4 wheels have both.
    """
    import cv2

    folder = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or ".")
    files = [folder / "haarcascade_frontalface_default.xml", folder / "haarcascade_profileface.xml"]
    if not hasattr(cv2, "CascadeClassifier") or not all(f.is_file() for f in files):
        LOGGER.warning(
            "OpenCV %s has no Haar cascades (CascadeClassifier or cv2.data files missing): "
            "the opencv_haar detector is skipped",
            cv2.__version__,
        )
        return None
    return tuple(cv2.CascadeClassifier(str(f)) for f in files)


def available_detectors() -> tuple[str, ...]:
    """Detectors that can run in this environment."""
    out = ["dlib_cnn", "dlib_hog"]
    if _haar_cascades() is not None:
        out.append("opencv_haar")
    if mtcnn.available():
        out.append("mtcnn")
    return tuple(out)


def _as_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = image[..., :3].mean(axis=2)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D grey or RGB picture, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))


def _dlib_cnn(grey: np.ndarray, upsample: int, max_size: int) -> list[tuple[tuple, float]]:
    """dlib's MMOD CNN on a copy shrunk to ``max_size`` pixels (its cost grows fast with size;
    render faces are hundreds of pixels tall, well above its ~40 px minimum)."""
    import cv2

    scale = min(1.0, max_size / max(grey.shape))
    small = grey
    if scale < 1.0:
        dsize = (round(grey.shape[1] * scale), round(grey.shape[0] * scale))
        small = cv2.resize(grey, dsize, interpolation=cv2.INTER_AREA)
    found = _dlib_model("cnn")(_rgb(small), upsample)
    return [
        (
            tuple(int(round(v / scale)) for v in (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom())),
            d.confidence,
        )
        for d in found
    ]


def _dlib_hog(grey: np.ndarray, upsample: int) -> list[tuple[tuple, float]]:
    rects, scores, _ = _dlib_model("hog").run(grey, upsample, 0.0)
    return [((r.left(), r.top(), r.right(), r.bottom()), s) for r, s in zip(rects, scores)]


def _opencv_haar(grey: np.ndarray) -> list[tuple[str, tuple, float]]:
    cascades = _haar_cascades()
    if cascades is None:
        return []

    frontal, profile = cascades
    min_size = (max(24, grey.shape[0] // 8),) * 2
    width = grey.shape[1]
    out = []
    runs = [
        ("opencv_haar", frontal, grey, False),
        ("opencv_haar_profile", profile, grey, False),
        ("opencv_haar_profile", profile, np.ascontiguousarray(grey[:, ::-1]), True),
    ]
    for name, cascade, picture, flipped in runs:
        boxes, _, weights = cascade.detectMultiScale3(
            picture, scaleFactor=1.1, minNeighbors=4, minSize=min_size, outputRejectLevels=True
        )
        for (x, y, w, h), weight in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights)):
            if flipped:
                x = width - x - w
            out.append((name, (int(x), int(y), int(x + w), int(y + h)), float(weight)))
    return out


def _landmarks(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    import dlib

    shape = _dlib_model("landmarks68")(grey, dlib.rectangle(*map(int, box)))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=float)


def detect_faces(
    image: np.ndarray,
    detectors: tuple[str, ...] | list[str] = DETECTORS,
    *,
    upsample: int = 0,
    landmarks: bool = True,
    cnn_size: int = 256,
) -> list[Detection]:
    """Find faces in a picture with several detectors.

    Parameters
    ----------
    image
        2D uint8 grey picture (an RGB one is averaged), e.g. a head render.
    detectors
        Any of :data:`DETECTORS`. ``opencv_haar`` is skipped with a warning when the
        installed OpenCV lacks cascades.
    upsample
        Times dlib upsamples the picture first (finds smaller faces, slower).
    landmarks
        Fit dlib's 68 landmarks to each detection.
    cnn_size
        Largest side (pixels) of the copy the CNN runs on (0.8 s at 256 px against
        4 s at 512 px on 2 cores; the same faces are found on head renders).

    Returns
    -------
    list of Detection
        Every detection of every detector, best confidence first.
    """
    grey = _as_uint8(image)
    unknown = set(detectors) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown face detector(s) {sorted(unknown)}; choose from {DETECTORS}")
    found: list[tuple[str, tuple, float, dict | None]] = []
    if "dlib_cnn" in detectors:
        found += [("dlib_cnn", b, s, None) for b, s in _dlib_cnn(grey, upsample, cnn_size)]
    if "dlib_hog" in detectors:
        found += [("dlib_hog", b, s, None) for b, s in _dlib_hog(grey, upsample)]
    if "opencv_haar" in detectors:
        found += [(name, b, s, None) for name, b, s in _opencv_haar(grey)]
    if "mtcnn" in detectors:
        found += [("mtcnn", b, s, points) for b, s, points in mtcnn.mtcnn_faces(grey)]
    h, w = grey.shape
    dets = [
        Detection(
            detector=name,
            box=(max(int(box[0]), 0), max(int(box[1]), 0), min(int(box[2]), w), min(int(box[3]), h)),
            confidence=confidence_from_score(name, score),
            landmarks=_landmarks(grey, box) if landmarks else None,
            score=float(score),
            keypoints=points,
        )
        for name, box, score, points in found
    ]
    return sorted(dets, key=lambda d: -d.confidence)


def max_confidence(dets: list[Detection], detector: str | None = None) -> float:
    """Highest confidence among detections (optionally of one detector); 0 when none."""
    values = [d.confidence for d in dets if detector is None or d.detector.startswith(detector)]
    return max(values, default=0.0)


def landmark_features(det: Detection, image: np.ndarray, min_fraction: float = 0.6) -> dict[str, bool]:
    """Which features (eyes, nose, mouth, jaw) a detection's landmarks still sit on.

    dlib's shape predictor always returns 68 points, even where a feature was cut
    away, so a feature counts as seen only when at least ``min_fraction`` of its
    landmarks fall on the rendered head (non-background pixels) inside the picture.
    """
    if det.landmarks is None:
        return {}
    grey = _as_uint8(image)
    h, w = grey.shape
    out = {}
    for name, idx in LANDMARK_FEATURES.items():
        pts = np.round(det.landmarks[list(idx)]).astype(int)
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        on_head = np.zeros(len(pts), dtype=bool)
        on_head[inside] = grey[pts[inside, 1], pts[inside, 0]] > 0
        out[name] = bool(on_head.mean() >= min_fraction)
    return out
