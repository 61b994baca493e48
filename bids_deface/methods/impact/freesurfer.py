"""FreeSurfer-based impact check: recon-all on original and defaced, then compare.

Theyers et al. (2021, Front. Psychiatry 12:617997) ran FreeSurfer on original and
defaced scans and compared subcortical volumes, cortical thickness and the gray/white
contrast-to-noise ratio. This module:

* tells whether FreeSurfer can run (:func:`recon_all_available`, :func:`require_recon_all`);
* parses ``stats/aseg.stats`` and ``stats/?h.aparc.stats`` (FreeSurfer 7 text format);
* compares two subject directories (:func:`compare_freesurfer`);
* checks the comparison against limits (:func:`evaluate_freesurfer`).

Running recon-all itself (a nipype ``ReconAll``) is the job of
:mod:`bids_deface.interfaces.freesurfer`; nothing here imports nipype.

CNR, kept simple: if ``stats/mri_cnr.txt`` exists in both subject directories (the
standard output of ``mri_cnr surf mri/norm.mgz`` redirected there), its ``total CNR``
line is used; otherwise, when ``mri/norm.mgz`` and ``mri/aseg.mgz`` exist, the CNR
``(WMavg - GMavg)^2 / (WMvar + GMvar)`` is computed on norm.mgz with cerebral white
matter = aseg labels 2/41 and cortex = labels 3/42; otherwise no CNR is reported.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np

from bids_deface.methods import overlap
from bids_deface.methods.record import check_limits

LOGGER = logging.getLogger(__name__)

MISSING_FREESURFER = (
    "--impact freesurfer needs recon-all on PATH and a FreeSurfer licence (--fs-license-file or FS_LICENSE)"
)
WM_LABELS = (2, 41)  # Left/Right-Cerebral-White-Matter
CORTEX_LABELS = (3, 42)  # Left/Right-Cerebral-Cortex

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


# --------------------------------------------------------------------------- running


def find_fs_license(fs_license_file: str | os.PathLike | None = None) -> Path | None:
    """Locate a FreeSurfer licence file.

    Looks, in order, at ``fs_license_file``, ``$FS_LICENSE``,
    ``$FREESURFER_HOME/license.txt`` and ``$FREESURFER_HOME/.license``; returns the
    first existing file or ``None``.
    """
    candidates: list[Path] = []
    if fs_license_file:
        candidates.append(Path(fs_license_file))
    if os.environ.get("FS_LICENSE"):
        candidates.append(Path(os.environ["FS_LICENSE"]))
    if os.environ.get("FREESURFER_HOME"):
        home = Path(os.environ["FREESURFER_HOME"])
        candidates += [home / "license.txt", home / ".license"]
    return next((path for path in candidates if path.is_file()), None)


def recon_all_available(fs_license_file: str | os.PathLike | None = None) -> bool:
    """True when ``recon-all`` is on PATH and a licence is found (see :func:`find_fs_license`)."""
    return shutil.which("recon-all") is not None and find_fs_license(fs_license_file) is not None


def require_recon_all(fs_license_file: str | os.PathLike | None = None) -> Path:
    """Return the licence path, or raise ``RuntimeError`` if FreeSurfer cannot run."""
    licence = find_fs_license(fs_license_file)
    if shutil.which("recon-all") is None or licence is None:
        missing = [] if shutil.which("recon-all") else ["recon-all not on PATH"]
        if licence is None:
            missing.append("no licence found")
        raise RuntimeError(f"{MISSING_FREESURFER}: {', '.join(missing)}")
    return licence


# --------------------------------------------------------------------------- parsing


def _read_lines(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FreeSurfer stats file not found: {path}")
    return path.read_text().splitlines()


def _parse_measures(lines: list[str]) -> tuple[dict[str, float], dict[str, str]]:
    """``# Measure Struct, Name, Description, value, units`` lines -> values, units.

    Keyed by the second field (``BrainSegVol``, ``eTIV``, ``MeanThickness`` ...), which
    is unique where the first (``Cortex``) is not.
    """
    values: dict[str, float] = {}
    units: dict[str, str] = {}
    for line in lines:
        if not line.startswith("# Measure "):
            continue
        fields = [f.strip() for f in line[len("# Measure ") :].split(",")]
        if len(fields) < 5:
            raise ValueError(f"malformed Measure line: {line!r}")
        name, value, unit = fields[1], fields[-2], fields[-1]
        values[name] = float(value)
        units[name] = unit
    return values, units


def _parse_table(lines: list[str], path) -> list[dict[str, str]]:
    """Rows of the table after the ``# ColHeaders`` line, as dicts of strings."""
    headers = None
    rows = []
    for line in lines:
        if line.startswith("# ColHeaders"):
            headers = line.split()[2:]
        elif headers is not None and line.strip() and not line.startswith("#"):
            values = line.split()
            if len(values) != len(headers):
                raise ValueError(f"{path}: row has {len(values)} columns, expected {len(headers)}: {line!r}")
            rows.append(dict(zip(headers, values)))
    if headers is None:
        raise ValueError(f"{path}: no '# ColHeaders' line (not a FreeSurfer stats file?)")
    return rows


