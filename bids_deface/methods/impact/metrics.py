"""Impact of defacing on downstream processing (issue 5): the comparison and its check.

The original and the defaced image go through the same structural pipeline
(:mod:`bids_deface.methods.impact.pipeline`: N4, template registration, brain extraction,
tissue segmentation, with identical settings and seeds; its docstring notes what keeps
the runs deterministic) and the outputs are compared (see :mod:`bids_deface.methods.overlap`):
brain Dice / IoU, tissue IoU and volume change, gray/white CNR, the displacement of brain
voxels between the two template registrations, and the largest raw intensity change inside
the original's brain mask (which must be exactly 0 for a defacing that spares the brain).
The approach follows Theyers et al. (2021), Front. Psychiatry 12:617997, who compared
FreeSurfer outputs on original and defaced scans.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from bids_deface.methods import overlap
from bids_deface.methods.impact.native import intensity_change_in_brain
from bids_deface.methods.impact.pipeline import (
    AFFINE_LEVELS_MM,
    BRAIN_LEVELS_MM,
    BRAIN_REGION_MARGIN_MM,
    MODES,
    N4_GRID_MM,
    center_of_mass_init,
    defaced_images,
    process_image,
    start_transform,
    working_image,
    working_template,
)
from bids_deface.methods.impact.tissues import TISSUE_ORDER, kmeans_1d
from bids_deface.methods.record import check_limits

__all__ = [  # the pipeline's names stay importable from here
    "AFFINE_LEVELS_MM",
    "BRAIN_LEVELS_MM",
    "BRAIN_REGION_MARGIN_MM",
    "MAX_DISPLACEMENT_POINTS",
    "MODES",
    "N4_GRID_MM",
    "TISSUE_ORDER",
    "ImpactThresholds",
    "OriginalHalf",
    "center_of_mass_init",
    "evaluate_impact",
    "impact_metrics",
    "impact_original",
    "kmeans_1d",
]

#: Upper bound on the number of brain voxels mapped through both registrations.
MAX_DISPLACEMENT_POINTS = 50_000


@dataclass(frozen=True)
class ImpactThresholds:
    """Acceptance limits applied by :func:`evaluate_impact`.

    Any limit set to ``None`` is not checked.

    Attributes
    ----------
    brain_dice_min : float
        Minimum Dice of the brain masks (original vs defaced). Default 0.99.
    tissue_iou_min : float
        Minimum intersection over union of each tissue class (CSF, GM, WM). Default 0.95.
    displacement_max_mm : float
        Maximum MEAN displacement (mm) of brain voxels between the template
        registrations of the original and of the defaced image. Default 1.0.
    intensity_change_max : float
        Maximum absolute raw intensity change inside the original's brain mask.
        Default 0.0: defacing must not alter a single brain voxel.
    tissue_volume_change_max_pct : float
        Maximum absolute volume change (percent) of each tissue class. Default 5.0.
    brain_volume_change_max_pct : float
        Maximum absolute brain volume change (percent). Default 2.0.
    cnr_change_max_pct : float
        Maximum absolute gray/white CNR change (percent). Default 5.0.
    """

    brain_dice_min: float | None = 0.99
    tissue_iou_min: float | None = 0.95
    displacement_max_mm: float | None = 1.0
    intensity_change_max: float | None = 0.0
    tissue_volume_change_max_pct: float | None = 5.0
    brain_volume_change_max_pct: float | None = 2.0
    cnr_change_max_pct: float | None = 5.0


# --------------------------------------------------------------------------- helpers


def _brain_points(image, brain: np.ndarray) -> pd.DataFrame:
    """Physical (LPS) coordinates of at most ``MAX_DISPLACEMENT_POINTS`` brain voxels."""
    index = np.argwhere(brain)
    if len(index) > MAX_DISPLACEMENT_POINTS:
        stride = math.ceil(len(index) / MAX_DISPLACEMENT_POINTS)
        index = index[::stride]
    spacing = np.asarray(image.spacing)
    direction = np.asarray(image.direction).reshape(3, 3)
    points = np.asarray(image.origin) + (index * spacing) @ direction.T
    return pd.DataFrame(points, columns=["x", "y", "z"])


def _map_points(points: pd.DataFrame, transforms: list[str]) -> np.ndarray:
    """Send subject-space points to template space through a forward transform list."""
    import ants

    mapped = ants.apply_transforms_to_points(3, points, transforms, whichtoinvert=[False] * len(transforms))
    return mapped[["x", "y", "z"]].to_numpy()


def _check_pair(original: nib.Nifti1Image, defaced: nib.Nifti1Image) -> None:
    """Raise ``ValueError`` unless both images share one voxel grid."""
    if original.shape[:3] != defaced.shape[:3]:
        raise ValueError(f"original and defaced images differ in shape: {original.shape} vs {defaced.shape}")
    if not np.allclose(original.affine, defaced.affine, atol=1e-4):
        raise ValueError("original and defaced images differ in their affine (voxel grid)")


def _validate(mode: str, contrast: str, resolution_mm: float | None) -> None:
    """Raise ``ValueError`` on an unknown mode or contrast, or a non-positive resolution."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if contrast not in TISSUE_ORDER:
        raise ValueError(f"contrast must be one of {tuple(TISSUE_ORDER)}; got {contrast!r}")
    if resolution_mm is not None and resolution_mm <= 0:
        raise ValueError(f"resolution_mm must be positive; got {resolution_mm}")


