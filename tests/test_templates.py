"""Tests of the packaged template masks (bids_deface.data.templates)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from bids_deface.data import templates
from bids_deface.data.templates import FEATURE_LABELS, get_template, get_template_image, list_templates


@cache
def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(path)
    return np.asanyarray(img.dataobj), img.affine


@pytest.fixture(scope="module")
def tpl() -> templates.Template:
    return get_template("pydeface")


def _world_centroid(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return nib.affines.apply_affine(affine, np.argwhere(mask).mean(axis=0))


def test_list_and_unknown_name():
    assert list_templates() == ["pydeface"]
    with pytest.raises(ValueError, match="pydeface"):
        get_template("MNI999")


def test_template_record(tpl):
    assert tpl.name == "pydeface"
    assert tpl.features_labels == FEATURE_LABELS
    assert "pydeface" in tpl.citation.lower() and "MIT" in tpl.citation
    assert tpl.head.is_file()
    for path in (tpl.brain_mask, tpl.face_mask, tpl.ears_mask, tpl.features):
        assert path.is_file(), path
        assert path.stat().st_size < 300 * 1024, path  # small enough for git
    tsv = tpl.features.with_suffix("").with_suffix(".tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["index", "name"]
    assert {int(r.split("\t")[0]): r.split("\t")[1] for r in tsv[1:]} == FEATURE_LABELS


def test_masks_binary_uint8_on_head_grid(tpl):
    head = nib.load(tpl.head)
    for path in (tpl.brain_mask, tpl.face_mask, tpl.ears_mask, tpl.features):
        img = nib.load(path)
        assert img.shape == head.shape, path
        assert np.allclose(img.affine, head.affine, atol=1e-4), path
        assert img.get_data_dtype() == np.uint8, path
        data, _ = _load(path)
        allowed = set(FEATURE_LABELS) | {0} if path == tpl.features else {0, 1}
        assert set(np.unique(data).tolist()) <= allowed, path
        assert data.any(), path


def test_brain_volume_is_adult_icv(tpl):
    brain, _ = _load(tpl.brain_mask)
    ml = brain.astype(bool).sum() * np.prod(nib.load(tpl.brain_mask).header.get_zooms()[:3]) / 1000
    assert 1300 < ml < 1800


def test_brain_lies_inside_the_head(tpl):
    brain, _ = _load(tpl.brain_mask)
    head, _ = _load(tpl.head)
    # the brain (incl. CSF) is never in the air around the head
    assert np.percentile(head[brain.astype(bool)], 1) > 40


def test_face_and_ears_keep_away_from_brain(tpl):
    brain, affine = _load(tpl.brain_mask)
    zooms = nib.load(tpl.brain_mask).header.get_zooms()[:3]
    dist = ndi.distance_transform_edt(~brain.astype(bool), sampling=zooms)
    for path, min_mm in ((tpl.face_mask, 5.0), (tpl.ears_mask, 5.0)):
        mask, _ = _load(path)
        assert not (mask.astype(bool) & brain.astype(bool)).any(), path
        assert dist[mask.astype(bool)].min() >= min_mm, path


def test_face_is_anterior_inferior_of_brain(tpl):
    brain, affine = _load(tpl.brain_mask)
    face, _ = _load(tpl.face_mask)
    head, _ = _load(tpl.head)
    face_tissue = face.astype(bool) & (head > 80)
    b = _world_centroid(brain.astype(bool), affine)
    f = _world_centroid(face_tissue, affine)
    assert f[1] > b[1] + 40  # anterior
    assert f[2] < b[2] - 30  # inferior
    # not a slab: the back of the head and the neck behind the jaw are kept
    back = nib.affines.apply_affine(np.linalg.inv(affine), [0, -60, -100]).round().astype(int)
    assert not face[tuple(back)]


def test_ears_are_lateral(tpl):
    dseg, affine = _load(tpl.features)
    ears, _ = _load(tpl.ears_mask)
    left = _world_centroid(dseg == 6, affine)
    right = _world_centroid(dseg == 7, affine)
    assert left[0] < -50 and right[0] > 50
    lab, n = ndi.label(ears)
    assert n == 2
    xs = sorted(_world_centroid(lab == i, affine)[0] for i in (1, 2))
    assert xs[0] < -50 and xs[1] > 50


def test_features_sit_on_the_head_surface(tpl):
    dseg, affine = _load(tpl.features)
    head, _ = _load(tpl.head)
    air = ndi.gaussian_filter(head.astype(np.float32), 2) < 80
    zooms = nib.load(tpl.features).header.get_zooms()[:3]
    for label, name in FEATURE_LABELS.items():
        mask = dseg == label
        assert mask.sum() > 200, name
        lo = np.maximum(np.argwhere(mask).min(axis=0) - 12, 0)
        hi = np.argwhere(mask).max(axis=0) + 13
        crop = tuple(slice(a, b) for a, b in zip(lo, hi))
        depth = ndi.distance_transform_edt(~air[crop], sampling=zooms)
        assert np.percentile(depth[mask[crop]], 95) <= 6.0, name  # skin, not deep tissue
        assert air[mask].mean() < 0.05, name  # tissue, not air


def test_features_are_removed_by_face_and_ears(tpl):
    dseg, _ = _load(tpl.features)
    face, _ = _load(tpl.face_mask)
    ears, _ = _load(tpl.ears_mask)
    removed = face.astype(bool) | ears.astype(bool)
    for label, name in FEATURE_LABELS.items():
        assert removed[dseg == label].mean() > 0.95, name


def test_template_image_resampled_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("BIDS_DEFACE_CACHE_DIR", str(tmp_path))
    full = get_template_image("pydeface")
    assert full.shape == (176, 256, 256)
    img = get_template_image("pydeface", res_mm=3.0)
    assert np.allclose(img.header.get_zooms()[:3], 3.0)
    assert img.shape == (59, 83, 83)
    cached = list(tmp_path.glob("tpl-pydeface_res-3mm_*_T1w.nii.gz"))
    assert len(cached) == 1 and not list(tmp_path.glob(".tmp-*"))
    # same field of view: the centres coincide
    centre = lambda im: im.affine @ np.r_[(np.array(im.shape) - 1) / 2, 1]  # noqa: E731
    assert np.allclose(centre(img), centre(full), atol=1e-3)
    again = get_template_image("pydeface", res_mm=3.0)
    assert np.allclose(again.get_fdata(), img.get_fdata())
    # intensity preserved roughly (smoothing, no rescaling)
    assert abs(float(img.get_fdata().mean()) - float(full.get_fdata().mean())) < 5


def test_resample_isotropic_rejects_bad_resolution():
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    with pytest.raises(ValueError, match="res_mm"):
        templates.resample_isotropic(img, 0)
