"""Tests of the defacing impact metrics (bids_deface.methods.impact.metrics / overlap)."""

from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_deface.methods import overlap
from bids_deface.methods.ants_bridge import ants_seed, nifti_to_ants
from bids_deface.methods.impact.metrics import (
    ImpactThresholds,
    _map_points,
    evaluate_impact,
    impact_metrics,
    kmeans_1d,
)

ants = pytest.importorskip("ants")

PYDEFACE = Path(str(files("pydeface"))) / "data"
PACKAGED_BRAIN = (
    Path(__file__).resolve().parents[1]
    / "bids_deface"
    / "data"
    / "tpl-pydeface"
    / "tpl-pydeface_desc-brain_mask.nii.gz"
)
NILEARN_MNI = Path(str(files("nilearn"))) / "datasets" / "data" / ("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
RES = 3.0  # mm: every image-level test works on 3 mm copies to stay fast


# ----------------------------------------------------------------- pure metrics


def test_dice_and_iou_by_hand():
    a = np.array([1, 1, 1, 0, 0])
    b = np.array([0, 1, 1, 1, 0])
    # |A & B| = 2, |A| = |B| = 3, |A | B| = 4
    assert overlap.dice(a, b) == pytest.approx(4 / 6)
    assert overlap.iou(a, b) == pytest.approx(2 / 4)
    assert overlap.dice(a, a) == 1.0 and overlap.iou(a, a) == 1.0
    assert overlap.dice(np.zeros(3), np.zeros(3)) == 1.0
    assert overlap.iou([1, 0], [0, 1]) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        overlap.dice(np.zeros(2), np.zeros(3))


def test_volume_and_percent_change_by_hand():
    assert overlap.volume_change_pct([1, 1, 1, 1, 0], [1, 1, 1, 0, 0]) == pytest.approx(-25.0)
    assert overlap.percent_change(2.0, 3.0) == pytest.approx(50.0)
    assert overlap.percent_change(0, 0) == 0.0
    assert math.isnan(overlap.percent_change(0, 1))


def test_cnr_by_hand():
    image = np.array([1.0, 3.0, 10.0, 14.0])
    gm = np.array([1, 1, 0, 0])
    wm = np.array([0, 0, 1, 1])
    # GM mean 2 var 1; WM mean 12 var 4 -> (12 - 2)^2 / (1 + 4) = 20
    assert overlap.cnr(image, gm, wm) == pytest.approx(20.0)
    # scale invariant
    assert overlap.cnr(7 * image, gm, wm) == pytest.approx(20.0)
    assert math.isnan(overlap.cnr(image, np.zeros(4), wm))
    assert overlap.cnr(np.array([1.0, 1.0, 5.0, 5.0]), gm, wm) == math.inf


def test_displacement_by_hand():
    a = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    b = np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]])
    assert overlap.displacement_stats(a, b) == pytest.approx((2.5, 5.0))
    assert overlap.displacement_stats(np.zeros((0, 3)), np.zeros((0, 3))) == (0.0, 0.0)
    with pytest.raises(ValueError):
        overlap.displacement_stats(a, b[:1])


def test_max_abs_difference_in_mask_by_hand():
    orig = np.array([5.0, 6.0, 7.0, 8.0])
    defc = np.array([5.0, 6.0, 0.0, 0.0])
    assert overlap.max_abs_difference_in_mask(orig, defc, [1, 1, 0, 0]) == 0.0
    assert overlap.max_abs_difference_in_mask(orig, defc, [1, 1, 1, 0]) == 7.0
    assert overlap.max_abs_difference_in_mask(orig, defc, [0, 0, 0, 0]) == 0.0


def test_kmeans_1d_is_deterministic_and_ordered():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(m, 1.0, 500) for m in (80.0, 20.0, 50.0)])
    labels = kmeans_1d(values, 3)
    assert np.array_equal(labels, kmeans_1d(values, 3))
    # darkest cluster is label 0, brightest label 2
    assert np.all(labels[500:1000] == 0)
    assert np.all(labels[1000:] == 1)
    assert np.all(labels[:500] == 2)
    with pytest.raises(ValueError):
        kmeans_1d(np.array([1.0]), 3)


# ----------------------------------------------------------------- evaluation