def parse_aseg_stats(path: str | os.PathLike) -> dict:
    """Parse ``stats/aseg.stats`` (``mri_segstats`` output).

    Returns
    -------
    dict
        ``measures``: the ``# Measure`` values by name (``BrainSegVol``, ``eTIV``, ...);
        ``measure_units``: their units; ``volumes_mm3``: ``Volume_mm3`` of every
        structure by ``StructName``; ``nvoxels``: ``NVoxels`` by ``StructName``.
    """
    lines = _read_lines(path)
    measures, units = _parse_measures(lines)
    rows = _parse_table(lines, path)
    return {
        "measures": measures,
        "measure_units": units,
        "volumes_mm3": {row["StructName"]: float(row["Volume_mm3"]) for row in rows},
        "nvoxels": {row["StructName"]: int(row["NVoxels"]) for row in rows},
    }


def parse_aparc_stats(path: str | os.PathLike) -> dict:
    """Parse ``stats/?h.aparc.stats`` (``mris_anatomical_stats`` output).

    Returns
    -------
    dict
        ``hemi`` (``"lh"``/``"rh"`` from the header), ``measures`` (incl.
        ``MeanThickness``), ``measure_units``, ``regions``: every numeric column of the
        table by region name, and ``thickness_mm``: ``ThickAvg`` by region.
    """
    lines = _read_lines(path)
    measures, units = _parse_measures(lines)
    hemi = next((line.split()[2] for line in lines if line.startswith("# hemi ")), None)
    regions = {}
    for row in _parse_table(lines, path):
        name = row.pop("StructName")
        regions[name] = {key: float(value) for key, value in row.items()}
    return {
        "hemi": hemi,
        "measures": measures,
        "measure_units": units,
        "regions": regions,
        "thickness_mm": {name: values["ThickAvg"] for name, values in regions.items()},
    }


def parse_mri_cnr(text: str) -> float:
    """The ``total CNR = x`` value of ``mri_cnr`` output; ``ValueError`` if absent."""
    match = re.search(rf"total\s+CNR\s*=\s*({_NUMBER})", text, flags=re.IGNORECASE)
    if match is None:
        raise ValueError("no 'total CNR = ...' line in mri_cnr output")
    return float(match.group(1))


def cnr_from_volumes(norm: np.ndarray, aseg: np.ndarray) -> float:
    """Gray/white CNR of ``norm`` with cortex (3/42) and cerebral WM (2/41) from ``aseg``."""
    return overlap.cnr(norm, np.isin(aseg, CORTEX_LABELS), np.isin(aseg, WM_LABELS))


def subject_cnr(subject_dir: str | os.PathLike) -> float | None:
    """CNR of one subject directory (see the module docstring), or ``None``."""
    subject_dir = Path(subject_dir)
    text_file = subject_dir / "stats" / "mri_cnr.txt"
    if text_file.is_file():
        return parse_mri_cnr(text_file.read_text())
    norm, aseg = subject_dir / "mri" / "norm.mgz", subject_dir / "mri" / "aseg.mgz"
    if norm.is_file() and aseg.is_file():
        import nibabel as nib

        return cnr_from_volumes(
            np.asanyarray(nib.load(norm).dataobj),
            np.asanyarray(nib.load(aseg).dataobj).astype(np.int32),
        )
    return None


# --------------------------------------------------------------------------- comparing


def _key(name: str) -> str:
    """A metrics-key-safe version of a FreeSurfer structure or measure name."""
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


def _compare_aseg(orig: dict, defc: dict, defc_dir: Path) -> dict[str, float]:
    """Per-structure volume changes, their mean / max absolute change, shared measures' changes."""
    metrics: dict[str, float] = {}
    changes = []
    for name, volume in orig["volumes_mm3"].items():
        if name not in defc["volumes_mm3"]:
            LOGGER.warning("structure %s missing from %s", name, defc_dir)
            continue
        change = overlap.percent_change(volume, defc["volumes_mm3"][name])
        metrics[f"fs_aseg_{_key(name)}_volume_change_pct"] = change
        if volume > 0:
            changes.append(abs(change))
    if changes:
        metrics["fs_aseg_volume_change_abs_mean_pct"] = float(np.mean(changes))
        metrics["fs_aseg_volume_change_abs_max_pct"] = float(np.max(changes))
    for name, value in orig["measures"].items():
        if name in defc["measures"]:
            metrics[f"fs_{_key(name)}_change_pct"] = overlap.percent_change(value, defc["measures"][name])
    return metrics


