"""Synthetic head phantoms for tests (no data download, a fraction of a second each).

:func:`make_head` builds an ellipsoidal head in world RAS millimetres, origin near the
head centre: scalp (fat), skull, CSF, grey and white matter, and facial features on the
surface — eyes (globes bulging out of the face under a lid), a nose ridge, lips, chin,
cheeks and both pinnae — with Rician-like background noise and intensity tables for
T1w, T2w, PDw and FLAIR. It also returns the brain mask and a facial-feature label map
(1 eyes, 2 nose, 3 mouth, 4 chin, 5 cheeks, 6 ear_left, 7 ear_right).
:func:`deface_phantom` zeroes chosen features and the air/soft tissue in front of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
from nibabel import orientations as orient

LABELS = {"eyes": 1, "nose": 2, "mouth": 3, "chin": 4, "cheeks": 5, "ear_left": 6, "ear_right": 7}

#: Mean intensity of each tissue per contrast.
CONTRASTS = {
    #         fat  skull  csf   gm   wm  globe  soft
    "T1w": (120, 15, 20, 60, 100, 15, 75),
    "T2w": (80, 10, 200, 110, 70, 200, 60),
    "PDw": (100, 20, 120, 100, 80, 120, 85),
    "FLAIR": (90, 10, 10, 90, 70, 20, 60),
}
NOISE_SIGMA = 3.0
HEAD_AXES = np.array([75.0, 95.0, 110.0])  # semi-axes x (L-R), y (P-A), z (I-S), mm


@dataclass
class PhantomHead:
    """A phantom and its ground truth, all on the image grid."""

    image: nib.Nifti1Image
    brain_mask: np.ndarray
    features: np.ndarray
    labels: dict = field(default_factory=lambda: dict(LABELS))
    _ornt: np.ndarray | None = field(default=None, repr=False)
    _ras_shape: tuple | None = field(default=None, repr=False)


def _ellipsoid(x, y, z, centre, axes) -> np.ndarray:
    cx, cy, cz = centre
    a, b, c = axes
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + ((z - cz) / c) ** 2 <= 1.0


def _face_y(x, z, scale) -> float:
    """y (mm) of the head ellipsoid surface in front at (x, z)."""
    a, b, c = HEAD_AXES * scale
    return float(b * np.sqrt(max(1 - (x / a) ** 2 - (z / c) ** 2, 0.0)))


def make_head(
    *,
    voxel_mm: float | tuple[float, float, float] = 2.0,
    scale: float = 1.0,
    contrast: str = "T1w",
    features: bool = True,
    seed: int = 0,
    affine_codes: str = "RAS",
) -> PhantomHead:
    """Build a synthetic head.

    Parameters
    ----------
    voxel_mm
        Voxel size, one value or three (anisotropic voxels, in RAS order).
    scale
        Linear size relative to an adult head (< 1 for a child).
    contrast
        ``"T1w"``, ``"T2w"``, ``"PDw"`` or ``"FLAIR"``.
    features
        Add eyes, nose, lips, chin, cheeks and ears (else a bare ellipsoid).
    seed
        Noise seed.
    affine_codes
        Voxel-axis orientation, e.g. ``"RAS"``, ``"LPS"``, ``"PIR"``: the same head,
        the array permuted/flipped and the affine updated accordingly.
    """
    if contrast not in CONTRASTS:
        raise ValueError(f"unknown contrast {contrast!r}; choose from {sorted(CONTRASTS)}")
    fat, skull, csf, gm, wm, globe, soft = CONTRASTS[contrast]
    vox = np.broadcast_to(np.asarray(voxel_mm, dtype=float), (3,))
    half = (HEAD_AXES + np.array([25.0, 35.0, 15.0])) * scale
    shape = tuple(int(np.ceil(2 * h / v)) for h, v in zip(half, vox))
    affine = np.diag([*vox, 1.0])
    affine[:3, 3] = -(np.array(shape) - 1) / 2 * vox
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij", sparse=True)
    x, y, z = (affine[0, 0] * i + affine[0, 3], affine[1, 1] * j + affine[1, 3], affine[2, 2] * k + affine[2, 3])

    s = scale
    head = _ellipsoid(x, y, z, (0, 0, 0), HEAD_AXES * s)
    brain_c, brain_ax = (0, -5 * s, 22 * s), np.array([55.0, 72.0, 60.0]) * s
    inner_skull = _ellipsoid(x, y, z, brain_c, brain_ax + 3 * s)
    outer_skull = _ellipsoid(x, y, z, brain_c, brain_ax + 10 * s)
    brain = _ellipsoid(x, y, z, brain_c, brain_ax)
    white = _ellipsoid(x, y, z, brain_c, brain_ax - 4 * s)

    data = np.zeros(shape, dtype=np.float32)
    data[head] = fat
    data[outer_skull & head] = skull
    data[inner_skull] = csf
    data[brain] = gm
    data[white] = wm
    dseg = np.zeros(shape, dtype=np.uint8)
    if features:
        _add_features(data, dseg, x, y, z, s, fat, soft, globe)
    rng = np.random.default_rng(seed)
    noisy = np.sqrt((data + rng.normal(0, NOISE_SIGMA, shape)) ** 2 + rng.normal(0, NOISE_SIGMA, shape) ** 2).astype(
        np.float32
    )
    img = nib.Nifti1Image(noisy, affine)
    img.header.set_xyzt_units("mm", "sec")

    ornt = orient.ornt_transform(orient.axcodes2ornt("RAS"), orient.axcodes2ornt(tuple(affine_codes)))
    out = img.as_reoriented(ornt)
    out.set_qform(out.affine, code=1)
    out.set_sform(out.affine, code=1)
    return PhantomHead(
        image=out,
        brain_mask=orient.apply_orientation(brain, ornt).astype(bool),
        features=orient.apply_orientation(dseg, ornt).astype(np.uint8),
        labels=dict(LABELS),
        _ornt=ornt,
        _ras_shape=shape,
    )


def _add_features(data, dseg, x, y, z, s, fat, soft, globe) -> None:
    """Paint eyes, nose, lips, chin, cheeks and ears (in place, RAS grid)."""
    ax = HEAD_AXES * s
    # cheeks first (others paint over them)
    for sx in (-1, 1):
        c = (sx * 40 * s, _face_y(40 * s, -35 * s, s) - 6 * s, -35 * s)
        region = _ellipsoid(x, y, z, c, np.array([20.0, 12.0, 18.0]) * s)
        data[region] = np.where(data[region] == 0, fat, data[region])
        dseg[_ellipsoid(x, y, z, c, np.array([22.0, 16.0, 20.0]) * s)] = LABELS["cheeks"]
    # eyes: a lid of soft tissue over a globe that bulges out of the face
    for sx in (-1, 1):
        ex, ez = sx * 30 * s, 5 * s
        c = (ex, _face_y(ex, ez, s) - 4 * s, ez)
        data[_ellipsoid(x, y, z, c, np.array([15.0, 14.0, 12.0]) * s)] = soft
        data[_ellipsoid(x, y, z, c, np.array([11.0, 11.0, 11.0]) * s)] = globe
        dseg[_ellipsoid(x, y, z, c, np.array([19.0, 19.0, 16.0]) * s)] = LABELS["eyes"]
    # nose: a ridge growing from the brow to a tip
    fy = _face_y(0, -20 * s, s)
    for t in np.linspace(0, 1, 12):
        zc, out = (-5 - 35 * t) * s, (4 + 20 * t) * s
        c = (0, fy + out - 8 * s, zc)
        data[_ellipsoid(x, y, z, c, np.array([6 + 8 * t, 8, 6]) * s)] = soft
        dseg[_ellipsoid(x, y, z, c, np.array([10 + 8 * t, 12, 8]) * s)] = LABELS["nose"]
    # lips and chin
    for zc in (-55 * s, -66 * s):
        c = (0, _face_y(0, zc, s) + 2 * s, zc)
        data[_ellipsoid(x, y, z, c, np.array([24.0, 9.0, 5.0]) * s)] = soft
    mouth_c = (0, _face_y(0, -60 * s, s), -60 * s)
    dseg[_ellipsoid(x, y, z, mouth_c, np.array([30.0, 16.0, 14.0]) * s)] = LABELS["mouth"]
    chin_c = (0, _face_y(0, -88 * s, s), -88 * s)
    data[_ellipsoid(x, y, z, chin_c, np.array([22.0, 12.0, 12.0]) * s)] = fat
    dseg[_ellipsoid(x, y, z, chin_c, np.array([26.0, 17.0, 14.0]) * s)] = LABELS["chin"]
    # pinnae: plates standing off both sides of the head
    for sx, name in ((-1, "ear_left"), (1, "ear_right")):
        c = (sx * (ax[0] + 3 * s), -10 * s, 0)
        data[_ellipsoid(x, y, z, c, np.array([7.0, 15.0, 28.0]) * s)] = soft
        dseg[_ellipsoid(x, y, z, c, np.array([12.0, 19.0, 32.0]) * s)] = LABELS[name]
    # the label map only makes sense on and near the head
    dseg[data == 0] = 0


def deface_phantom(ph: PhantomHead, remove=("eyes", "nose", "mouth", "chin", "cheeks")) -> nib.Nifti1Image:
    """Zero the named features and everything in front of them (outward).

    Face features are swept toward anterior, ears outward to the side, so that a
    partial deface (say ``remove=("mouth",)``) leaves the other features untouched.
    """
    unknown = set(remove) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown feature(s) {sorted(unknown)}")
    back = orient.ornt_transform(orient.axcodes2ornt(nib.aff2axcodes(ph.image.affine)), orient.axcodes2ornt("RAS"))
    data = np.array(ph.image.dataobj, dtype=np.float32)  # a copy: never touch ph
    data_ras = orient.apply_orientation(data, back)
    dseg_ras = orient.apply_orientation(ph.features, back)
    cut = np.zeros(data_ras.shape, dtype=bool)
    for name in remove:
        region = dseg_ras == LABELS[name]
        if name == "ear_left":
            cut |= np.flip(np.maximum.accumulate(np.flip(region, 0), axis=0), 0)  # toward -x
        elif name == "ear_right":
            cut |= np.maximum.accumulate(region, axis=0)  # toward +x
        else:
            cut |= np.maximum.accumulate(region, axis=1)  # toward +y (anterior)
    data_ras[cut] = 0
    out = orient.apply_orientation(
        data_ras,
        orient.ornt_transform(orient.axcodes2ornt("RAS"), orient.axcodes2ornt(nib.aff2axcodes(ph.image.affine))),
    )
    return nib.Nifti1Image(out.astype(np.float32), ph.image.affine, ph.image.header)


def pydeface_data(name: str = "mean_reg2mean.nii.gz"):
    """Path of a file shipped in the ``pydeface`` package's data folder."""
    from pathlib import Path

    import pydeface

    return Path(pydeface.__file__).parent / "data" / name


def template_head(voxel_mm: float = 2.0, name: str = "mean_reg2mean.nii.gz") -> nib.Nifti1Image:
    """The pydeface template head (a real face) resampled to ``voxel_mm`` (linear)."""
    from scipy import ndimage

    img = nib.load(pydeface_data(name))
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    factor = zooms / voxel_mm
    data = ndimage.zoom(np.asarray(img.dataobj, dtype=np.float32), factor, order=1)
    affine = img.affine.copy()
    affine[:3, :3] = img.affine[:3, :3] @ np.diag(1 / factor)
    return nib.Nifti1Image(data, affine)
