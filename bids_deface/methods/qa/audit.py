"""Is there a face on an image that was defaced elsewhere? The face check of an audit (no original).

The participant level judges a defaced image against its original. An audit has only the
image that would be published (defaced earlier, by this app or another tool), so both of
its face signals compare the head with the template registered to it:

* **features** (:func:`feature_surface`): the template's skin at each facial feature
  (eyes, nose, mouth; chin, cheeks and ears are reported), carried onto the image: the
  fraction of it that has head within :data:`SURFACE_TOLERANCE_MM`. A defaced face leaves
  no head there; the Theyers et al. (2021) rule of :func:`.features.face_check` decides,
  with the same thresholds;
* **detectors** (:func:`audit_face`): the renders of the participant level (the image's own
  axes, the same views, size and detectors); a face found counts when at least two of
  its features sit on surface that lies where a face's skin would be: in the template's
  face region (:func:`face_region`), no more than :data:`.depth.FACE_DEPTH_MM` behind the
  template's skin (:mod:`.depth`), rather than on a cut surface deeper inside the head,
  where detectors also fire on the orbits and the nasal cavity, or on the side of the
  head, where they fire on an ear's rim.

Both use the registration, so the audit checks the registration independently as the
participant level does (a second atlas by a second route; see
:mod:`bids_deface.methods.deface.brain_check`): when the two disagree the image is
``review``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from ..volume import ball, dilate
from .check import FOUND, QA_VIEWS
from .depth import depth_map, face_depth_skin, mask_surface, surface_in, to_picture
from .faces import DETECTORS, detect_faces, max_confidence
from .features import _label_names, feature_metrics, skin_shell
from .render import _shade, cast_view, head_mask, ray_grid, surface_volume, view_axes, view_frame
from .skin import faces_left

#: The face region: the template's eyes, nose, mouth, chin and cheeks, grown by this much (mm).
#: On the shared and demo heads the features of faces found on originals (front to 45 degrees)
#: lie 0-21 mm from those labels (registration error, a field of view that clips the nose);
#: detections on the side of a head (profile views, where detectors fire on an ear's rim,
#: on originals and defaced heads alike) 23-102 mm (benchmarks/README.md, "audit").
FACE_REGION_MM = 20.0
_FACE_LABELS = ("eyes", "nose", "mouth", "chin", "cheeks")

#: A feature's template skin counts as present when the image has head within this distance
#: (mm): registration error and the shape of one face (a shorter nose) move the skin by a
#: few mm (originals: 0.96-1.0 of eyes, nose and mouth within 4 mm); a defaced face leaves
#: none (release copies: 0.0 within 4 mm, the first head 6 mm away, behind the eyes).
SURFACE_TOLERANCE_MM = 4.0


@dataclass
class FaceAudit:
    """Renders (view -> uint8 picture) and a flat metrics record."""

    renders: dict[str, np.ndarray]
    metrics: dict


def template_skin(head_mask_tpl: np.ndarray, features: np.ndarray, zooms) -> np.ndarray:
    """The feature labels of a template restricted to its skin: within :data:`.features.SHELL_MM` of its surface."""
    return np.where(skin_shell(head_mask_tpl, zooms), np.rint(features), 0).astype(np.uint8)


def face_region(features: np.ndarray, zooms, labels: dict) -> np.ndarray:
    """Where a face is, on the template: its face's feature labels grown by :data:`FACE_REGION_MM`
    (into the air too: a face may stand out further than the template's)."""
    values = [value for name, value in _label_names(labels).items() if name in _FACE_LABELS]
    return dilate(np.isin(np.rint(features), values), ball(FACE_REGION_MM, zooms))


def feature_surface(
    head: np.ndarray, skin_labels: np.ndarray, zooms, labels: dict, tolerance_mm: float = SURFACE_TOLERANCE_MM
) -> dict[str, float]:
    """Fraction of each feature's template skin (``skin_labels``, on the image grid) with head within ``tolerance_mm``.

    NaN for a feature whose template skin is outside the field of view.
    """
    near = dilate(head, ball(tolerance_mm, zooms))  # within tolerance_mm of the head
    out = {}
    for name, value in _label_names(labels).items():
        skin = skin_labels == value
        out[name] = float(near[skin].mean()) if skin.any() else float("nan")
    return out


def _detector_metrics(left: list[tuple], n_found: int) -> dict:
    views = sorted({view for view, _, _ in left})
    out: dict = {"face_left_on_skin_views": views, "check_face_skin": not left}
    if left:
        best = {}
        for view, det, feats in left:  # the most confident detection of each view
            if view not in best or det.confidence > best[view][0].confidence:
                best[view] = (det, feats)
        found = "; ".join(
            f"{det.detector} {det.confidence:.2f} on {view} ({', '.join(f)})" for view, (det, f) in best.items()
        )
        out["face_skin_summary"] = f"a face where the template's skin is, in {len(views)} view(s)"
        out["check_face_skin_reason"] = f"face: a detector found a face where a face's skin would be: {found}"
    elif n_found:
        out["face_skin_summary"] = f"{n_found} detection(s), none with two features where a face's skin would be"
    else:
        out["face_skin_summary"] = "no face detected on the renders"
    return out


def face_skin(head_depth, template, region, affine, yaw: float, centre, fov: float) -> np.ndarray:
    """The pixels of one view where a face's skin would be (see the module docstring).

    ``head_depth`` is the head's depth map at picture size (:func:`.depth.depth_map`),
    ``template`` the :class:`~.render.SurfaceVolume` of the template's head and ``region`` its
    face region (or None: anywhere), on the image's grid.
    """
    size = head_depth.shape[0]
    skin = face_depth_skin(head_depth, depth_map(template, affine, yaw, centre, fov, size))
    if region is not None:
        skin &= surface_in(region, affine, head_depth, yaw, centre, fov)
    return skin


def audit_face(
    img: nib.Nifti1Image,
    template_head: np.ndarray,
    skin_labels: np.ndarray,
    labels: dict,
    face: np.ndarray | None = None,
    *,
    views: dict[str, float] = QA_VIEWS,
    size: int = 512,
    detectors: tuple[str, ...] = DETECTORS,
) -> FaceAudit:
    """Render, detect and check one image without its original (see the module docstring).

    Parameters
    ----------
    img
        The image as it would be published.
    template_head, skin_labels, face
        The template's head mask, its feature skin labels (:func:`template_skin`) and its
        face region (:func:`face_region`; None: anywhere on the head), carried onto
        ``img``'s grid by the template registration.
    labels
        ``{value: name}`` of the feature labels.
    """
    start = time.monotonic()
    zooms = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))
    head = head_mask(img)
    surface = surface_volume(img, head)
    template = mask_surface(template_head, img.affine)
    renders: dict[str, np.ndarray] = {}
    metrics: dict = {}
    left, n_found, seen = [], 0, 0
    for view, yaw in views.items():
        axes = view_axes(yaw, 0.0, None)
        centre, fov = view_frame(surface.points, *axes)
        rays = cast_view(surface, img.affine, axes, size, centre, fov)  # cast once: the picture and the skin
        picture = _shade(rays, ray_grid(fov, size)[1], size)
        renders[view] = picture
        dets = detect_faces(picture, detectors)
        metrics[f"face_confidence_{view}"] = round(max_confidence(dets), 3)
        found = [d for d in dets if d.confidence >= FOUND]
        n_found += len(found)
        seen += bool(found)
        on_skin = []
        if found:
            skin = face_skin(to_picture(rays, size), template, face, img.affine, yaw, centre, fov)
            on_skin = faces_left(found, skin)
        left.extend((view, det, feats) for det, feats in on_skin)
        metrics[f"face_on_skin_{view}"] = round(max((det.confidence for det, _ in on_skin), default=0.0), 3)
    metrics["face_detected_views"] = seen
    metrics["time_qa_render_detect_s"] = round(time.monotonic() - start, 2)
    metrics.update(_detector_metrics(left, n_found))
    fractions = feature_surface(head, skin_labels, zooms, labels)
    metrics.update(feature_metrics(fractions, reason="face: the template's facial features still have skin: "))
    metrics["time_qa_s"] = round(time.monotonic() - start, 2)
    return FaceAudit(renders=renders, metrics=metrics)
