"""A small demo BIDS dataset made at run time from packaged data (no download, no ../shared).

The heads are the pydeface mean head (a real face), moved, scaled and re-contrasted so
that the demo exercises what matters: another orientation, a child-sized head, a T2w
contrast on a thick-slice grid defaced through the session's T1w, and a T2w-only
participant with an oblique acquisition. The sidecars carry synthetic identifying
fields for the metadata scrubbing.

    python -m bids_deface.data.demo /tmp/demo_bids
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

LOGGER = logging.getLogger(__name__)

_SIDECAR = {
    "Manufacturer": "Siemens",
    "ManufacturersModelName": "Prisma_fit",
    "MagneticFieldStrength": 3,
    "RepetitionTime": 2.3,
    "EchoTime": 0.00232,
    "FlipAngle": 8,
    "InstitutionName": "Demo University Hospital",
    "InstitutionAddress": "1 Example Road, Springfield",
    "StationName": "DEMO-MR-01",
    "DeviceSerialNumber": "167012",
    "AcquisitionDateTime": "2024-03-05T09:41:12.500000",
    "ProcedureStepDescription": "Head^Research demo",
}


@dataclass(frozen=True)
class DemoImage:
    relpath: str
    scale: float = 1.0
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    voxel_mm: tuple[float, float, float] = (1.5, 1.5, 1.5)
    axcodes: str = "RAS"
    contrast: str = "T1w"


DEMO_IMAGES = (
    DemoImage("sub-01/anat/sub-01_T1w.nii.gz"),
    DemoImage("sub-02/ses-01/anat/sub-02_ses-01_T1w.nii.gz", scale=0.8, rotation_deg=(8, 0, 5), axcodes="LPI"),
    DemoImage(
        "sub-02/ses-01/anat/sub-02_ses-01_T2w.nii.gz",
        scale=0.8,
        rotation_deg=(8, 0, 5),
        voxel_mm=(1.2, 1.2, 3.0),
        axcodes="PSR",
        contrast="T2w",
    ),
    DemoImage(
        "sub-03/anat/sub-03_T2w.nii.gz", scale=1.05, rotation_deg=(-20, 0, 0), voxel_mm=(1.5, 1.5, 2.0), contrast="T2w"
    ),
)


def _template():
    from importlib.resources import files

    return nib.load(str(files("pydeface") / "data" / "mean_reg2mean.nii.gz"))


def _rotation(degrees) -> np.ndarray:
    rx, ry, rz = np.deg2rad(degrees)
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return z @ y @ x


def _grid(axcodes: str, voxel_mm, extent_mm=(180.0, 240.0, 240.0), center=(0.0, 0.0, 10.0)):
    """A voxel grid with the given axis codes covering ``extent_mm`` (R, A, S) around ``center``."""
    axes = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    affine = np.zeros((4, 4))
    affine[3, 3] = 1
    shape = []
    for i, code in enumerate(axcodes):
        world_axis, sign = axes[code]
        affine[world_axis, i] = sign * voxel_mm[i]
        shape.append(int(round(extent_mm[world_axis] / voxel_mm[i])))
    corner = np.asarray(center) - affine[:3, :3] @ (np.asarray(shape) - 1) / 2.0
    affine[:3, 3] = corner
    return tuple(shape), affine


def make_head(spec: DemoImage, template: nib.Nifti1Image, rng: np.random.Generator) -> nib.Nifti1Image:
    """Resample the template head through a similarity transform onto the spec's grid."""
    data = np.asanyarray(template.dataobj, dtype=np.float32)
    shape, affine = _grid(spec.axcodes, spec.voxel_mm)
    head_center = template.affine @ np.r_[(np.asarray(data.shape) - 1) / 2.0, 1.0]
    # world(image) -> world(template): undo the rotation and the scale around the head centre
    linear = _rotation(spec.rotation_deg) * spec.scale
    to_template = np.eye(4)
    to_template[:3, :3] = np.linalg.inv(linear)
    to_template[:3, 3] = head_center[:3] - to_template[:3, :3] @ np.array([0.0, 0.0, 10.0])
    vox = np.linalg.inv(template.affine) @ to_template @ affine
    out = ndi.affine_transform(data, vox[:3, :3], vox[:3, 3], output_shape=shape, order=1, cval=0.0)
    if spec.contrast == "T2w":
        head = ndi.binary_fill_holes(ndi.binary_closing(out > 0.15 * out.max(), iterations=3))
        out = np.where(head, np.clip(1.15 * out.max() - out, 0, None), 0.0)
        out = ndi.gaussian_filter(out, 0.6)
    out = out + np.abs(rng.normal(0.0, 0.01 * out.max(), size=out.shape))  # a noise floor, as in MRI
    scaled = np.clip(out / out.max() * 3000, 0, 32767).astype(np.int16)
    img = nib.Nifti1Image(scaled, affine)
    img.set_qform(affine, 1)
    img.set_sform(affine, 1)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"demo 2024-03-05 09:41"
    return img


def make_demo_dataset(root: Path, *, overwrite: bool = False) -> Path:
    """Write the demo dataset under ``root`` and return it."""
    root = Path(root)
    if (root / "dataset_description.json").exists() and not overwrite:
        LOGGER.info("%s: demo dataset exists", root)
        return root
    template = _template()
    rng = np.random.default_rng(20240305)
    for spec in DEMO_IMAGES:
        path = root / spec.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        make_head(spec, template, rng).to_filename(path)
        sidecar = dict(_SIDECAR)
        if spec.contrast == "T2w":
            sidecar.update({"RepetitionTime": 3.2, "EchoTime": 0.408, "FlipAngle": 120})
        path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar, indent=2))
    (root / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "bids_deface demo (pydeface mean head, transformed)",
                "BIDSVersion": "1.10.0",
                "DatasetType": "raw",
                "License": "MIT (pydeface template)",
            },
            indent=2,
        )
    )
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t34\nsub-02\t9\nsub-03\t71\n")
    (root / "README").write_text("Demo dataset made by bids_deface.data.demo from the pydeface mean head.\n")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    make_demo_dataset(args.root, overwrite=args.overwrite)
    LOGGER.info("demo dataset written to %s", args.root)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
