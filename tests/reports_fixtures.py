"""Fabricated bids_deface outputs for the report tests (no pipeline run needed).

A small head (the pydeface mean head at 4 mm), its defaced copy and removal mask, render
PNGs, and a derivatives folder with metrics records and reportlets named as the
workflow names them.
"""

from __future__ import annotations

import json
import shutil
import zlib
from importlib.resources import files
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_deface.methods.record import finalise_record

#: (subject, session, suffix) of the fabricated images.
IMAGES = (("01", "01", "T1w"), ("01", "01", "T2w"), ("02", "", "T1w"))
VIEWS = ("yaw-m30", "yaw-000", "yaw-030")
XSS = "<script>alert(1)</script>"


def make_head(out_dir: Path, zoom: float = 4.0) -> dict[str, Path]:
    """The pydeface mean head at ``zoom`` mm, a removal mask (front-bottom block) and the defaced head."""
    from nibabel.processing import resample_to_output

    out_dir.mkdir(parents=True, exist_ok=True)
    head = resample_to_output(nib.load(str(files("pydeface") / "data" / "mean_reg2mean.nii.gz")), zoom, order=1)
    data = np.asanyarray(head.dataobj).astype("float32")
    ijk = np.indices(data.shape).reshape(3, -1)
    xyz = (head.affine[:3, :3] @ ijk + head.affine[:3, 3:]).reshape((3, *data.shape))
    kept = ~((xyz[1] > 55) & (xyz[2] < 10))
    paths = {
        "original": out_dir / "head.nii.gz",
        "mask": out_dir / "mask.nii.gz",
        "defaced": out_dir / "defaced.nii.gz",
    }
    nib.Nifti1Image(data, head.affine).to_filename(paths["original"])
    nib.Nifti1Image(kept.astype("uint8"), head.affine).to_filename(paths["mask"])
    nib.Nifti1Image(data * kept, head.affine).to_filename(paths["defaced"])
    return paths


def make_renders(head: dict[str, Path], out_dir: Path) -> list[Path]:
    """Maximum-intensity projections standing in for the QA step's head renders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    renders = []
    for role in ("original", "defaced"):
        data = np.asanyarray(nib.load(head[role]).dataobj)
        for i, view in enumerate(VIEWS):
            projection = np.rot90(data.max(axis=1 if i == 1 else 0))
            path = out_dir / f"sub-01_T1w_desc-{role}_{view}.png"
            plt.imsave(path, projection, cmap="gray")
            renders.append(path)
    return renders


def image_names(subject: str, session: str, suffix: str) -> dict[str, str]:
    """Relative paths of one image's source, metrics record and figure prefix."""
    ses_dir = f"/ses-{session}" if session else ""
    ses = f"_ses-{session}" if session else ""
    stem = f"sub-{subject}{ses}"
    return {
        "source": f"sub-{subject}{ses_dir}/anat/{stem}_{suffix}.nii.gz",
        "metrics": f"sub-{subject}{ses_dir}/anat/{stem}_mod-{suffix}_desc-deface_metrics.json",
        "figure": f"sub-{subject}/figures/{stem}_mod-{suffix}_desc-{{desc}}_{suffix}{{ext}}",
    }


def make_record(subject: str, session: str, suffix: str, **overrides) -> dict:
    """A finalised metrics record with face confidences and impact metrics."""
    rng = np.random.default_rng(zlib.crc32(f"{subject}{session}{suffix}".encode()))
    record = {
        "source_file": image_names(subject, session, suffix)["source"],
        "subject": subject,
        "session": session,
        "suffix": suffix,
        "method": "deface",
        "template": "pydeface",
        "voxels_removed": 12345,
        "voxels_removed_pct": 7.25,
        "brain_voxels_removed": 0,
        "brain_voxels_removed_independent": 0,
        "registration_disagreement_mm": 3.5,
        "check_registration": True,
        "check_face": True,
        "impact_brain_dice": float(rng.uniform(0.97, 0.999)),
        "impact_gm_dice": float(rng.uniform(0.95, 0.99)),
        "impact_displacement_mm": float(rng.uniform(0.0, 0.8)),
        "time_deface_s": 1.5,
    }
    for view in VIEWS:
        record[f"face_confidence_original_{view}"] = float(rng.uniform(0.8, 1.0))
        record[f"face_confidence_defaced_{view}"] = float(rng.uniform(0.0, 0.2))
        record[f"face_on_skin_defaced_{view}"] = 0.0
    record.update(overrides)
    return finalise_record(record)


def make_outputs(root: Path, figures: dict[str, Path], records: list[dict] | None = None) -> Path:
    """A derivatives folder: dataset_description, metrics records, per-image reportlets.

    ``figures`` maps a reportlet desc (flicker, removal, renders) to a file copied for
    every image; the metrics reportlet is made from each record.
    """
    from bids_deface.reports.fragments import metrics_fragment

    out = root
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset_description.json").write_text(
        json.dumps({"Name": "bids_deface derivatives", "BIDSVersion": "1.10.0", "DatasetType": "derivative"})
    )
    records = records if records is not None else [make_record(*image) for image in IMAGES]
    for record in records:
        names = image_names(record["subject"], record["session"], record["suffix"])
        metrics = out / names["metrics"]
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text(json.dumps(record, indent=2))
        if record["status"] == "error":
            continue
        for desc, src in figures.items():
            dst = out / names["figure"].format(desc=desc, ext=src.suffix)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        metrics_html = out / names["figure"].format(desc="metrics", ext=".html")
        metrics_html.parent.mkdir(parents=True, exist_ok=True)
        metrics_html.write_text(metrics_fragment(record))
    return out