GOOD = {
    "brain_dice": 0.999,
    "brain_iou": 0.998,
    "brain_volume_change_pct": -0.1,
    "csf_iou": 0.99,
    "gm_iou": 0.99,
    "wm_iou": 0.99,
    "csf_volume_change_pct": 0.5,
    "gm_volume_change_pct": -0.5,
    "wm_volume_change_pct": 0.2,
    "cnr_original": 3.0,
    "cnr_defaced": 3.01,
    "cnr_change_pct": 0.3,
    "displacement_mean_mm": 0.1,
    "displacement_max_mm": 0.4,
    "intensity_change_in_brain": 0.0,
}


def test_thresholds_defaults():
    t = ImpactThresholds()
    assert (t.brain_dice_min, t.tissue_iou_min, t.displacement_max_mm) == (0.99, 0.95, 1.0)
    assert t.intensity_change_max == 0.0
    with pytest.raises(AttributeError):
        t.brain_dice_min = 0.5  # frozen


def test_evaluate_impact_pass_and_each_failure():
    assert evaluate_impact(GOOD, ImpactThresholds()) == (True, [])
    assert evaluate_impact(GOOD) == (True, [])
    cases = {
        "brain_dice": 0.95,
        "gm_iou": 0.90,
        "displacement_mean_mm": 2.5,
        "intensity_change_in_brain": 12.0,
        "wm_volume_change_pct": -9.0,
        "cnr_change_pct": 11.0,
        "brain_volume_change_pct": -3.0,
    }
    for key, value in cases.items():
        ok, reasons = evaluate_impact({**GOOD, key: value}, ImpactThresholds())
        assert not ok
        assert len(reasons) == 1 and key in reasons[0], reasons


def test_evaluate_impact_missing_nan_and_disabled():
    metrics = {k: v for k, v in GOOD.items() if k != "wm_iou"}
    ok, reasons = evaluate_impact(metrics, ImpactThresholds())
    assert not ok and "wm_iou" in reasons[0] and "missing" in reasons[0]
    ok, reasons = evaluate_impact({**GOOD, "cnr_change_pct": float("nan")})
    assert not ok and "cnr_change_pct" in reasons[0]
    relaxed = ImpactThresholds(tissue_iou_min=None, intensity_change_max=None)
    assert evaluate_impact({**metrics, "intensity_change_in_brain": 50.0}, relaxed) == (True, [])


# ----------------------------------------------------------------- ANTs helpers


def test_nifti_to_ants_keeps_world_coordinates():
    affine = np.array([[-2.0, 0, 0, 90.0], [0, 2.0, 0, -126.0], [0, 0, 3.0, -72.0], [0, 0, 0, 1]])
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    image = nifti_to_ants(nib.Nifti1Image(data, affine))
    assert image.shape == (4, 5, 6)
    np.testing.assert_array_equal(image.numpy(), data)
    ras = affine @ np.array([3, 2, 1, 1.0])
    lps = ants.transform_index_to_physical_point(image, (3, 2, 1))
    np.testing.assert_allclose(lps, [-ras[0], -ras[1], ras[2]], atol=1e-5)
    with pytest.raises(ValueError, match="3D"):
        nifti_to_ants(nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4)))


def test_write_ras_affine_reads_back(tmp_path):
    from bids_deface.methods.ants_bridge import write_ras_affine
    from bids_deface.methods.deface.register import read_itk_affine

    matrix = np.array([[1.02, 0.05, 0.01, 3.0], [-0.04, 0.98, 0.1, -7.0], [0.02, -0.1, 1.05, 12.0], [0, 0, 0, 1]])
    path = write_ras_affine(matrix, str(tmp_path / "m.mat"))
    np.testing.assert_allclose(read_itk_affine(path), matrix, atol=1e-5)


