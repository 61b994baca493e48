"""The structural mini-pipeline of the ANTs impact check (antspyx).

The original and the defaced image go through the SAME small structural pipeline, with
identical settings and random seeds:

1. resampling to an isotropic working grid (``resolution_mm``);
2. N4 bias-field correction inside a head mask (``ants.get_mask``: above the mean);
3. registration of a head template to the image: affine ("fast"), then SyN ("full"),
   on a coarse pyramid (8 and 4 mm for the affine stage), refined with the metric
   restricted to the brain region, both images starting from the same translation
   (centres of mass of the ORIGINAL image and of the template); or, given the defacing
   registration (made on the original), both images start from it and only the
   brain-region refinement runs;
4. brain extraction: the template brain mask carried by that registration, refined by
   dropping voxels darker than 10 % of the robust maximum inside it (air, bone) and
   keeping the largest connected component with holes filled;
5. three-class tissue segmentation inside the brain mask: deterministic 1D k-means of
   the intensities ("fast") or Atropos with MRF smoothing ("full"); classes are named
   by their intensity order for the contrast (``TISSUE_ORDER``).

The outputs are compared in :mod:`bids_deface.methods.impact.metrics`.

Determinism. ANTs threading follows ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS``, which ITK
reads once per process (at its first multithreaded call); this module sets no global state
at import. Original and defaced are processed with the same thread count (the workflow
runs both halves, :func:`~bids_deface.methods.impact.metrics.impact_original` and
:func:`~bids_deface.methods.impact.metrics.impact_metrics`, on one thread). At a given
thread count the same input gives the same metrics (``time_*`` keys aside), within a
process and across runs; N4's result moves in the last digits with the thread count, which
is why the workflow and the tests run ANTs on one thread:

* the affine stages use Mattes mutual information with seeded random sampling
  (reproducible on one thread; global correlation, which ANTs' "Repro" presets use for
  their thread independence, let the missing face move the T1w registrations: see
  "Why these choices" in docs/methods.rst);
* the SyN stage uses Mattes MI on all voxels (no random sampling);
* the antspyx registration seed is a module-level setting (``ants.config._random_seed``),
  set for the duration of each registration call and restored afterwards;
* masks given to ``ants.iMath`` morphology are float images (on uint8 images its
  dilation read undefined memory: three calls on one input gave three masks);
* Atropos ("full" mode) runs with ``-r 0`` (constant seed); "fast" mode uses a
  deterministic numpy k-means.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from bids_deface.methods.ants_bridge import ants_geometry, ants_seed, nifti_to_ants, volume_3d, write_ras_affine
from bids_deface.methods.impact.tissues import brain_mask, segment

LOGGER = logging.getLogger(__name__)

MODES = ("fast", "full")

#: Voxel size (mm) at which N4 fits the bias field (a smooth field needs no more).
N4_GRID_MM = 6.0

#: Voxel sizes (mm) of the affine registration pyramid levels.
AFFINE_LEVELS_MM = (8.0, 4.0)

#: Voxel sizes (mm) of the brain-region affine refinement levels.
BRAIN_LEVELS_MM = (4.0, 2.0)

#: Margin (mm) around the carried template brain mask for the brain-region stages; wider
#: margins let tissue next to the face back in (docs/methods.rst, "Why these choices").
BRAIN_REGION_MARGIN_MM = 2.0


class NativeChanges(NamedTuple):
    """What defacing changed on the native grid: the voxels (flat indices) and by how much.

    Kept instead of the two native images (4 bytes a voxel each, and 8 in the comparison):
    ``grid`` is a uint8 image on the native grid, a resampling target.
    """

    grid: object
    index: np.ndarray
    size: np.ndarray


class WorkingImages(NamedTuple):
    """The ANTs images of one comparison: native changes, working-grid pair, and the template."""

    native: NativeChanges
    work_original: object
    work_defaced: object
    template: object
    template_brain: object


# --------------------------------------------------------------------------- grids


def _resample(image, resolution_mm: float | None):
    """Resample an ANTs image to isotropic ``resolution_mm`` (linear; no-op when ``None``).

    ``ants.resample_image(image, (r, r, r), use_voxels=False, interp_type=0)`` in NumPy: the
    same grid (origin and direction kept, each axis ``floor(size * spacing / r + 0.5)``
    voxels) and trilinear values computed in double precision as ITK computes them, equal to
    ITK's to 1e-9 (the last bits of a few values near zero), at a fifth of the cost (0.14
    against 0.65 s for a 1 mm head). Points less than half a voxel beyond the last voxel
    centre take the edge value, as ITK's linear interpolator gives them; further out, 0.
    """
    import ants

    if resolution_mm is None:
        return image
    shape = tuple(max(1, int(np.floor(n * s / resolution_mm + 0.5))) for n, s in zip(image.shape, image.spacing))
    step = np.array([resolution_mm / s for s in image.spacing])
    values = ndi.affine_transform(
        image.numpy(), np.diag(step), output_shape=shape, output=np.float64, order=1, mode="nearest", prefilter=False
    )
    for axis, (size, stride) in enumerate(zip(image.shape, step)):
        beyond = np.arange(shape[axis]) * stride >= size - 0.5
        if beyond.any():
            values[(slice(None),) * axis + (beyond,)] = 0.0
    return ants.from_numpy(
        values.astype(np.float32), origin=image.origin, spacing=(resolution_mm,) * 3, direction=image.direction
    )


def _shrink_factors(image, levels_mm: tuple[float, ...]) -> tuple[int, ...]:
    """Registration shrink factors making each pyramid level about ``levels_mm``."""
    return tuple(max(1, int(round(mm / min(image.spacing)))) for mm in levels_mm)


def _n4_shrink_factor(image, target_mm: float = N4_GRID_MM) -> int:
    """Shrink factor bringing the N4 fitting grid near ``target_mm`` (at least 1)."""
    return max(1, int(round(target_mm / min(image.spacing))))


def working_image(img: nib.Nifti1Image, resolution_mm: float | None):
    """An image in ANTs, on the working grid."""
    return _resample(nifti_to_ants(img), resolution_mm)


def working_template(template_head: nib.Nifti1Image, template_brain_mask: nib.Nifti1Image, resolution_mm: float | None):
    """The template head on the working grid, and its brain mask on the head's."""
    import ants

    template = _resample(nifti_to_ants(template_head), resolution_mm)
    template_brain = ants.resample_image_to_target(nifti_to_ants(template_brain_mask), template, interp_type="linear")
    return template, template_brain


