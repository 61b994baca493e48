"""Template heads and the template-space masks that bids_deface defaces with.

The only template so far is ``pydeface``: the mean T1w head shipped in the
`pydeface <https://github.com/poldracklab/pydeface>`_ package (MIT licence),
loaded from the installed package at run time (it is not copied into this
repository), plus masks made on its grid by :mod:`bids_deface.data.make_masks`
and stored in ``bids_deface/data/tpl-pydeface/``:

* ``brain_mask``: the intracranial volume (brain + CSF, down to the foramen
  magnum); never to be removed.
* ``face_mask``: 1 = remove (eyes, nose, mouth, chin, cheeks and the air in
  front of them).
* ``ears_mask``: 1 = remove (both pinnae and the air around them).
* ``features``: a discrete segmentation of the skin of each facial feature,
  used to check that no feature survives defacing.

Everything works offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np

LOGGER = logging.getLogger(__name__)

#: Labels of ``tpl-pydeface_desc-features_dseg.nii.gz`` (also in the ``_dseg.tsv``).
FEATURE_LABELS: dict[int, str] = {
    1: "eyes",
    2: "nose",
    3: "mouth",
    4: "chin",
    5: "cheeks",
    6: "ear_left",
    7: "ear_right",
}

_PYDEFACE_CITATION = (
    "Head template: the mean T1w head (mean_reg2mean.nii.gz) distributed with "
    "PyDeface (Poldrack lab, https://github.com/poldracklab/pydeface, MIT "
    "licence; cite the Zenodo DOI given in its README). Brain mask: the "
    "MNI ICBM 2009a nonlinear symmetric brain (Fonov VS et al., NeuroImage "
    "2011;54(1):313-327; Fonov VS et al., NeuroImage 2009;47:S102), as shipped "
    "by nilearn, registered to that head with ANTs (Avants BB et al., Med Image "
    "Anal 2008;12(1):26-41). Face, ear and feature masks: drawn on that head "
    "by bids_deface/data/make_masks.py."
)


@dataclass(frozen=True)
class Template:
    """A head template and its masks (all on the head's voxel grid).

    Attributes
    ----------
    name : str
        Template identifier (e.g. ``"pydeface"``).
    head : Path
        T1w-contrast head with a face.
    brain_mask : Path
        Intracranial mask (brain + CSF), uint8 0/1.
    face_mask : Path
        Face removal mask, 1 = remove.
    ears_mask : Path
        Ear removal mask, 1 = remove.
    features : Path
        Discrete segmentation of facial-feature skin, labels in
        ``features_labels``.
    features_labels : dict[int, str]
        Label value -> feature name.
    citation : str
        How to cite the template and where each part comes from.
    """

    name: str
    head: Path
    brain_mask: Path
    face_mask: Path
    ears_mask: Path
    features: Path
    features_labels: dict[int, str] = field(default_factory=lambda: dict(FEATURE_LABELS))
    citation: str = ""


def _resource_path(package: str, *parts: str) -> Path:
    """Return the filesystem path of a packaged data file.

    Parameters
    ----------
    package : str
        Importable package holding the file.
    *parts : str
        Path components below the package directory.

    Returns
    -------
    Path
        The file's path.

    Raises
    ------
    FileNotFoundError
        If the package is not installed or the file is missing from it.
    """
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(f"Package {package!r} is not installed; it is needed for {'/'.join(parts)}") from exc
    path = Path(os.fspath(root.joinpath(*parts)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: packaged data file is missing (package {package!r})")
    return path


def _pydeface() -> Template:
    """Build the ``pydeface`` template record."""
    ours = ("tpl-pydeface",)
    return Template(
        name="pydeface",
        head=_resource_path("pydeface", "data", "mean_reg2mean.nii.gz"),
        brain_mask=_resource_path(__package__, *ours, "tpl-pydeface_desc-brain_mask.nii.gz"),
        face_mask=_resource_path(__package__, *ours, "tpl-pydeface_desc-face_mask.nii.gz"),
        ears_mask=_resource_path(__package__, *ours, "tpl-pydeface_desc-ears_mask.nii.gz"),
        features=_resource_path(__package__, *ours, "tpl-pydeface_desc-features_dseg.nii.gz"),
        features_labels=dict(FEATURE_LABELS),
        citation=_PYDEFACE_CITATION,
    )


_TEMPLATES = {"pydeface": _pydeface}


def list_templates() -> list[str]:
    """Return the names of the known templates, sorted."""
    return sorted(_TEMPLATES)


def get_template(name: str = "pydeface") -> Template:
    """Return the template called ``name``.

    Parameters
    ----------
    name : str
        Template name, one of :func:`list_templates`.

    Returns
    -------
    Template
        Paths of the head and its masks.

    Raises
    ------
    ValueError
        If ``name`` is not a known template.
    FileNotFoundError
        If one of its files is missing from the installation.
    """
    try:
        factory = _TEMPLATES[name]
    except KeyError:
        raise ValueError(f"Unknown template {name!r}; known templates: {', '.join(list_templates())}") from None
    return factory()


def cache_dir() -> Path:
    """Return the user cache directory of bids_deface (not created).

    ``$BIDS_DEFACE_CACHE_DIR`` wins; else ``$XDG_CACHE_HOME/bids_deface``; else
    ``~/.cache/bids_deface``.
    """
    if os.environ.get("BIDS_DEFACE_CACHE_DIR"):
        return Path(os.environ["BIDS_DEFACE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bids_deface"


def resample_isotropic(img: nib.Nifti1Image, res_mm: float) -> nib.Nifti1Image:
    """Resample an image onto an isotropic grid covering the same field of view.

    The voxel axes keep their orientation (so an oblique image stays oblique);
    the image is smoothed first when downsampling, to avoid aliasing.

    Parameters
    ----------
    img : nibabel.Nifti1Image
        3D image.
    res_mm : float
        Voxel size of the output grid, in mm (> 0).

    Returns
    -------
    nibabel.Nifti1Image
        float32 image on the new grid.
    """
    from nibabel.processing import resample_from_to
    from scipy import ndimage as ndi

    if res_mm <= 0:
        raise ValueError(f"res_mm must be > 0, got {res_mm}")
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    shape = np.asarray(img.shape[:3])
    new_shape = np.maximum(1, np.round(shape * zooms / res_mm)).astype(int)
    axes = img.affine[:3, :3] / zooms
    new_aff = np.eye(4)
    new_aff[:3, :3] = axes * res_mm
    # keep the centre of the field of view where it was
    centre = img.affine @ np.r_[(shape - 1) / 2.0, 1.0]
    new_aff[:3, 3] = centre[:3] - new_aff[:3, :3] @ ((new_shape - 1) / 2.0)
    data = np.asanyarray(img.dataobj, dtype=np.float32)
    sigma = np.sqrt(np.clip(res_mm**2 - zooms**2, 0, None)) / 2.3548 / zooms
    if np.any(sigma > 0):
        data = ndi.gaussian_filter(data, sigma)
    src = nib.Nifti1Image(data, img.affine)
    out = resample_from_to(src, (tuple(new_shape), new_aff), order=1, mode="nearest")
    out = nib.Nifti1Image(np.asarray(out.dataobj, dtype=np.float32), new_aff)
    out.set_qform(new_aff, code=1)
    out.set_sform(new_aff, code=1)
    return out


def _file_digest(path: Path) -> str:
    """Return the first 12 hex digits of the SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def get_template_image(name: str = "pydeface", res_mm: float | None = None) -> nib.Nifti1Image:
    """Load a template head, optionally resampled to an isotropic grid.

    Resampled copies are cached under :func:`cache_dir` (keyed on the head's
    content and ``res_mm``) and written atomically, so concurrent processes
    can share the cache.

    Parameters
    ----------
    name : str
        Template name.
    res_mm : float or None
        Isotropic voxel size in mm; ``None`` returns the head as shipped.

    Returns
    -------
    nibabel.Nifti1Image
        The head image.
    """
    tpl = get_template(name)
    if res_mm is None:
        return nib.load(tpl.head)
    res_tag = f"{float(res_mm):g}".replace(".", "p")
    target = cache_dir() / f"tpl-{name}_res-{res_tag}mm_{_file_digest(tpl.head)}_T1w.nii.gz"
    if target.is_file():
        try:
            img = nib.load(target)
            img.get_fdata(dtype=np.float32)  # fail here on a corrupt cache file
            return img
        except (OSError, EOFError, ValueError) as exc:
            LOGGER.warning("Ignoring unreadable cached template %s: %s", target, exc)
    img = resample_isotropic(nib.load(tpl.head), float(res_mm))
    try:
        from ..methods.io import save_image

        save_image(img, target)
        LOGGER.debug("Cached template %s at %s mm in %s", name, res_mm, target)
    except OSError as exc:
        LOGGER.warning("Could not cache the resampled template in %s: %s", target.parent, exc)
    return img
