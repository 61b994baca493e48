"""Re-identification audit: can a face-recognition model match defaced renders to people?

Schwarz et al. (2021) matched 97% of undefaced MRI renders to photographs with a
face-recognition model. Here the *gallery* is the renders of the ORIGINAL images of
every participant and the *queries* are the renders of the DEFACED images: a
successful deface drives the top-1 and top-5 match rates down to chance.

Descriptors are dlib's 128-D ResNet face embeddings (``dlib_face_recognition_resnet_model_v1``,
aligned with the 5-point shape predictor), shipped offline by ``face_recognition_models``.
Ranking is by Euclidean distance; dlib's usual same-person threshold (0.6) is reported
for reference only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .faces import _as_uint8, _dlib_model, _rgb, detect_faces

LOGGER = logging.getLogger(__name__)

#: dlib's customary same-person distance (reference only; ranking decides the rates).
DLIB_SAME_PERSON = 0.6


def descriptor(image: np.ndarray, detectors: Sequence[str] = ("dlib_cnn", "dlib_hog")) -> np.ndarray | None:
    """128-D face descriptor of the most confident face in a picture, or None.

    Parameters
    ----------
    image
        2D uint8 picture (a head render).
    detectors
        Detectors tried together; the most confident detection is described.
    """
    grey = _as_uint8(image)
    dets = detect_faces(grey, tuple(detectors), landmarks=False)
    if not dets:
        return None
    return descriptor_of(grey, dets[0])


def descriptor_of(image: np.ndarray, detection) -> np.ndarray:
    """128-D descriptor of one detected face (reuses a detection instead of detecting again)."""
    import dlib

    rgb = _rgb(_as_uint8(image))
    shape = _dlib_model("landmarks5")(rgb, dlib.rectangle(*detection.box))
    vec = _dlib_model("resnet").compute_face_descriptor(rgb, shape)
    return np.asarray(vec, dtype=np.float64)


def _gallery(originals: Mapping[str, Sequence[np.ndarray | None]]) -> tuple[list[str], list[np.ndarray]]:
    names, vecs = [], []
    for name, descs in originals.items():
        good = [np.asarray(d, float) for d in descs if d is not None]
        if good:
            names.append(name)
            vecs.append(np.stack(good))
        else:
            LOGGER.info("re-identification: no face found on any original render of %s", name)
    return names, vecs


@dataclass
class _Tally:
    """What the queries of :func:`reid_rates` add up to."""

    n_queries: int = 0
    no_face: int = 0
    top1: int = 0
    top5: int = 0
    within: int = 0
    own: list = field(default_factory=list)
    other: list = field(default_factory=list)

    def add(self, dist: np.ndarray, own_index: int, n: int) -> None:
        """One query with a face, at distances ``dist`` from the ``n`` participants."""
        rank = int((dist < dist[own_index]).sum())  # ties resolve in the query's favour
        self.top1 += rank < 1
        self.top5 += rank < min(5, n)
        self.within += dist[own_index] < DLIB_SAME_PERSON
        self.own.append(dist[own_index])
        self.other.extend(np.delete(dist, own_index).tolist())


def _distances(vecs: list[np.ndarray], query) -> np.ndarray:
    """Per participant, the smallest distance of the query to any of their original descriptors."""
    return np.array([np.linalg.norm(v - np.asarray(query, float), axis=1).min() for v in vecs])


def _tally(names: list[str], vecs: list[np.ndarray], defaced: Mapping[str, Sequence[np.ndarray | None]]) -> _Tally:
    """Rank every defaced query against the gallery; participants without a gallery face are left out."""
    index = {name: i for i, name in enumerate(names)}
    tally = _Tally()
    for name, queries in defaced.items():
        if name not in index:
            LOGGER.info("re-identification: %s has no original face to match; its queries are left out", name)
            continue
        for query in queries:
            tally.n_queries += 1
            if query is None:
                tally.no_face += 1
                continue
            tally.add(_distances(vecs, query), index[name], len(names))
    return tally


def _not_measured_reason(n: int, n_queries: int) -> dict:
    """``{}`` when something was matched, else why not, under ``not_measured_reason``."""
    if n and n_queries:
        return {}
    return {
        "not_measured_reason": (
            "no face was found on any original render: the detectors could not see the faces, so "
            "re-identification was not measured"
            if not n
            else "no defaced render to match"
        )
    }


def reid_rates(
    originals: Mapping[str, Sequence[np.ndarray | None]],
    defaced: Mapping[str, Sequence[np.ndarray | None]],
) -> dict:
    """Top-1/top-5 re-identification rates of defaced renders against originals.

    Each defaced descriptor is a query; its distance to a participant is the smallest
    Euclidean distance to any of that participant's original descriptors; participants
    are ranked by it. A query matches at top-k when its own participant is among the k
    nearest. A defaced render with no detectable face (None) is a query that matches
    nothing: it counts in ``n_queries`` and never as a hit (the deface worked for it).

    Parameters
    ----------
    originals
        Participant -> descriptors of the original renders (None where no face was found).
    defaced
        Participant -> descriptors of the defaced renders.

    Returns
    -------
    dict
        ``top1``, ``top5`` (fractions of queries), ``chance_top1`` (1/N),
        ``chance_top5`` (min(5, N)/N), ``n_participants`` (N, participants with a face in
        the gallery), ``n_queries``, ``n_no_face`` (queries without a face),
        ``n_within_threshold`` (queries closer than 0.6 to their own participant) and
        ``median_distance_own`` / ``median_distance_other``; ``measured``: False when no
        defaced render could be matched (no participant's face found on an original
        render, or no query), with the reason in ``not_measured_reason``: then the rates are
        NaN and mean "not measured", not "no one re-identified".
    """
    names, vecs = _gallery(originals)
    n = len(names)
    tally = _tally(names, vecs, defaced)
    rate = (lambda k: k / tally.n_queries) if tally.n_queries else (lambda k: float("nan"))
    return {
        "measured": bool(n and tally.n_queries),
        **_not_measured_reason(n, tally.n_queries),
        "top1": rate(tally.top1),
        "top5": rate(tally.top5),
        "chance_top1": 1.0 / n if n else float("nan"),
        "chance_top5": min(5, n) / n if n else float("nan"),
        "n_participants": n,
        "n_queries": tally.n_queries,
        "n_no_face": tally.no_face,
        "n_within_threshold": int(tally.within),
        "median_distance_own": float(np.median(tally.own)) if tally.own else float("nan"),
        "median_distance_other": float(np.median(tally.other)) if tally.other else float("nan"),
    }