def defaced_images(
    original: nib.Nifti1Image, defaced: nib.Nifti1Image, work_original, template, template_brain, resolution_mm
) -> WorkingImages:
    """The images of a comparison in ANTs, once the original's working image and the template's exist."""
    work_defaced = working_image(defaced, resolution_mm)  # first: the native changes can reuse its memory
    native = _native_changes(original, defaced)
    return WorkingImages(native, work_original, work_defaced, template, template_brain)


def _native_changes(original: nib.Nifti1Image, defaced: nib.Nifti1Image) -> NativeChanges:
    """The voxels whose value defacing changed, and the absolute change (float64) at each.

    Compared as the float32 values the pipeline works on, but without making its float32
    copies of the two whole images (and ANTs' own: 220 MB on a 1 mm head).
    """
    import ants

    a, b = volume_3d(original), volume_3d(defaced)
    index = np.flatnonzero(a != b)
    before, after = a.flat[index].astype(np.float32), b.flat[index].astype(np.float32)
    changed = before != after  # two values may differ only beyond float32's precision
    index, before, after = index[changed], before[changed], after[changed]
    size = np.abs(before.astype(np.float64) - after.astype(np.float64))
    grid = ants.from_numpy(np.zeros(a.shape, np.uint8), **ants_geometry(original))
    return NativeChanges(grid, index, size)


# --------------------------------------------------------------------------- registration


def center_of_mass_init(fixed, moving, path: str) -> str:
    """Write the translation aligning the intensity centres of mass of two ANTs images.

    Maps fixed-space points to moving-space points (the ANTs forward convention) and is
    computed ONCE, on the original image, then used for both registrations: defacing
    removes the face and shifts the centre of mass by several mm, which would otherwise
    start the two registrations from different points.
    """
    import ants

    def com(image) -> np.ndarray:
        data = np.clip(image.numpy(), 0, None)
        index = np.argwhere(data > 0)
        weights = data[data > 0]
        centre = (index * weights[:, None]).sum(axis=0) / weights.sum()
        direction = np.asarray(image.direction).reshape(3, 3)
        return np.asarray(image.origin) + direction @ (centre * np.asarray(image.spacing))

    shift = com(moving) - com(fixed)
    transform = ants.create_ants_transform(transform_type="AffineTransform", dimension=3, translation=tuple(shift))
    ants.write_transform(transform, path)
    return path


def _head_affine(fixed, moving, initial: str, metric: str) -> dict:
    """Stage 1: whole-image affine from the centre-of-mass translation (finds the head)."""
    import ants

    return ants.registration(
        fixed,
        moving,
        type_of_transform="Affine",
        initial_transform=[initial],
        aff_metric=metric,
        aff_random_sampling_rate=0.2,
        aff_iterations=(100, 50),
        aff_shrink_factors=_shrink_factors(fixed, AFFINE_LEVELS_MM),
        aff_smoothing_sigmas=(2, 1),
    )


def _brain_region(fixed, template_brain, transforms: list[str]):
    """The template brain carried by ``transforms``, dilated by ``BRAIN_REGION_MARGIN_MM``.

    What lies outside it (face, neck, field of view) no longer drives the later stages.
    """
    import ants

    warped = ants.apply_transforms(fixed, template_brain, transforms)
    radius = max(1, int(round(BRAIN_REGION_MARGIN_MM / min(fixed.spacing))))
    # iMath's morphology needs a float image: on the uint8 image that ``>`` returns,
    # "MD" read undefined memory (dilated masks of 53k, 270k and 58k voxels from one
    # input in three calls: the first registration in a process differed from the rest)
    return ants.iMath((warped > 0.5).astype("float32"), "MD", radius)


