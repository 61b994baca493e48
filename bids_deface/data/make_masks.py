"""Make the template-space masks of bids_deface from the pydeface head.

Run ``python -m bids_deface.data.make_masks [--out DIR] [--qc DIR]``. The output is
deterministic: ANTs runs single-threaded with a fixed seed, everything else is
plain numpy/scipy arithmetic.

How each mask is made (all on the grid of pydeface's ``mean_reg2mean.nii.gz``,
RAS world coordinates in mm, x = right, y = anterior, z = superior):

* **head**: the head smoothed (sigma 2 voxels) above 80, largest component,
  closed and hole-filled. The smoothing + threshold drops a faint goggles-like
  frame that floats ~20 mm in front of the eyes in the mean image.
* **brain** (intracranial volume incl. CSF): nilearn's MNI152 2009a brain
  (non-zero voxels of the T1) is wrapped in a synthetic dark skull/CSF ring
  (0-6 mm) and a bright scalp (6-12 mm), affinely registered to the head on
  a 2 mm copy (metric restricted to the cranial vault), warped to the 1 mm
  grid, thresholded at 0.5, hole-filled, closed, cut below the foramen magnum
  plane and below the anterior cranial fossa floor. (SyN shrank the brain on
  this blurry mean head, see brain_mask.)
* **face** (1 = remove): everything anterior to a smooth cut surface
  ``y > max(FACE_CUT_Y - FACE_CUT_CURV * x**2, floor(z))`` and below
  ``FACE_TOP_Z`` (just above the eyebrows), up to the grid edges, minus the brain
  dilated by ``BRAIN_MARGIN_MM``. The surface is smooth so that what remains
  shows no facial relief.
* **ears** (1 = remove): for each side, an ellipse around the pinna in the
  (y, z) plane grown by ``EAR_MARGIN_MM``; inside it, everything lateral of the
  scalp (a quadratic surface fitted to the side of the head around the ear,
  ear excluded), up to the grid edge; minus the brain dilated by ``BRAIN_MARGIN_MM``.
* **features** (dseg): the skin shell (head voxels within ``SKIN_MM`` of the
  outside) inside landmark regions: ellipses/polygons in the frontal (x, z)
  projection for the face, keeping only the front-facing skin (within
  ``FRONT_MM`` of the most anterior head voxel of that column); for the ears,
  the pinna (head lateral of the fitted scalp surface + 1 mm, in the ellipse).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from bids_deface.data.templates import FEATURE_LABELS, resample_isotropic
from bids_deface.methods.io import save_image

LOGGER = logging.getLogger(__name__)
SEED = 42
OUT_DIR = Path(__file__).parent / "tpl-pydeface"
MNI_T1 = ("nilearn.datasets", "data", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")

HEAD_SIGMA_VOX, HEAD_THRESHOLD = 2.0, 80.0
SKIN_MM, FRONT_MM = 4.0, 12.0
BRAIN_MARGIN_MM = 6.0
# Cranial vault for the affine metric: head above z = VAULT_Z0 + VAULT_SLOPE * y
# (a plane under the posterior fossa rising to the orbital roofs).
VAULT_Z0, VAULT_SLOPE = -57.0, 0.4
# Foramen magnum: a plane through basion and opisthion (mm, template world);
# the intracranial mask is cut below it.
BASION = (0.0, -10.0, -74.0)
OPISTHION = (0.0, -50.0, -78.0)
# Anterior cranial fossa floor (orbital roofs, cribriform plate): nothing
# intracranial lies at z < ACF_Z in front of y = ACF_Y (the affine fit of the MNI
# brain sags ~1 cm into the orbits and ethmoid there).
ACF_Y, ACF_Z = 45.0, -23.0
# Face cut surface: y = max(FACE_CUT_Y - FACE_CUT_CURV * x**2, floor(z)), with
# floor(z) = FACE_FLOOR_Y + FACE_FLOOR_SLOPE * (z - FACE_TOP_Z): a plane rising
# from the jaw angles (y ~ 15 at z = -110) to the temples (y = 50 at the top).
FACE_CUT_Y, FACE_CUT_CURV, FACE_TOP_Z = 68.0, 0.012, -12.0
FACE_FLOOR_Y, FACE_FLOOR_SLOPE = 50.0, 0.357
EAR_MARGIN_MM = 10.0
# Ears: centre (y, z), semi-axes (along the pinna's long axis, across), tilt of
# the long axis from vertical (degrees, + = top tilted posteriorly), side.
EARS = {
    6: {"centre": (-6.5, -47.0), "axes": (33.0, 18.0), "tilt": 12.0, "side": "left"},
    7: {"centre": (-15.0, -48.5), "axes": (33.0, 18.0), "tilt": 12.0, "side": "right"},
}
# Face features in the frontal (x, z) projection: ellipses (centre, semi-axes) or
# polygons; earlier entries win where regions overlap.
FACE_FEATURES = [
    (2, "polygon", [(-7.0, -27.0), (7.0, -27.0), (18.0, -74.0), (12.0, -79.0), (-12.0, -79.0), (-18.0, -74.0)]),
    (1, "ellipse", ((-26.0, -32.0), (13.0, 8.0))),
    (1, "ellipse", ((24.0, -32.0), (13.0, 8.0))),
    (3, "ellipse", ((0.0, -89.0), (22.0, 7.0))),
    (4, "ellipse", ((0.0, -104.0), (20.0, 6.0))),
    (5, "ellipse", ((-40.0, -60.0), (13.0, 17.0))),
    (5, "ellipse", ((38.0, -60.0), (13.0, 17.0))),
]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Return the largest 6-connected component of a boolean mask."""
    lab, n = ndi.label(mask)
    if n == 0:
        raise ValueError("mask is empty")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == sizes.argmax()


