"""Is there a face left on the surface? The facial-feature check (Theyers et al. 2021).

The fraction of each facial feature's skin that survives the deface, from the template's
feature label map carried to the image, and the rule that decides: at most one PARTIAL
feature (eyes, nose, mouth) may remain.
"""

from __future__ import annotations

import numpy as np

#: Features whose survival decides the Theyers et al. (2021) rule.
FACIAL_FEATURES = ("eyes", "nose", "mouth")
#: Thickness (mm) of the skin shell in which a feature is looked for.
SHELL_MM = 3.0
#: Fraction remaining at or above which a feature is "present", above which "partial".
PRESENT, PARTIAL = 0.5, 0.1


def _array(img_or_array) -> np.ndarray:
    return np.asarray(img_or_array.dataobj if hasattr(img_or_array, "dataobj") else img_or_array)


def _values(img_or_array) -> np.ndarray:
    """The voxel values as they are (3D), or averaged over volumes (4D, as the rest of the QA does)."""
    data = _array(img_or_array)
    return data.mean(axis=3, dtype=np.float32) if data.ndim == 4 else data


def _label_names(labels: dict) -> dict[str, int]:
    """Accept ``{name: value}`` or ``{value: name}``; return ``{name: value}``."""
    return {
        (v if isinstance(k, (int, np.integer)) else k): int(k if isinstance(k, (int, np.integer)) else v)
        for k, v in labels.items()
    }


def skin_shell(mask: np.ndarray, zooms) -> np.ndarray:
    """The voxels of a head mask within :data:`SHELL_MM` of its surface (an ellipsoid of whole voxels a side)."""
    from ..volume import ellipsoid, erode

    depth = np.maximum(np.round(SHELL_MM / np.asarray(zooms[:3], dtype=float)).astype(int), 1)
    return mask & ~erode(mask, ellipsoid(depth))


def feature_presence(original, defaced, features_dseg, labels: dict, mask=None) -> dict[str, float]:
    """Fraction of each facial feature's skin that is still there after defacing.

    A feature's *skin voxels* are its labelled voxels within :data:`SHELL_MM` of the
    ORIGINAL head surface (:func:`bids_deface.methods.qa.render.head_mask`). One is still
    there when the defaced image keeps the original's (non-zero) value at that voxel:
    removed skin is 0, and refaced skin (``--method reface``) is the template's face,
    present but not the participant's.

    Parameters
    ----------
    original, defaced
        The image before and after defacing, on the same grid (3D or 4D).
    features_dseg
        Feature label map (image or array) on the same grid.
    labels
        ``{name: value}`` (or ``{value: name}``), e.g. ``{"eyes": 1, "nose": 2, ...}``.
    mask
        The original's :func:`~bids_deface.methods.qa.render.head_mask`, when the caller
        has it already (computed here otherwise).

    Returns
    -------
    dict
        Feature name -> fraction in [0, 1]; NaN when the feature has no skin voxel in
        the image (outside the field of view).
    """
    from .render import head_mask

    dseg = _array(features_dseg)
    # integer labels as they are (rounding a uint8 map makes a float64 copy, 8 bytes a voxel)
    dseg = dseg if np.issubdtype(dseg.dtype, np.integer) else np.rint(dseg).astype(np.int32)
    if dseg.ndim == 4:
        dseg = dseg[..., 0]
    orig, after = _values(original), _values(defaced)
    if not (orig.shape == after.shape == dseg.shape):
        raise ValueError(f"grids differ: original {orig.shape}, defaced {after.shape}, features {dseg.shape}")
    # the participant's own skin survives where the voxel is unchanged: a removed voxel is
    # 0, a refaced one holds the template's face (which is there, but is not theirs); NaN
    # (background to the rest of the app) equals nothing, so it is never skin
    still = (after == orig) & (orig != 0)
    del orig, after
    mask = head_mask(original) if mask is None else np.asarray(mask, dtype=bool)
    shell = skin_shell(mask, np.sqrt((original.affine[:3, :3] ** 2).sum(axis=0)))
    # the labelled skin voxels, once (a full-grid pass per label took 1.1 s on a 1 mm head)
    skin = np.flatnonzero(shell & (dseg != 0))
    skin_labels, skin_still = dseg.ravel()[skin], still.ravel()[skin]
    out = {}
    for name, value in _label_names(labels).items():
        of_feature = skin_labels == value
        n = int(of_feature.sum())
        out[name] = float(skin_still[of_feature].sum() / n) if n else float("nan")
    return out


def classify_features(fractions: dict[str, float]) -> dict[str, str]:
    """``present`` (>= 0.5 remaining), ``partial`` (> 0.1) or ``absent``.

    A feature outside the field of view (NaN) cannot identify anyone: ``absent``.
    """
    out = {}
    for name, f in fractions.items():
        if f is None or not np.isfinite(f):
            out[name] = "absent"
        else:
            out[name] = "present" if f >= PRESENT else "partial" if f > PARTIAL else "absent"
    return out


def face_check(fractions: dict[str, float]) -> tuple[bool, str]:
    """Theyers et al. (2021) rule: pass when at most one PARTIAL facial feature (eyes,
    nose, mouth) remains. (Removed brain is the brain check's, not this one's.)

    Parameters
    ----------
    fractions
        From :func:`feature_presence` (other keys such as ears are reported, not judged).

    Returns
    -------
    (bool, str)
        Pass/fail and a reason naming what remains, e.g. ``"eyes present, nose partial"``.
    """
    classes = classify_features({k: fractions.get(k, float("nan")) for k in FACIAL_FEATURES})
    left = [f"{k} {v}" for k, v in classes.items() if v != "absent"]
    n_present = sum(v == "present" for v in classes.values())
    n_partial = sum(v == "partial" for v in classes.values())
    reasons, ok = [], True
    if n_present or n_partial > 1:
        ok = False
        reasons.append(", ".join(left))
    elif left:
        reasons.append(f"{left[0]} (one partial feature allowed)")
    else:
        reasons.append("no facial feature left")
    return ok, "; ".join(reasons)


def feature_metrics(fractions: dict[str, float], *, reason: str = "face: ") -> dict:
    """The record's feature fields: each feature's fraction and class, and the rule's verdict.

    ``reason`` starts ``check_face_reason`` when the rule fails.
    """
    classes = classify_features(fractions)
    out: dict = {}
    for name, fraction in fractions.items():
        out[f"feature_{name}_remaining"] = None if np.isnan(fraction) else round(float(fraction), 4)
        out[f"feature_{name}"] = classes.get(name, "absent")
    passed, summary = face_check(fractions)
    out["check_face"] = bool(passed)
    out["face_check_summary"] = summary
    if not passed:
        out["check_face_reason"] = f"{reason}{summary}"
    return out