def _brain_affine(fixed, moving, transforms: list[str], region, metric: str, iterations=(50, 25)) -> dict:
    """Stage 2: the same affine refined with the metric restricted to the brain region."""
    import ants

    return ants.registration(
        fixed,
        moving,
        type_of_transform="Affine",
        initial_transform=transforms,
        mask=region,
        aff_metric=metric,
        aff_random_sampling_rate=0.1,
        aff_iterations=iterations,
        aff_shrink_factors=_shrink_factors(fixed, BRAIN_LEVELS_MM),
        aff_smoothing_sigmas=(1, 0),
    )


def _syn_stage(fixed, moving, transforms: list[str], region) -> list[str]:
    """The "full" mode's SyN stage on the brain region; returns warps + ``transforms``."""
    import ants

    syn = ants.registration(
        fixed,
        moving,
        type_of_transform="SyNOnly",
        initial_transform=transforms,
        mask=region,
        syn_metric="mattes",
        syn_sampling=32,
        reg_iterations=(40, 20, 10),
        grad_step=0.2,
        flow_sigma=3,
    )
    warps = [t for t in syn["fwdtransforms"] if not t.endswith(".mat")]
    return warps + transforms


def _register(
    fixed,
    moving,
    mode: str,
    seed: int,
    initial: str,
    template_brain=None,
    metric: str = "mattes",
    head_stage: bool = True,
) -> tuple[list[str], dict[str, float]]:
    """Register ``moving`` (template) to ``fixed`` (subject), deterministically.

    Stage 1, a whole-image affine, finds the head; stage 2 refines it with the metric
    restricted to the brain region that stage 1 carried, so what defacing removed no
    longer pulls. Stage 1 takes no head mask: on a thick-slab image a head mask let the
    affine stretch the template along the slab (docs/methods.rst, "Why these choices").

    ``metric``: the affine stages' metric, Mattes mutual information by default, for
    every contrast: correlation with a T1w template is meaningless for other contrasts,
    and on T1w it let the missing face pull the registration (see the module notes).

    ``head_stage=False``: ``initial`` (the defacing registration) has placed the head: no stage 1.

    Returns the forward transform list (maps subject points to template points, and the
    template image onto the subject grid) and the time per stage in seconds.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with ants_seed(seed):
        head = [initial]
        if head_stage:
            head = list(_head_affine(fixed, moving, initial, metric)["fwdtransforms"])
        region = _brain_region(fixed, template_brain, head)
        # from the defacing registration the stage travels further: it gets the head stage's budget
        iterations = (50, 25) if head_stage else (100, 50)
        affine = _brain_affine(fixed, moving, head, region, metric, iterations)
        transforms = list(affine["fwdtransforms"])
        timings["time_registration_affine_s"] = time.perf_counter() - start
        if mode == "full":
            start = time.perf_counter()
            transforms = _syn_stage(fixed, moving, transforms, region)
            timings["time_registration_syn_s"] = time.perf_counter() - start
    return transforms, timings


# --------------------------------------------------------------------------- one image, both images


def process_image(
    image, template, template_brain, mode: str, seed: int, contrast: str, initial: str, head_stage: bool = True
) -> dict:
    """Run the structural mini-pipeline on one (working-grid) ANTs image, from the start ``initial``."""
    import ants

    LOGGER.debug("impact: processing an image of %s (%s mode)", image.shape, mode)

    timings: dict[str, float] = {}
    start = time.perf_counter()
    head = ants.get_mask(image, cleanup=0)
    corrected = ants.n4_bias_field_correction(
        image,
        mask=head,
        shrink_factor=_n4_shrink_factor(image),
        convergence={"iters": [20, 10], "tol": 1e-4},
    )
    timings["time_n4_s"] = time.perf_counter() - start

    transforms, reg_times = _register(corrected, template, mode, seed, initial, template_brain, head_stage=head_stage)
    timings.update(reg_times)

    start = time.perf_counter()
    warped = ants.apply_transforms(corrected, template_brain, transforms, interpolator="linear")
    brain = brain_mask(corrected, warped)
    timings["time_brain_extraction_s"] = time.perf_counter() - start

    start = time.perf_counter()
    tissues = segment(corrected, brain, contrast, mode)
    timings["time_segmentation_s"] = time.perf_counter() - start
    return {
        "corrected": corrected.numpy(),
        "transforms": transforms,
        "brain": brain,
        "tissues": tissues,
        "timings": timings,
    }


def start_transform(work_original, template, initial: np.ndarray | None, path: str) -> str:
    """Write the start of both registrations to ``path``: ``initial``, else the centres of mass."""
    if initial is None:
        return center_of_mass_init(work_original, template, path)
    return write_ras_affine(initial, path)
