import gzip

import nibabel as nib
import numpy as np
import pytest

from bids_deface.methods.deface.removal import apply_removal
from bids_deface.methods.errors import InputImageError
from bids_deface.methods.io import (
    check_image,
    load_image,
    raw_data,
    stored_zero,
    write_raw,
)


def _image(shape=(20, 22, 24), dtype=np.int16, affine=None):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 1000, size=shape).astype(dtype)
    return nib.Nifti1Image(data, np.diag([4.0, 4.4, 4.8, 1.0]) if affine is None else affine)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(InputImageError, match="does not exist") as err:
        load_image(tmp_path / "nope.nii.gz")
    assert "nope.nii.gz" in str(err.value)


def test_truncated_gzip_fails_with_reason(tmp_path):
    path = tmp_path / "sub-01_T1w.nii.gz"
    _image().to_filename(path)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InputImageError, match="truncated or corrupt") as err:
        load_image(path)
    assert str(path) in str(err.value)


def test_garbage_file_fails(tmp_path):
    path = tmp_path / "sub-01_T1w.nii.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"not a nifti" * 10)
    with pytest.raises(InputImageError, match="not a readable NIfTI"):
        load_image(path)


def test_corrupt_gzip_stream_names_the_file(tmp_path):
    """A valid gzip header then garbage: zlib fails while nibabel sniffs the header (it crashed a run as
    an internal error, with no file named, before)."""
    path = tmp_path / "sub-01_T1w.nii.gz"
    path.write_bytes(gzip.compress(b"")[:10] + bytes(range(256)) * 64)
    with pytest.raises(InputImageError, match="not a readable NIfTI image") as err:
        load_image(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("shape", "match"), [((30, 30), "3D or 4D"), ((30, 30, 30, 2, 2), "3D or 4D"), ((4, 30, 30), "too small")]
)
def test_bad_shapes(tmp_path, shape, match):
    path = tmp_path / "x.nii"
    nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)).to_filename(path)
    with pytest.raises(InputImageError, match=match):
        load_image(path)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], "all zeros"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], "singular"),
    ],
)
def test_bad_affines(tmp_path, rows, match):
    """An sform with a zero or singular matrix (and no qform) fails, naming the file."""
    img = _image()
    hdr = img.header
    hdr["qform_code"] = 0
    hdr["sform_code"] = 1
    hdr["srow_x"], hdr["srow_y"], hdr["srow_z"] = rows
    path = tmp_path / "sub-01_T1w.nii.gz"
    nib.Nifti1Image(np.asanyarray(img.dataobj), None, hdr).to_filename(path)
    assert np.allclose(nib.load(path).affine[:3], rows)  # nibabel kept the broken sform
    with pytest.raises(InputImageError, match=match) as err:
        load_image(path)
    assert str(path) in str(err.value)


def test_small_field_of_view_is_rejected_with_its_extent(tmp_path):
    """40^3 voxels of 0.3 mm (12 mm across) crashed ANTs' affine initializer; it is an input error now."""
    path = tmp_path / "sub-01_T1w.nii.gz"
    _image(shape=(40, 40, 40), affine=np.diag([0.3, 0.3, 0.3, 1.0])).to_filename(path)
    with pytest.raises(
        InputImageError,
        match=r"field of view 12 x 12 x 12 mm cannot hold a head "
        r"\(at least 60 mm needed on 2 axes\)",
    ) as err:
        load_image(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("shape", "voxel_mm", "accepted"),
    [
        ((64, 64, 64), (1.0, 1.0, 1.0), True),  # a small child's head, 64 mm each way
        ((96, 96, 20), (2.0, 2.0, 2.0), True),  # a partial-coverage slab: 192 x 192 x 40 mm
        ((30, 200, 30), (2.0, 1.0, 2.0), True),  # 60 x 200 x 60 mm: exactly the bound on two axes
        ((96, 20, 20), (2.0, 2.0, 2.0), False),  # a rod: 192 x 40 x 40 mm
        ((29, 29, 300), (2.0, 2.0, 1.0), False),  # 58 x 58 x 300 mm
    ],
)
def test_field_of_view_bound(shape, voxel_mm, accepted):
    img = nib.Nifti1Image(np.ones(shape, np.int8), np.diag([*voxel_mm, 1.0]))
    if accepted:
        check_image(img)
    else:
        with pytest.raises(InputImageError, match="cannot hold a head"):
            check_image(img)


def test_field_of_view_uses_the_affine_of_an_oblique_image():
    """The extent along a voxel axis is the length of the affine's column, whatever the rotation."""
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.3, 0.3, 0.3])
    with pytest.raises(InputImageError, match="field of view 12 x 12 x 12 mm"):
        check_image(nib.Nifti1Image(np.ones((40, 40, 40), np.int8), affine))
    affine[:3, :3] = rotation @ np.diag([2.0, 2.0, 2.0])
    check_image(nib.Nifti1Image(np.ones((40, 40, 40), np.int8), affine))


