"""Reading, validating and writing NIfTI images.

Writes are atomic (temporary file in the target folder, then :func:`os.replace`) and
*raw*: the header written is the source header with only the fields the caller changed,
so dtype, ``scl_slope``/``scl_inter``, qform/sform and their codes, units and extensions
survive bit for bit.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.volumeutils import array_to_file

from .errors import InputImageError

LOGGER = logging.getLogger(__name__)

#: Smallest extent (voxels) along each of the three spatial axes we accept.
MIN_SPATIAL_VOXELS = 8
#: Smallest field of view (mm) an image must cover on at least :data:`MIN_HEAD_AXES` of its
#: voxel axes to hold a head (see :func:`check_field_of_view`).
MIN_HEAD_EXTENT_MM = 60.0
MIN_HEAD_AXES = 2


def load_image(path: str | os.PathLike, *, read_data: bool = True) -> nib.Nifti1Image:
    """Load and validate an anatomical NIfTI image.

    Parameters
    ----------
    path
        A ``.nii`` or ``.nii.gz`` file.
    read_data
        Read every voxel once, so that a truncated or corrupt file fails here,
        naming the file, rather than deep inside a registration.

    Raises
    ------
    InputImageError
        The file is missing, unreadable, truncated, not 3D/4D, too small, empty (every
        voxel 0), or its affine is zero, non-finite or singular.
    """
    path = Path(path)
    if not path.is_file():
        raise InputImageError(path, "file does not exist")
    try:
        img = nib.load(path)
    except (nib.filebasedimages.ImageFileError, OSError, ValueError, EOFError, zlib.error) as err:
        # zlib.error: a gzip header followed by a corrupt stream, met while nibabel sniffs the header
        raise InputImageError(path, f"not a readable NIfTI image ({err})") from err
    if not isinstance(img, nib.Nifti1Image):  # Nifti2Image subclasses Nifti1Image
        raise InputImageError(path, f"not a NIfTI image ({type(img).__name__})")
    check_image(img, path)
    if read_data:
        try:
            data = np.asanyarray(img.dataobj)
        except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as err:
            raise InputImageError(path, f"image data cannot be read; truncated or corrupt ({err})") from err
        finite = np.isfinite(data)
        if not np.any(data[finite]):
            raise InputImageError(
                path,
                "the image is empty: all voxels are 0"
                if finite.all()
                else "the image is empty: every voxel is 0 or not a number",
            )
        if not finite.all():
            LOGGER.warning("%s: non-finite voxel values are treated as background", path)
    return img


def in_memory(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """The image with its (scaled) voxel values read once, for code that reads them many times.

    Reading a ``.nii.gz`` proxy decompresses the file every time; the copy keeps the
    header and affine. For reading only: writing it would not keep the source's scaling.
    """
    if isinstance(img.dataobj, np.ndarray):
        return img
    return nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header)


def check_image(img: nib.Nifti1Image, path: str | os.PathLike | None = None) -> None:
    """Check the shape and affine of an image; raise :class:`InputImageError` if unusable."""
    shape = img.shape
    if len(shape) not in (3, 4):
        raise InputImageError(path, f"expected a 3D or 4D image, got {len(shape)}D with shape {shape}")
    if min(shape[:3]) < MIN_SPATIAL_VOXELS:
        raise InputImageError(path, f"image too small to contain a head: shape {shape}")
    affine = img.affine
    if affine is None or not np.isfinite(affine).all():
        raise InputImageError(path, "affine has non-finite values")
    linear = affine[:3, :3]
    if not np.any(linear):
        raise InputImageError(path, "affine is all zeros (no qform or sform)")
    det = np.linalg.det(linear)
    if abs(det) < 1e-6 or np.linalg.cond(linear) > 1e6:
        raise InputImageError(path, f"affine is singular (determinant {det:.3g})")
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    if np.any(zooms <= 0) or not np.isfinite(zooms).all():
        raise InputImageError(path, f"voxel sizes must be positive, got {tuple(zooms)}")
    check_field_of_view(img, path)


def check_field_of_view(img: nib.Nifti1Image, path: str | os.PathLike | None = None) -> None:
    """Reject an image whose physical extent cannot hold a head.

    The extent along each voxel axis is the number of voxels times the voxel spacing the
    affine gives (the length of its column). At least :data:`MIN_HEAD_AXES` (2) axes must
    cover :data:`MIN_HEAD_EXTENT_MM` (60 mm). The bound is lenient on purpose:

    * the smallest heads bids_deface should take, preterm neonates, are about 60-70 mm
      across (biparietal diameter) and 80-90 mm front to back;
    * a partial-coverage slab of a real head (e.g. a hippocampal T2w: 20-30 slices, 40-60
      mm thick) still covers 150 mm or more in plane: two axes;
    * the template registration works on a 4 mm copy: 60 mm is 15 samples, while a
      12 mm cube (40 voxels of 0.3 mm) is 3, on which ANTs' affine initializer crashes
      the process instead of failing (a segmentation fault, not an exception).

    Raises
    ------
    InputImageError
        Naming the field of view in mm and the bound.
    """
    spacing = np.linalg.norm(np.asarray(img.affine, dtype=float)[:3, :3], axis=0)
    extent = np.asarray(img.shape[:3], dtype=float) * spacing
    if np.sum(extent >= MIN_HEAD_EXTENT_MM) < MIN_HEAD_AXES:
        shown = " x ".join(f"{e:.3g}" for e in extent)
        raise InputImageError(
            path,
            f"field of view {shown} mm cannot hold a head (at least "
            f"{MIN_HEAD_EXTENT_MM:g} mm needed on {MIN_HEAD_AXES} axes)",
        )


def raw_data(img: nib.Nifti1Image) -> np.ndarray:
    """The voxel values as stored on disk (before ``scl_slope``/``scl_inter``)."""
    dataobj = img.dataobj
    if hasattr(dataobj, "get_unscaled"):
        return np.asanyarray(dataobj.get_unscaled())
    return np.asanyarray(dataobj)


def stored_header(img: nib.Nifti1Image) -> nib.Nifti1Header:
    """A copy of the header as it is on disk, scaling included.

    nibabel moves ``scl_slope``/``scl_inter`` of a loaded image into its data proxy and
    leaves NaN in ``img.header``; writing that header with the stored values would drop
    the scaling (every decoded value changes). This puts the proxy's values back.
    """
    header = img.header.copy()
    slope, inter = getattr(img.dataobj, "slope", None), getattr(img.dataobj, "inter", None)
    if slope is not None and inter is not None:
        header["scl_slope"], header["scl_inter"] = slope, inter
    return header


def stored_zero(header: nib.Nifti1Header) -> int | float:
    """The stored value that decodes to 0 (or as close as the dtype allows)."""
    dtype = header.get_data_dtype()
    slope, inter = header.get_slope_inter()
    if slope is None or slope == 0 or not np.isfinite(slope):
        slope = 1.0
    if inter is None or not np.isfinite(inter):
        inter = 0.0
    value = -inter / slope
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return int(np.clip(np.rint(value), info.min, info.max))
    return dtype.type(value)


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name.split('.')[0]}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_raw(path: str | os.PathLike, header: nib.Nifti1Header, raw: np.ndarray) -> Path:
    """Write ``raw`` stored values with ``header`` unchanged, atomically.

    nibabel's ``to_filename`` recomputes scaling and may touch the header; this does
    not: the output differs from the source only where ``raw`` differs.
    """
    path = Path(path)
    header = header.copy()
    if raw.dtype != header.get_data_dtype():
        raise ValueError(f"raw dtype {raw.dtype} differs from header dtype {header.get_data_dtype()}")
    if raw.shape != header.get_data_shape():
        raise ValueError(f"raw shape {raw.shape} differs from header shape {header.get_data_shape()}")
    minimum_offset = 352 + header.extensions.get_sizeondisk()
    if header.get_data_offset() < minimum_offset:
        header.set_data_offset(minimum_offset)
    opener = gzip.open if path.name.endswith(".gz") else open
    with atomic_path(path) as tmp:
        # mtime=0 and no file name in the gzip header: identical inputs give identical bytes.
        if opener is gzip.open:
            with (
                open(tmp, "wb") as raw_fh,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw_fh, mtime=0, compresslevel=6) as fh,
            ):
                _write_header_and_data(fh, header, raw)
        else:
            with open(tmp, "wb") as fh:
                _write_header_and_data(fh, header, raw)
    return path


def _write_header_and_data(fh, header: nib.Nifti1Header, raw: np.ndarray) -> None:
    header.write_to(fh)
    offset = int(header.get_data_offset())
    position = fh.tell()
    if position < offset:
        fh.write(b"\x00" * (offset - position))
    array_to_file(raw, fh, header.get_data_dtype(), offset=offset, order="F")


def save_image(img: nib.Nifti1Image, path: str | os.PathLike) -> Path:
    """Save a derived image (masks, resampled copies) atomically with nibabel."""
    path = Path(path)
    with atomic_path(path) as tmp:
        img.to_filename(tmp)
    return path