def head_mask(data: np.ndarray) -> np.ndarray:
    """Solid head mask of the pydeface mean head (see module docstring)."""
    raw = _largest_component(ndi.gaussian_filter(data.astype(np.float32), HEAD_SIGMA_VOX) > HEAD_THRESHOLD)
    solid = ndi.binary_fill_holes(ndi.binary_closing(raw, iterations=3) | raw)
    for k in range(solid.shape[2]):  # the airway is open at the bottom of the grid
        solid[:, :, k] = ndi.binary_fill_holes(solid[:, :, k])
    return solid


def world_grid(affine: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """World (x, y, z) mm coordinates of every voxel, as float32 arrays."""
    ijk = np.indices(shape[:3], dtype=np.float32)
    return tuple(
        (affine[r, 0] * ijk[0] + affine[r, 1] * ijk[1] + affine[r, 2] * ijk[2] + affine[r, 3]).astype(np.float32)
        for r in range(3)
    )


def _dilate_mm(mask: np.ndarray, mm: float, zooms) -> np.ndarray:
    """Dilate a mask by a Euclidean distance in mm."""
    return ndi.distance_transform_edt(~mask, sampling=zooms) <= mm


def _mni_pseudohead(out_dir: Path) -> tuple[Path, Path]:
    """Write the MNI brain wrapped in a synthetic skull and scalp, and its brain mask."""
    from importlib import resources

    mni = nib.load(os.fspath(resources.files(MNI_T1[0]).joinpath(*MNI_T1[1:])))
    t1 = np.asarray(mni.dataobj, dtype=np.float32)
    pad = 20
    brain = np.pad(ndi.binary_fill_holes(t1 > 0), pad)
    head = np.pad(t1, pad)
    dist = ndi.distance_transform_edt(~brain, sampling=mni.header.get_zooms()[:3])
    wm = float(np.percentile(t1[t1 > 0], 90))
    head[(dist > 0) & (dist <= 6)] = 0.1 * wm
    head[(dist > 6) & (dist <= 12)] = 1.3 * wm
    aff = mni.affine.copy()
    aff[:3, 3] -= aff[:3, :3] @ np.full(3, pad)
    paths = out_dir / "mni_pseudohead.nii.gz", out_dir / "mni_brain.nii.gz"
    nib.Nifti1Image(head, aff).to_filename(paths[0])
    nib.Nifti1Image(brain.astype(np.float32), aff).to_filename(paths[1])
    return paths


def brain_mask(head_img: nib.Nifti1Image, head: np.ndarray, world: tuple[np.ndarray, ...]) -> np.ndarray:
    """Intracranial mask (brain + CSF) on the head grid, by MNI-to-head registration."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = "1"
    import ants
    from ants import config as ants_config

    ants_config.set_ants_deterministic(True, SEED)
    with tempfile.TemporaryDirectory(prefix="make_masks_") as tmp:
        tmp = Path(tmp)
        pseudo, mni_brain = _mni_pseudohead(tmp)
        _, y, z = world
        # cranial vault: head above a plane under the posterior fossa and the orbits
        vault = head & (z > VAULT_Z0 + VAULT_SLOPE * y)
        head_img.to_filename(tmp / "head.nii.gz")
        resample_isotropic(head_img, 2.0).to_filename(tmp / "head2.nii.gz")
        nib.Nifti1Image(vault.astype(np.float32), head_img.affine).to_filename(tmp / "vault.nii.gz")
        fixed = ants.image_read(str(tmp / "head.nii.gz"), pixeltype="float")
        fixed2 = ants.image_read(str(tmp / "head2.nii.gz"), pixeltype="float")
        vault2 = ants.resample_image_to_target(
            ants.image_read(str(tmp / "vault.nii.gz")), fixed2, interp_type="linear"
        ).threshold_image(0.5, 2)
        moving = ants.image_read(str(pseudo), pixeltype="float")
        moving2 = ants.resample_image(moving, (2, 2, 2), use_voxels=False, interp_type=0)
        # NB: this affine is sensitive to the metric's random sampling; seed 42 gives
        # the fit checked visually (others sag or shrink the brain by 10-30 %).
        aff = ants.registration(fixed2, moving2, "Affine", mask=vault2, mask_all_stages=True)
        LOGGER.info("affine MNI -> head done")
        brain_img = ants.image_read(str(mni_brain), pixeltype="float")
        # A SyN refinement was tried (CC, 2 mm, metric mask = brain + 6 mm or brain
        # - 3 mm): on this blurry mean head it shrank the brain by 20-30 %, so the
        # affine result is kept and corrected by the anatomical cuts below.
        prob = ants.apply_transforms(fixed, brain_img, aff["fwdtransforms"]).numpy()
    mask = ndi.binary_fill_holes(prob > 0.5)
    mask = ndi.binary_closing(mask, iterations=2, border_value=0) | mask
    mask = ndi.binary_fill_holes(mask) & head
    mask &= _above_plane(world, BASION, OPISTHION)
    _, y, z = world
    mask &= ~((y > ACF_Y) & (z < ACF_Z))  # below the anterior cranial fossa floor
    return _largest_component(mask)


def _above_plane(world, p1, p2) -> np.ndarray:
    """Voxels above the transverse plane through p1 and p2 (both with the same x)."""
    _, y, z = world
    slope = (p2[2] - p1[2]) / (p2[1] - p1[1])
    return z >= p1[2] + slope * (y - p1[1])


def face_mask(head: np.ndarray, brain: np.ndarray, world, zooms) -> np.ndarray:
    """Face removal mask: anterior of a smooth cut surface, away from the brain."""
    x, y, z = world
    floor = FACE_FLOOR_Y + FACE_FLOOR_SLOPE * (z - FACE_TOP_Z)
    cut = np.maximum(FACE_CUT_Y - FACE_CUT_CURV * x**2, floor)
    region = (y > cut) & (z < FACE_TOP_Z)
    return region & ~_dilate_mm(brain, BRAIN_MARGIN_MM, zooms)


def _ellipse(u, v, centre, axes, tilt_deg: float = 0.0) -> np.ndarray:
    """Points (u, v) inside an ellipse; ``axes`` = (semi-axis along v, along u) when tilted."""
    t = np.deg2rad(tilt_deg)
    du, dv = u - centre[0], v - centre[1]
    along = dv * np.cos(t) - du * np.sin(t)  # long axis, vertical when tilt = 0
    across = dv * np.sin(t) + du * np.cos(t)
    return (along / axes[0]) ** 2 + (across / axes[1]) ** 2 <= 1.0


def _polygon(u, v, vertices) -> np.ndarray:
    """Points (u, v) inside a polygon (even-odd rule)."""
    from matplotlib.path import Path as MplPath

    pts = np.column_stack([np.ravel(u), np.ravel(v)])
    return MplPath(vertices).contains_points(pts).reshape(np.shape(u))


def _lateral_surface(head: np.ndarray, world, ear: dict) -> np.ndarray:
    """Fitted scalp surface under one pinna: x_scalp(y, z) per (j, k) column.

    The outermost head voxel of each (j, k) column on the ear's side is taken in a
    ring 5-25 mm outside the pinna ellipse, and a quadratic surface in (y, z) is
    fitted to its x by least squares.
    """
    x, y, z = world
    left = ear["side"] == "left"
    has = head.any(axis=0)
    idx = np.argmax(head, axis=0) if left else head.shape[0] - 1 - np.argmax(head[::-1], axis=0)
    j, k = np.indices(has.shape)
    xs, ys, zs = x[idx, j, k], y[idx, j, k], z[idx, j, k]
    outer = _ellipse(ys, zs, ear["centre"], (ear["axes"][0] + 25, ear["axes"][1] + 25), ear["tilt"])
    inner = _ellipse(ys, zs, ear["centre"], (ear["axes"][0] + 5, ear["axes"][1] + 5), ear["tilt"])
    ring = has & outer & ~inner
    yc, zc = ys - ear["centre"][0], zs - ear["centre"][1]

    def design(a, b):
        return np.column_stack([np.ones_like(a), a, b, a * a, a * b, b * b])

    coef, *_ = np.linalg.lstsq(design(yc[ring], zc[ring]), xs[ring], rcond=None)
    LOGGER.info(
        "%s ear: scalp fit rms %.1f mm on %d columns",
        ear["side"],
        float(np.std(design(yc[ring], zc[ring]) @ coef - xs[ring])),
        int(ring.sum()),
    )
    yv, zv = y - ear["centre"][0], z - ear["centre"][1]
    return (design(yv.ravel(), zv.ravel()) @ coef).reshape(y.shape).astype(np.float32)


def ears_and_pinnae(head: np.ndarray, brain: np.ndarray, world, zooms) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Ear removal mask (both sides) and the pinna of each ear (label -> mask)."""
    x, y, z = world
    remove = np.zeros(head.shape, bool)
    pinnae = {}
    keep = _dilate_mm(brain, BRAIN_MARGIN_MM, zooms)
    for label, ear in EARS.items():
        scalp = _lateral_surface(head, world, ear)
        sign = -1.0 if ear["side"] == "left" else 1.0
        lateral = sign * (x - scalp)  # > 0 outside the fitted scalp
        grown = (ear["axes"][0] + EAR_MARGIN_MM, ear["axes"][1] + EAR_MARGIN_MM)
        remove |= _ellipse(y, z, ear["centre"], grown, ear["tilt"]) & (lateral > 0) & ~keep
        pinnae[label] = head & _ellipse(y, z, ear["centre"], ear["axes"], ear["tilt"]) & (lateral > 1.0)
    return remove, pinnae


def features_dseg(head: np.ndarray, pinnae: dict[int, np.ndarray], world, zooms) -> np.ndarray:
    """Discrete segmentation of the skin of each facial feature (see FEATURE_LABELS)."""
    x, y, z = world
    outside = ~head
    shell = head & (ndi.distance_transform_edt(~outside, sampling=zooms) <= SKIN_MM)
    # most anterior head y of each (i, k) column, broadcast along j
    has = head.any(axis=1)
    jmax = head.shape[1] - 1 - np.argmax(head[:, ::-1, :], axis=1)
    i, k = np.indices(has.shape)
    y_front = np.where(has, y[i, jmax, k], np.inf)[:, None, :]
    front_skin = shell & (y >= y_front - FRONT_MM)
    dseg = np.zeros(head.shape, np.uint8)
    for label, kind, spec in FACE_FEATURES:
        if kind == "ellipse":
            region = _ellipse(x, z, spec[0], (spec[1][1], spec[1][0]))
        else:
            region = _polygon(x, z, spec)
        dseg[front_skin & region & (dseg == 0)] = label
    for label, pinna in pinnae.items():
        dseg[pinna & shell & (dseg == 0)] = label
    return dseg


def _save(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """Write a uint8 NIfTI (gzip) atomically."""
    img = nib.Nifti1Image(data.astype(np.uint8), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_data_dtype(np.uint8)
    img.header["descrip"] = b"bids_deface make_masks"
    save_image(img, path)


def make_all(out_dir: Path = OUT_DIR, qc_dir: Path | None = None) -> dict[str, float]:
    """Make every mask, write them to ``out_dir``; return their volumes in ml."""
    from importlib import resources

    head_img = nib.load(os.fspath(resources.files("pydeface").joinpath("data", "mean_reg2mean.nii.gz")))
    data = np.asarray(head_img.dataobj, dtype=np.float32)
    zooms = tuple(float(v) for v in head_img.header.get_zooms()[:3])
    world = world_grid(head_img.affine, data.shape)
    head = head_mask(data)
    brain = brain_mask(head_img, head, world)
    face = face_mask(head, brain, world, zooms)
    ears, pinnae = ears_and_pinnae(head, brain, world, zooms)
    dseg = features_dseg(head, pinnae, world, zooms)
    # only real tissue: not the gaps that closing the head mask bridged
    dseg[ndi.gaussian_filter(data, HEAD_SIGMA_VOX) <= HEAD_THRESHOLD] = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    masks = {"brain": brain, "face": face, "ears": ears}
    for desc, mask in masks.items():
        _save(mask, head_img.affine, out_dir / f"tpl-pydeface_desc-{desc}_mask.nii.gz")
    _save(dseg, head_img.affine, out_dir / "tpl-pydeface_desc-features_dseg.nii.gz")
    tsv = "index\tname\n" + "".join(f"{k}\t{v}\n" for k, v in FEATURE_LABELS.items())
    (out_dir / "tpl-pydeface_desc-features_dseg.tsv").write_text(tsv)
    voxel_ml = float(np.prod(zooms)) / 1000.0
    volumes = {name: float(m.sum()) * voxel_ml for name, m in {"head": head, **masks}.items()}
    volumes.update({FEATURE_LABELS[lab]: float((dseg == lab).sum()) * voxel_ml for lab in FEATURE_LABELS})
    if qc_dir is not None:
        from bids_deface.data import make_masks_qc

        make_masks_qc.write_qc(data, head, masks, dseg, world, Path(qc_dir))
    return volumes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: packaged data)")
    parser.add_argument("--qc", type=Path, default=None, help="write QC PNGs to this folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name, ml in make_all(args.out, args.qc).items():
        LOGGER.info("%-10s %9.1f ml", name, ml)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