def _compare_thickness(orig_dir: Path, defc_dir: Path, hemi: str) -> dict[str, float]:
    """Mean thickness of ``hemi`` in both runs, its change, the largest regional change."""
    paths = [d / "stats" / f"{hemi}.aparc.stats" for d in (orig_dir, defc_dir)]
    if not all(p.is_file() for p in paths):
        LOGGER.info("no %s.aparc.stats in both subjects: thickness not compared", hemi)
        return {}
    a, b = (parse_aparc_stats(p) for p in paths)
    mean_a, mean_b = a["measures"]["MeanThickness"], b["measures"]["MeanThickness"]
    metrics = {
        f"fs_{hemi}_mean_thickness_original_mm": mean_a,
        f"fs_{hemi}_mean_thickness_defaced_mm": mean_b,
        f"fs_{hemi}_mean_thickness_change_pct": overlap.percent_change(mean_a, mean_b),
    }
    region_changes = [
        abs(overlap.percent_change(th, b["thickness_mm"][name]))
        for name, th in a["thickness_mm"].items()
        if name in b["thickness_mm"] and th > 0
    ]
    if region_changes:
        metrics[f"fs_{hemi}_thickness_change_abs_max_pct"] = float(max(region_changes))
    return metrics


def _compare_cnr(orig_dir: Path, defc_dir: Path) -> dict[str, float]:
    """Gray/white CNR of both runs and its change, when both have a CNR source."""
    cnr_orig, cnr_defc = subject_cnr(orig_dir), subject_cnr(defc_dir)
    if cnr_orig is None or cnr_defc is None:
        return {}
    return {
        "fs_cnr_original": cnr_orig,
        "fs_cnr_defaced": cnr_defc,
        "fs_cnr_change_pct": overlap.percent_change(cnr_orig, cnr_defc),
    }


def compare_freesurfer(orig_subject_dir: str | os.PathLike, defaced_subject_dir: str | os.PathLike) -> dict[str, float]:
    """Compare the FreeSurfer outputs of the original and the defaced image.

    Parameters
    ----------
    orig_subject_dir, defaced_subject_dir : path-like
        ``$SUBJECTS_DIR/<subject>`` of each run; ``stats/aseg.stats`` is required,
        ``stats/?h.aparc.stats`` and the CNR sources are optional.

    Returns
    -------
    dict of str to float
        Flat record: ``fs_aseg_<Structure>_volume_change_pct`` for every structure in
        both files, ``fs_aseg_volume_change_abs_mean_pct`` / ``..._abs_max_pct`` over
        structures with a non-zero original volume, ``fs_<Measure>_change_pct`` for
        every shared aseg measure (``BrainSegVol``, ``eTIV``, ...),
        ``fs_{lh,rh}_mean_thickness_{original,defaced}_mm`` and ``..._change_pct``,
        ``fs_{lh,rh}_thickness_change_abs_max_pct`` over regions, and
        ``fs_cnr_original``, ``fs_cnr_defaced``, ``fs_cnr_change_pct`` when available.
    """
    orig_dir, defc_dir = Path(orig_subject_dir), Path(defaced_subject_dir)
    orig = parse_aseg_stats(orig_dir / "stats" / "aseg.stats")
    defc = parse_aseg_stats(defc_dir / "stats" / "aseg.stats")
    metrics = _compare_aseg(orig, defc, defc_dir)
    for hemi in ("lh", "rh"):
        metrics.update(_compare_thickness(orig_dir, defc_dir, hemi))
    metrics.update(_compare_cnr(orig_dir, defc_dir))
    return metrics


def evaluate_freesurfer(
    metrics: dict[str, float],
    max_volume_change_pct: float = 5.0,
    max_thickness_change_pct: float = 5.0,
) -> tuple[bool, list[str]]:
    """Check a :func:`compare_freesurfer` record against limits.

    Parameters
    ----------
    metrics : dict
        A record from :func:`compare_freesurfer` (``fs_*`` keys).
    max_volume_change_pct : float
        Limit on ``fs_aseg_volume_change_abs_mean_pct``, the mean absolute volume change
        over the aseg structures; default 5 %.
    max_thickness_change_pct : float
        Limit on the absolute ``fs_{lh,rh}_mean_thickness_change_pct``, the change of each
        hemisphere's mean cortical thickness; default 5 %.

    Returns
    -------
    tuple of (bool, list of str)
        Whether every check passed, and one human-readable reason per failure. As in
        :func:`bids_deface.methods.impact.metrics.evaluate_impact`, a missing or non-finite
        metric fails its check (e.g. no ``?h.aparc.stats`` after an incomplete run).
    """
    checks = [("fs_aseg_volume_change_abs_mean_pct", max_volume_change_pct, "absmax")]
    checks += [(f"fs_{hemi}_mean_thickness_change_pct", max_thickness_change_pct, "absmax") for hemi in ("lh", "rh")]
    reasons = check_limits(metrics, checks)
    return not reasons, reasons