# --------------------------------------------------------------------------- comparisons


def _overlap_metrics(orig: dict, defc: dict, work_original) -> dict[str, float]:
    """Brain Dice / IoU / volumes, tissue IoU and volume change, gray/white CNR."""
    voxel_ml = float(np.prod(work_original.spacing)) / 1000.0
    metrics: dict[str, float] = {
        "brain_dice": overlap.dice(orig["brain"], defc["brain"]),
        "brain_iou": overlap.iou(orig["brain"], defc["brain"]),
        "brain_volume_original_ml": float(orig["brain"].sum()) * voxel_ml,
        "brain_volume_defaced_ml": float(defc["brain"].sum()) * voxel_ml,
        "brain_volume_change_pct": overlap.volume_change_pct(orig["brain"], defc["brain"]),
    }
    for tissue in ("csf", "gm", "wm"):
        a, b = orig["tissues"][tissue], defc["tissues"][tissue]
        metrics[f"{tissue}_iou"] = overlap.iou(a, b)
        metrics[f"{tissue}_volume_change_pct"] = overlap.volume_change_pct(a, b)
    cnr_original = overlap.cnr(orig["corrected"], orig["tissues"]["gm"], orig["tissues"]["wm"])
    cnr_defaced = overlap.cnr(defc["corrected"], defc["tissues"]["gm"], defc["tissues"]["wm"])
    metrics.update(
        cnr_original=cnr_original,
        cnr_defaced=cnr_defaced,
        cnr_change_pct=overlap.percent_change(cnr_original, cnr_defaced),
    )
    return metrics


def _displacement_metrics(work_original, orig: dict, defc: dict) -> dict[str, float]:
    """Mean and max displacement (mm) of the original's brain voxels between the registrations."""
    points = _brain_points(work_original, orig["brain"])
    mean_mm, max_mm = overlap.displacement_stats(
        _map_points(points, orig["transforms"]), _map_points(points, defc["transforms"])
    )
    return {"displacement_mean_mm": mean_mm, "displacement_max_mm": max_mm}


def _timings(time_prepare: float, orig: dict, defc: dict, time_displacement: float) -> dict[str, float]:
    """The ``time_*_s`` keys: each pipeline step summed over the two images."""
    timings = {"time_prepare_s": time_prepare}
    for key in orig["timings"]:
        timings[key] = orig["timings"][key] + defc["timings"][key]
    timings["time_displacement_s"] = time_displacement
    return timings


# --------------------------------------------------------------------------- public API


@dataclass
class OriginalHalf:
    """The original image's half of a comparison (:func:`impact_original`), made before the deface.

    ``run`` is the original's pipeline output; its transforms and ``start`` (the start of
    both registrations) are files in the folder the half was made in. ``settings`` are the
    mode, seed, contrast, working resolution and whether the whole-head stage ran;
    ``seconds`` the time the half took (counted in the comparison's ``time_total_s``).
    """

    work_original: object
    template: object
    template_brain: object
    start: str
    run: dict
    settings: tuple
    time_prepare: float
    seconds: float = 0.0


def impact_original(
    original: nib.Nifti1Image,
    *,
    template_head: nib.Nifti1Image,
    template_brain_mask: nib.Nifti1Image,
    folder: str | Path,
    mode: str = "fast",
    seed: int = 42,
    resolution_mm: float | None = 2.0,
    contrast: str = "T1w",
    initial: np.ndarray | None = None,
) -> OriginalHalf:
    """Process the original image alone, as :func:`impact_metrics` would (same arguments).

    The transforms are kept in ``folder`` (a step's own folder: the defaced half may run in
    another process, or on another machine of a cluster).
    """
    _validate(mode, contrast, resolution_mm)
    folder = Path(folder)
    start = start_total = time.perf_counter()
    work_original = working_image(original, resolution_mm)
    template, template_brain = working_template(template_head, template_brain_mask, resolution_mm)
    time_prepare = time.perf_counter() - start
    begin = start_transform(work_original, template, initial, str(folder / "impact_start.mat"))
    run = process_image(work_original, template, template_brain, mode, seed, contrast, begin, initial is None)
    kept = []
    for i, transform in enumerate(run["transforms"]):
        if Path(transform).parent != folder:  # ANTs writes its outputs to the system's temporary folder
            target = folder / f"impact_original_{i}_{Path(transform).name}"
            shutil.copyfile(transform, target)
            transform = str(target)
        kept.append(transform)
    run["transforms"] = kept
    settings = (mode, seed, contrast, resolution_mm, initial is None)
    seconds = time.perf_counter() - start_total
    return OriginalHalf(work_original, template, template_brain, begin, run, settings, time_prepare, seconds)