def test_write_raw_is_bit_exact_outside_the_mask(tmp_path):
    img = _image()
    img.header.set_slope_inter(2.0, 5.0)
    img.header["descrip"] = b"kept"
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment"))
    img.header.set_qform(img.affine, 2)
    img.header.set_sform(img.affine, 4)
    src = tmp_path / "src.nii.gz"
    img.to_filename(src)
    loaded = nib.load(src)
    removal = np.zeros(loaded.shape, bool)
    removal[:5] = True
    defaced = apply_removal(loaded, removal)
    out = write_raw(tmp_path / "out.nii.gz", defaced.header, defaced.raw)
    result = nib.load(out)
    with gzip.open(src) as a, gzip.open(out) as b:  # the header exactly as on disk, scaling included
        assert a.read(348) == b.read(348)
    assert result.dataobj.slope == 2.0 and result.dataobj.inter == 5.0
    assert len(result.header.extensions) == 1
    assert result.get_data_dtype() == loaded.get_data_dtype()
    assert np.array_equal(raw_data(result)[~removal], raw_data(loaded)[~removal])
    assert np.all(np.abs(result.get_fdata()[removal]) <= 1.0)  # the stored value closest to 0 (slope 2, inter 5)
    assert (int(result.header["qform_code"]), int(result.header["sform_code"])) == (2, 4)


SCALINGS = [
    (np.int8, None),
    (np.int8, (0.5, -3.0)),
    (np.int16, None),
    (np.int16, (2.0, 5.0)),
    (np.uint16, None),
    (np.uint16, (2.5, 10.0)),
    (np.float32, None),
    (np.float64, None),
    (np.float32, (1.5, 0.25)),
]


@pytest.mark.parametrize(("dtype", "scaling"), SCALINGS)
@pytest.mark.parametrize("shape", [(18, 20, 22), (18, 20, 22, 3)])
def test_deface_keeps_decoded_values_outside_the_mask(tmp_path, dtype, scaling, shape):
    """Stored values outside the removal mask are byte-identical, header scaling is kept, and every
    decoded value outside the mask equals the input's (a uint16 with slope 2.5 lost its scaling once)."""
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    high = 100 if info is None else min(info.max, 2000)
    img = nib.Nifti1Image(
        rng.integers(max(0, 0 if info is None else info.min), high, shape).astype(dtype), np.diag([4.0, 4.0, 4.8, 1.0])
    )
    if scaling:
        img.header.set_slope_inter(*scaling)
    src = tmp_path / "src.nii.gz"
    img.to_filename(src)
    loaded = load_image(src)
    removal = np.zeros(shape[:3], bool)
    removal[:, -6:, :5] = True
    defaced = apply_removal(loaded, removal)
    result = nib.load(write_raw(tmp_path / "out.nii.gz", defaced.header, defaced.raw))
    before, after = loaded.get_fdata(), result.get_fdata()
    assert np.array_equal(after[~removal], before[~removal])
    assert np.array_equal(raw_data(result)[~removal], raw_data(loaded)[~removal])
    assert (result.dataobj.slope, result.dataobj.inter) == (loaded.dataobj.slope, loaded.dataobj.inter)
    assert result.get_data_dtype() == loaded.get_data_dtype()
    # removed voxels decode to the value closest to 0 the dtype and scaling allow
    slope, inter = scaling or (1.0, 0.0)
    lowest = 0.0 if info is None else max(info.min * slope + inter, min(inter, 0.0)) if slope > 0 else 0.0
    assert np.all(np.abs(after[removal]) <= abs(lowest) + abs(slope) / 2 + 1e-6)


def test_stored_zero_honours_scaling():
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.int16)
    hdr.set_slope_inter(2.0, 10.0)
    assert stored_zero(hdr) == -5
    hdr.set_slope_inter(1.0, 0.0)
    assert stored_zero(hdr) == 0


def test_removal_applies_to_every_volume_of_4d():
    img = _image(shape=(16, 16, 16, 3))
    removal = np.zeros((16, 16, 16), bool)
    removal[:, :4] = True
    defaced = apply_removal(img, removal)
    assert np.all(defaced.raw[:, :4] == 0)
    assert np.array_equal(defaced.raw[:, 4:], np.asanyarray(img.dataobj)[:, 4:])
    assert defaced.voxels_removed == removal.sum()


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    img = _image()
    import bids_deface.methods.io as io

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(io, "array_to_file", boom)
    with pytest.raises(OSError):
        write_raw(tmp_path / "out.nii.gz", img.header, np.asanyarray(img.dataobj))
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_readable_by_others(tmp_path):
    """Atomic writes go through mkstemp (mode 0600): the final file gets the umask's mode."""
    import os
    import stat

    img = _image()
    out = write_raw(tmp_path / "out.nii.gz", img.header, np.asanyarray(img.dataobj))
    mode = stat.S_IMODE(out.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
