"""A BIDS dataset of bad anatomical images around one good small real head: one participant each.

:data:`BAD` maps each participant label to what its T1w is; :func:`make_bad_dataset` writes
them. The good head is stored git-annex style: a read-only file under ``.git/annex/objects``
that the BIDS path links to; ``annexmissing`` links to content that is not there.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np

BAD = {
    "good": "a small real head (4 mm), stored as a git-annex symlink to read-only content",
    "annexmissing": "a git-annex symlink whose content is not present",
    "truncated": "the good head's .nii.gz cut in half",
    "corrupt": "a .nii.gz whose compressed stream is garbage after a valid gzip header",
    "zerobyte": "a zero-byte .nii.gz",
    "singular": "a singular affine (sform of rank 2, no qform)",
    "nanaffine": "an affine holding NaN (sform, no qform)",
    "flat": "a 2D image",
    "fourd": "a 4D image (the head twice)",
    "coarse": "10 mm voxels (the head block-averaged to 10 mm)",
    "fine": "0.3 mm voxels in the header of a 52 x 64 x 64 head (a 16 mm field of view)",
    "zeros": "all voxels zero",
    "nans": "float32 with NaN in a fifth of the background voxels",
}


def _save(img: nib.Nifti1Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.to_filename(path)
    return path


def _like(head: nib.Nifti1Image, data, dtype=None) -> nib.Nifti1Image:
    img = nib.Nifti1Image(np.asarray(data) if dtype is None else np.asarray(data).astype(dtype), head.affine)
    img.header.set_xyzt_units("mm", "sec")
    return img


def _broken_affine(head: nib.Nifti1Image, rows) -> nib.Nifti1Image:
    hdr = head.header.copy()
    hdr["qform_code"], hdr["sform_code"] = 0, 1
    hdr["srow_x"], hdr["srow_y"], hdr["srow_z"] = rows
    return nib.Nifti1Image(np.asanyarray(head.dataobj), None, hdr)


def make_bad_dataset(root: Path, head: nib.Nifti1Image) -> Path:
    """Write the dataset under ``root`` (whose path may hold spaces and non-ASCII letters)."""
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "bad inputs", "BIDSVersion": "1.10.0"}))

    def t1w(label: str) -> Path:
        return root / f"sub-{label}" / "anat" / f"sub-{label}_T1w.nii.gz"

    content = _save(head, root / ".git" / "annex" / "objects" / "Pk" / "3W" / "SHA256E-s1--good.nii.gz")
    content.chmod(0o444)
    content.parent.chmod(0o555)
    link = t1w("good")
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(content, link.parent))
    (root / "sub-annexmissing" / "anat").mkdir(parents=True)
    t1w("annexmissing").symlink_to("../../.git/annex/objects/Zz/9Q/SHA256E-s1--missing.nii.gz")

    whole = _save(head, t1w("truncated")).read_bytes()
    t1w("truncated").write_bytes(whole[: len(whole) // 2])
    t1w("corrupt").parent.mkdir(parents=True)
    t1w("corrupt").write_bytes(gzip.compress(b"")[:10] + bytes(range(256)) * 64)
    t1w("zerobyte").parent.mkdir(parents=True)
    t1w("zerobyte").write_bytes(b"")
    _save(_broken_affine(head, [[4, 0, 0, 0], [0, 4, 0, 0], [4, 0, 0, 0]]), t1w("singular"))
    _save(_broken_affine(head, [[4, 0, 0, 0], [0, np.nan, 0, 0], [0, 0, 4, 0]]), t1w("nanaffine"))
    _save(_like(head, np.asanyarray(head.dataobj)[:, :, 32]), t1w("flat"))
    data = np.asanyarray(head.dataobj)
    _save(_like(head, np.stack([data, data], axis=-1)), t1w("fourd"))
    _save(_coarse(head), t1w("coarse"))
    fine = head.affine.copy()
    fine[:3, :3] *= 0.3 / 4.0
    _save(nib.Nifti1Image(data, fine), t1w("fine"))
    _save(_like(head, np.zeros_like(data)), t1w("zeros"))
    nans = data.astype(np.float32)
    background = data < np.percentile(data, 30)
    nans[background & (np.random.default_rng(0).random(data.shape) < 0.2)] = np.nan
    _save(_like(head, nans), t1w("nans"))
    return root


def _coarse(head: nib.Nifti1Image) -> nib.Nifti1Image:
    """The 4 mm head resampled to 10 mm voxels (linear zoom by 0.4)."""
    from scipy import ndimage as ndi

    data = np.asanyarray(head.dataobj, dtype=np.float32)
    small = ndi.zoom(data, 0.4, order=1)
    affine = head.affine.copy()
    affine[:3, :3] *= 2.5
    img = nib.Nifti1Image(np.rint(small).astype(np.int16), affine)
    img.header.set_xyzt_units("mm", "sec")
    return img