def impact_metrics(
    original: nib.Nifti1Image,
    defaced: nib.Nifti1Image,
    *,
    template_head: nib.Nifti1Image,
    template_brain_mask: nib.Nifti1Image,
    mode: str = "fast",
    seed: int = 42,
    resolution_mm: float | None = 2.0,
    contrast: str = "T1w",
    initial: np.ndarray | None = None,
    before: OriginalHalf | None = None,
) -> dict[str, float]:
    """Compare the processing of an original image and its defaced version.

    Parameters
    ----------
    original, defaced : nibabel.Nifti1Image
        The image before and after defacing, on the same voxel grid.
    template_head : nibabel.Nifti1Image
        A template WITH its head (skull, scalp, face), registered to each image.
    template_brain_mask : nibabel.Nifti1Image
        The template's brain mask (intracranial), on the grid of ``template_head``.
    mode : {"fast", "full"}
        "fast": affine template registration; "full": affine then SyN.
    seed : int
        Random seed of the ANTs registrations (Atropos uses its constant seed).
    resolution_mm : float or None
        Isotropic working resolution; ``None`` keeps the native grid.
    contrast : {"T1w", "T2w", "PDw", "FLAIR"}
        Names the tissue classes by intensity order.
    initial : numpy.ndarray, optional
        4x4 RAS matrix, image world -> template world (the defacing registration): both
        registrations start from it and skip their whole-head stage.
    before : OriginalHalf, optional
        :func:`impact_original` of ``original`` with the same arguments, made earlier
        (perhaps in another process): only the defaced image is processed here. Made
        here (in a temporary folder) when absent.

    Returns
    -------
    dict of str to float
        Flat record, units in key names: ``brain_dice``, ``brain_iou``,
        ``brain_volume_{original,defaced}_ml``, ``brain_volume_change_pct``,
        ``{csf,gm,wm}_iou``, ``{csf,gm,wm}_volume_change_pct``, ``cnr_original``,
        ``cnr_defaced``, ``cnr_change_pct``, ``displacement_mean_mm``,
        ``displacement_max_mm``, ``intensity_change_in_brain`` and ``time_*_s`` timings
        (the only keys that vary between identical runs).
    """
    _validate(mode, contrast, resolution_mm)
    _check_pair(original, defaced)
    if before is None:  # both halves here: the original's transforms live as long as the call
        settings = {
            "template_head": template_head,
            "template_brain_mask": template_brain_mask,
            "mode": mode,
            "seed": seed,
            "resolution_mm": resolution_mm,
            "contrast": contrast,
            "initial": initial,
        }
        with tempfile.TemporaryDirectory(prefix="bids_deface_impact_") as tmp:
            half = impact_original(original, folder=tmp, **settings)
            return impact_metrics(original, defaced, before=half, **settings)
    if before.settings != (mode, seed, contrast, resolution_mm, initial is None):
        raise ValueError(f"the original's half was made with other settings: {before.settings}")
    start_total = time.perf_counter()
    images = defaced_images(
        original, defaced, before.work_original, before.template, before.template_brain, resolution_mm
    )
    time_prepare = before.time_prepare + time.perf_counter() - start_total
    orig = before.run
    defc = process_image(
        images.work_defaced, images.template, images.template_brain, mode, seed, contrast, before.start, initial is None
    )
    metrics = _overlap_metrics(orig, defc, images.work_original)

    start = time.perf_counter()
    metrics.update(_displacement_metrics(images.work_original, orig, defc))
    time_displacement = time.perf_counter() - start

    metrics["intensity_change_in_brain"] = intensity_change_in_brain(images, orig["brain"])
    metrics.update(_timings(time_prepare, orig, defc, time_displacement))
    metrics["time_total_s"] = time.perf_counter() - start_total + before.seconds
    return metrics


def evaluate_impact(metrics: dict[str, float], thresholds: ImpactThresholds | None = None) -> tuple[bool, list[str]]:
    """Check impact metrics against limits.

    Parameters
    ----------
    metrics : dict
        A record from :func:`impact_metrics`.
    thresholds : ImpactThresholds, optional
        Limits; the defaults of :class:`ImpactThresholds` when omitted.

    Returns
    -------
    tuple of (bool, list of str)
        Whether every enabled check passed, and one human-readable reason per failure.
        A missing or non-finite metric fails its check.
    """
    thresholds = thresholds or ImpactThresholds()
    checks: list[tuple[str, float | None, str]] = [
        ("brain_dice", thresholds.brain_dice_min, "min"),
        ("displacement_mean_mm", thresholds.displacement_max_mm, "max"),
        ("intensity_change_in_brain", thresholds.intensity_change_max, "max"),
        ("brain_volume_change_pct", thresholds.brain_volume_change_max_pct, "absmax"),
        ("cnr_change_pct", thresholds.cnr_change_max_pct, "absmax"),
    ]
    for tissue in ("csf", "gm", "wm"):
        checks.append((f"{tissue}_iou", thresholds.tissue_iou_min, "min"))
        checks.append((f"{tissue}_volume_change_pct", thresholds.tissue_volume_change_max_pct, "absmax"))

    reasons = check_limits(metrics, checks)
    return not reasons, reasons