def test_map_points_applies_the_transform(tmp_path):
    import pandas as pd

    tx = ants.create_ants_transform(transform_type="AffineTransform", dimension=3, translation=(1.0, 2.0, 2.0))
    path = str(tmp_path / "shift.mat")
    ants.write_transform(tx, path)
    points = pd.DataFrame([[0.0, 0.0, 0.0], [10.0, -5.0, 3.0]], columns=["x", "y", "z"])
    mapped = _map_points(points, [path])
    np.testing.assert_allclose(mapped - points.to_numpy(), [[1, 2, 2], [1, 2, 2]], atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "zooms", "resolution"),
    [
        ((37, 41, 29), (0.88, 0.88, 0.88), 2.0),
        ((31, 44, 13), (0.8578751, 0.859375, 2.4), 2.0),
        ((25, 30, 27), (1.0, 1.0, 1.0), 3.0),
    ],
)
def test_the_working_grid_is_ants_resample_image(shape, zooms, resolution):
    """``_resample`` gives the grid and the values of ``ants.resample_image`` (linear), cheaper;
    the grids put the last voxels within half a voxel of the edge, and beyond it."""
    from bids_deface.methods.impact.pipeline import _resample

    rng = np.random.default_rng(3)
    affine = np.diag([*zooms, 1.0]) @ np.array([[0, -1, 0, 20], [1, 0, 0, -30], [0, 0, 1, 5], [0, 0, 0, 1.0]])
    image = nifti_to_ants(nib.Nifti1Image((rng.random(shape) * 1000).astype(np.float32), affine))
    expected = ants.resample_image(image, (resolution,) * 3, use_voxels=False, interp_type=0)
    got = _resample(image, resolution)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.origin, expected.origin)
    np.testing.assert_allclose(got.spacing, expected.spacing)
    np.testing.assert_allclose(got.direction, expected.direction)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=1e-6)
    assert _resample(image, None) is image


# ----------------------------------------------------------------- image level


def _resample(img: nib.Nifti1Image, res: float, order: int = 1) -> nib.Nifti1Image:
    """Isotropic resampling with nibabel/scipy (keeps the field of view)."""
    from nibabel.processing import resample_to_output

    return resample_to_output(img, voxel_sizes=(res,) * 3, order=order)


def _derive_brain_mask(head3: nib.Nifti1Image) -> nib.Nifti1Image:
    """Template brain mask: the packaged one when present, else nilearn's MNI152 brain
    affinely registered to the pydeface head (metric restricted around the brain)."""
    if PACKAGED_BRAIN.exists():  # on the template's 1 mm grid: bring it to the test's grid
        mask = _resample(nib.load(str(PACKAGED_BRAIN)), RES, order=0)
        assert mask.shape == head3.shape and np.allclose(mask.affine, head3.affine)
        return mask
    head = nifti_to_ants(head3)
    mni = ants.image_read(str(NILEARN_MNI))
    mni = ants.resample_image(mni, (RES,) * 3, False, 0)
    brain = (mni > 0.05 * float(mni.max())).astype("float32")
    initial = ants.resample_image_to_target(brain, head, "linear")
    region = ants.iMath(initial > 0.5, "MD", 4)
    with ants_seed(1):
        reg = ants.registration(
            head,
            mni,
            "Affine",
            mask=region,
            mask_all_stages=True,
            initial_transform="Identity",
            aff_iterations=(100, 50, 20),
            aff_shrink_factors=(3, 2, 1),
            aff_smoothing_sigmas=(2, 1, 0),
        )
    warped = ants.apply_transforms(head, brain, reg["fwdtransforms"], "linear")
    data = (warped.numpy() > 0.5).astype(np.uint8)
    return nib.Nifti1Image(data, head3.affine)


def _rigidly_moved(img: nib.Nifti1Image, order: int) -> nib.Nifti1Image:
    """The image rotated 4 degrees about z and shifted (3, -2, 2) mm, same grid."""
    from scipy import ndimage as ndi

    angle = np.deg2rad(4.0)
    world = np.eye(4)
    world[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    world[:3, 3] = (3.0, -2.0, 2.0)
    vox = np.linalg.inv(img.affine) @ np.linalg.inv(world) @ img.affine
    data = ndi.affine_transform(np.asanyarray(img.dataobj).astype(np.float32), vox[:3, :3], vox[:3, 3], order=order)
    return nib.Nifti1Image(data, img.affine)


@pytest.fixture(scope="module")
def pydeface3():
    """3 mm pydeface head (template), a moved copy (subject), its face mask, brain mask."""
    head = _resample(nib.load(str(PYDEFACE / "mean_reg2mean.nii.gz")), RES)
    face = _resample(nib.load(str(PYDEFACE / "facemask.nii.gz")), RES, order=0)
    face = nib.Nifti1Image((face.get_fdata() > 0.5).astype(np.uint8), head.affine)
    brain = _derive_brain_mask(head)
    subject = _rigidly_moved(head, order=1)
    keep = _rigidly_moved(face, order=0).get_fdata() > 0.5  # pydeface: 1 = keep
    return {"template": head, "brain": brain, "subject": subject, "keep": keep}


def _with_data(img: nib.Nifti1Image, data: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(data.astype(np.float32), img.affine)


def _proper_deface_metrics(pydeface3) -> dict:
    """Fast impact metrics of the pydeface head against its proper deface (the face mask applied)."""
    subject = pydeface3["subject"]
    defaced = np.asanyarray(subject.dataobj) * pydeface3["keep"]
    return impact_metrics(
        subject,
        _with_data(subject, defaced),
        template_head=pydeface3["template"],
        template_brain_mask=pydeface3["brain"],
        mode="fast",
        seed=42,
        resolution_mm=RES,
    )


@pytest.fixture(scope="module")
def proper_metrics(pydeface3):
    return _proper_deface_metrics(pydeface3)


def test_proper_deface_passes(proper_metrics):
    m = proper_metrics
    ok, reasons = evaluate_impact(m, ImpactThresholds())
    assert ok, reasons
    assert m["brain_dice"] >= 0.99
    assert min(m["csf_iou"], m["gm_iou"], m["wm_iou"]) >= 0.95
    assert m["intensity_change_in_brain"] == 0.0
    assert m["displacement_mean_mm"] < 1.0
    assert m["cnr_original"] > 1.0  # the tissues were found


def test_metrics_record_is_flat_with_units(proper_metrics):
    assert all(isinstance(v, float) for v in proper_metrics.values())
    for key in (
        "brain_iou",
        "csf_volume_change_pct",
        "gm_volume_change_pct",
        "wm_volume_change_pct",
        "cnr_defaced",
        "displacement_max_mm",
        "time_total_s",
        "time_registration_affine_s",
        "brain_volume_original_ml",
    ):
        assert key in proper_metrics
    assert 500 < proper_metrics["brain_volume_original_ml"] < 2500


def test_same_input_twice_gives_identical_metrics(pydeface3, proper_metrics):
    again = _proper_deface_metrics(pydeface3)
    stable = {k: v for k, v in proper_metrics.items() if not k.startswith("time_")}
    assert {k: v for k, v in again.items() if not k.startswith("time_")} == stable


def test_proper_deface_passes_from_the_defacing_registration(pydeface3):
    """Both registrations start from the defacing one (here the true transform): brain stage only."""
    subject = pydeface3["subject"]
    angle = np.deg2rad(4.0)
    world = np.eye(4)  # as in _rigidly_moved: template -> subject world
    world[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    world[:3, 3] = (3.0, -2.0, 2.0)
    m = impact_metrics(
        subject,
        _with_data(subject, np.asanyarray(subject.dataobj) * pydeface3["keep"]),
        template_head=pydeface3["template"],
        template_brain_mask=pydeface3["brain"],
        mode="fast",
        seed=42,
        resolution_mm=RES,
        initial=np.linalg.inv(world),
    )
    ok, reasons = evaluate_impact(m, ImpactThresholds())
    assert ok, reasons
    assert m["brain_dice"] >= 0.99
    assert m["displacement_mean_mm"] < 1.0


@pytest.mark.parametrize("from_registration", [False, True])
def test_the_original_half_made_apart_gives_the_same_metrics(pydeface3, tmp_path, from_registration):
    """impact_original in one step (its transforms kept in its folder), the defaced half in another."""
    import pickle

    from bids_deface.methods.impact.metrics import impact_original

    subject = pydeface3["subject"]
    defaced = _with_data(subject, np.asanyarray(subject.dataobj) * pydeface3["keep"])
    settings = {
        "template_head": pydeface3["template"],
        "template_brain_mask": pydeface3["brain"],
        "mode": "fast",
        "seed": 42,
        "resolution_mm": RES,
        "initial": np.diag([1.0, 1.0, 1.0, 1.0]) if from_registration else None,
    }
    half = impact_original(subject, folder=tmp_path, **settings)
    assert all(Path(t).parent == tmp_path for t in half.run["transforms"])
    half = pickle.loads(pickle.dumps(half))  # as it travels between steps
    apart = impact_metrics(subject, defaced, before=half, **settings)
    together = impact_metrics(subject, defaced, **settings)
    assert {k: v for k, v in apart.items() if not k.startswith("time_")} == {
        k: v for k, v in together.items() if not k.startswith("time_")
    }
    with pytest.raises(ValueError, match="other settings"):
        impact_metrics(subject, defaced, before=half, **{**settings, "seed": 7})


@pytest.mark.parametrize("oblique", [False, True])
def test_the_brain_check_without_resampling_agrees_with_ants(oblique):
    """may_touch_brain says False only where ANTs' nearest-neighbour brain misses every changed voxel."""
    import ants

    from bids_deface.methods.impact.native import may_touch_brain
    from bids_deface.methods.impact.pipeline import NativeChanges, WorkingImages

    rng = np.random.default_rng(3)
    angle = np.deg2rad(17.0) if oblique else 0.0
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    native = ants.from_numpy(np.zeros((40, 36, 30), np.float32), origin=(3.0, -2.0, 1.0), direction=direction)
    work = ants.resample_image(native, (2.0, 2.0, 2.0), use_voxels=False, interp_type=0)  # ties everywhere
    grid = native.clone("unsigned char")
    agreed = {True: 0, False: 0}
    for _ in range(12):
        brain = np.zeros(work.shape, bool)
        lo = rng.integers(2, 8, 3)
        brain[tuple(slice(a, a + int(rng.integers(2, 8))) for a in lo)] = True
        index = rng.choice(native.numpy().size, size=int(rng.integers(1, 60)), replace=False)
        images = WorkingImages(NativeChanges(grid, index, np.ones(index.size)), work, work, work, work)
        resampled = ants.resample_image_to_target(
            work.new_image_like(brain.astype(np.float32)), grid, interp_type="nearestNeighbor"
        )
        itk = bool((resampled.numpy() > 0.5).ravel()[index].any())
        fast = may_touch_brain(images, brain)
        assert may_touch_brain(images, brain, chunk=7) == fast  # in chunks, the same answer
        assert fast or not itk, "a changed voxel in the brain must never be missed"
        agreed[itk] += fast == itk
    assert agreed[False] > 0 and agreed[True] > 0  # both cases met; the shortcut answers alone in some


def test_frontal_lobe_cut_is_flagged(pydeface3):
    subject = pydeface3["subject"]
    data = np.asanyarray(subject.dataobj) * pydeface3["keep"]
    brain = pydeface3["brain"].get_fdata() > 0.5
    # cut everything anterior of a coronal plane 25 mm behind the front of the brain
    ys = np.nonzero(brain.any(axis=(0, 2)))[0]
    cut_from = ys.max() - int(round(25 / RES))
    data[:, cut_from:, :] = 0
    metrics = impact_metrics(
        subject,
        _with_data(subject, data),
        template_head=pydeface3["template"],
        template_brain_mask=pydeface3["brain"],
        mode="fast",
        seed=42,
        resolution_mm=RES,
    )
    ok, reasons = evaluate_impact(metrics, ImpactThresholds())
    assert not ok
    assert metrics["intensity_change_in_brain"] > 0
    assert metrics["brain_dice"] < 0.99
    assert any("brain_dice" in r for r in reasons)
    assert any("intensity_change_in_brain" in r for r in reasons)


def test_identical_images_have_no_impact(pydeface3):
    subject = pydeface3["subject"]
    m = impact_metrics(
        subject,
        subject,
        template_head=pydeface3["template"],
        template_brain_mask=pydeface3["brain"],
        resolution_mm=RES,
    )
    assert m["brain_dice"] == 1.0 and m["gm_iou"] == 1.0
    assert m["displacement_max_mm"] == 0.0
    assert m["cnr_change_pct"] == 0.0


@pytest.mark.slow
def test_full_mode_adds_syn(pydeface3):
    subject = pydeface3["subject"]
    defaced = np.asanyarray(subject.dataobj) * pydeface3["keep"]
    m = impact_metrics(
        subject,
        _with_data(subject, defaced),
        template_head=pydeface3["template"],
        template_brain_mask=pydeface3["brain"],
        mode="full",
        resolution_mm=RES,
    )
    assert m["time_registration_syn_s"] > 0
    assert m["brain_dice"] >= 0.99
    assert m["intensity_change_in_brain"] == 0.0


def test_input_errors(pydeface3):
    subject, template, brain = pydeface3["subject"], pydeface3["template"], pydeface3["brain"]
    kwargs = {"template_head": template, "template_brain_mask": brain}
    with pytest.raises(ValueError, match="mode"):
        impact_metrics(subject, subject, mode="slow", **kwargs)
    with pytest.raises(ValueError, match="contrast"):
        impact_metrics(subject, subject, contrast="DWI", **kwargs)
    smaller = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), subject.affine)
    with pytest.raises(ValueError, match="shape"):
        impact_metrics(subject, smaller, **kwargs)
    moved_affine = subject.affine.copy()
    moved_affine[0, 3] += 5
    with pytest.raises(ValueError, match="affine"):
        impact_metrics(subject, nib.Nifti1Image(subject.get_fdata(), moved_affine), **kwargs)
