"""Template-to-image registration with antspyx, and transform bookkeeping.

Every transform here is a 4x4 matrix in RAS+ world millimetres that maps a point of the
*image* (the fixed space) to the corresponding point of the *moving* space (the template,
or a session's reference image): exactly what resampling the moving space onto the
image's grid needs. ANTs/ITK transforms (LPS, centre-based) are converted once, in
:func:`itk_to_ras`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import ants
import nibabel as nib
import numpy as np

from ..ants_bridge import ants_seed, nifti_to_ants
from ..errors import RegistrationError
from ..overlap import dice
from ..volume import coarse_head_mask, downsample, resample_to, to_plausible_size

LOGGER = logging.getLogger(__name__)

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Fraction of the fixed image's voxels the Mattes metric samples at each linear stage. At
#: ANTs' usual 0.25 both routes took 1-4 s less on the shared heads, but sub-reg's template
#: registration (60 slices of 2 mm) went 36 mm astray, and the second route's brain moved
#: into what a deface removed on sub-chris's PDw (audited alone) and on a head with a wrong
#: voxel size (benchmarks/README.md, "Speed issue, second round").
SAMPLING_RATE = 0.5


@dataclass(frozen=True)
class RegistrationCriteria:
    """When a template registration is believed. Outside these it is an error, never a bad deface."""

    #: Plausible isotropic scale of the subject's head relative to the template
    #: (a child's head is ~0.75; a header whose voxel size is wrong by 2 is outside).
    scale_range: tuple[float, float] = (0.55, 1.6)
    #: Largest ratio between the affine's singular values (shear / squash): well above what
    #: good registrations give, below a squashed one (docs/methods.rst, registration section).
    max_anisotropy: float = 1.35
    #: Lowest Dice between the template head and the image head, inside the field of view.
    min_head_dice: float = 0.80
    #: Largest ratio between the registration's scale and the head's size from its extent
    #: for a scale outside ``scale_range`` to be believed (a header with a wrong voxel size).
    max_size_disagreement: float = 1.25


@dataclass(frozen=True)
class Registration:
    """Result of registering the template to an image."""

    #: 4x4 RAS matrix: image world point -> template world point.
    image_to_template: np.ndarray
    #: Dice of the template's head mask and the image's head mask (inside the image's field of view).
    head_dice: float
    #: Normalised mutual information of the two images in the head (1 = independent, higher is better).
    nmi: float
    #: Isotropic scale (cube root of the determinant) of template -> image.
    scale: float
    #: Ratio of the largest to the smallest singular value of the linear part.
    anisotropy: float
    n_starts: int = 0
    #: The head's size relative to the template's from their extents alone (no registration).
    head_size_ratio: float = 1.0
    #: Set when the scale is outside the plausible range but the head's extent agrees with
    #: it: the header's voxel size is wrong, the registration is right (a person must look).
    voxel_size_review: str | None = None
    extra: dict = field(default_factory=dict)

    def as_metrics(self) -> dict:
        metrics = {
            "registration_head_dice": round(float(self.head_dice), 4),
            "registration_nmi": round(float(self.nmi), 4),
            "registration_scale": round(float(self.scale), 4),
            "registration_anisotropy": round(float(self.anisotropy), 4),
            "head_size_ratio": round(float(self.head_size_ratio), 4),
        }
        if self.voxel_size_review:
            metrics["review_voxel_size"] = self.voxel_size_review
        return metrics


def itk_to_ras(parameters, fixed_parameters) -> np.ndarray:
    """Convert an ITK affine (LPS; ``T(x) = A (x - c) + t + c``) to a 4x4 RAS matrix."""
    params = np.asarray(parameters, dtype=float)
    center = np.asarray(fixed_parameters, dtype=float)[:3]
    linear = params[:9].reshape(3, 3)
    translation = params[9:12]
    lps = np.eye(4)
    lps[:3, :3] = linear
    lps[:3, 3] = translation + center - linear @ center
    return _LPS @ lps @ _LPS


def read_itk_affine(path: str | os.PathLike) -> np.ndarray:
    """Read an ANTs ``.mat`` affine as a 4x4 RAS matrix (fixed point -> moving point)."""
    transform = ants.read_transform(str(path))
    return itk_to_ras(transform.parameters, transform.fixed_parameters)


def _normalised_mi(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    """Studholme's normalised mutual information (H(A) + H(B)) / H(A, B)."""
    if a.size < 10:
        return 0.0
    hist, _, _ = np.histogram2d(a, b, bins=bins)
    p = hist / hist.sum()
    px, py = p.sum(axis=1), p.sum(axis=0)

    def entropy(q):
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    joint = entropy(p.ravel())
    return (entropy(px) + entropy(py)) / joint if joint > 0 else 0.0


def register_to_template(
    image: nib.Nifti1Image,
    template: nib.Nifti1Image,
    *,
    resolution_mm: float = 4.0,
    search_resolution_mm: float = 8.0,
    search_degrees: float = 30.0,
    search_step_degrees: float = 15.0,
    seed: int = 42,
    criteria: RegistrationCriteria = RegistrationCriteria(),
    source: str | os.PathLike | None = None,
) -> Registration:
    """Affine registration of a head template to an image, with a multi-start search.

    The search (ANTs ``antsAffineInitializer``) tries rotations of up to
    ``search_degrees`` around every axis on an ``search_resolution_mm`` copy, from the
    centres of mass; the best start is refined by a Mattes-MI rigid, then affine,
    registration on a ``resolution_mm`` copy. Both images' world (RAS) frames are trusted for orientation,
    so any of the 48 axis orders/flips in a correct header is handled exactly.

    Raises
    ------
    RegistrationError
        The result is implausible (scale, shear, head overlap): defacing with it would
        not be trustworthy.
    """
    # a permutation/flip only (no interpolation): every axis order gives the same inputs
    image = nib.as_closest_canonical(image)
    moving_small = downsample(template, resolution_mm)
    scaled, scaled_small, to_head_size, size_ratio = to_plausible_size(
        image, moving_small, resolution_mm=resolution_mm, scale_range=criteria.scale_range
    )
    search = {
        "search_resolution_mm": search_resolution_mm,
        "search_degrees": search_degrees,
        "search_step_degrees": search_step_degrees,
        "seed": seed,
    }
    registration = _register_template(scaled, scaled_small, to_head_size, template, moving_small, **search)
    registration = replace(registration, head_size_ratio=size_ratio)
    LOGGER.debug("registration of %s: %s", source, registration.as_metrics())
    try:
        return _check(registration, criteria, source)
    except RegistrationError:
        if scaled is image:
            raise
    # the head's extent was misjudged (an odd field of view): the registration as for any head
    LOGGER.info("%s: the registration from the head's extent failed; retrying at the header's size", source)
    image_small = downsample(image, resolution_mm)
    registration = _register_template(image, image_small, np.eye(4), template, moving_small, **search)
    return _check(replace(registration, head_size_ratio=size_ratio), criteria, source)


def _register_template(
    image: nib.Nifti1Image,
    fixed_small: nib.Nifti1Image,
    image_to_registered: np.ndarray,
    template: nib.Nifti1Image,
    moving_small: nib.Nifti1Image,
    *,
    search_resolution_mm: float,
    search_degrees: float,
    search_step_degrees: float,
    seed: int,
) -> Registration:
    """The search and the rigid, then affine, stages of :func:`register_to_template`, unchecked.

    ``image`` is in the world frame the registration runs in, ``fixed_small`` its registration
    copy; ``image_to_registered`` maps the original image's world to it, and is folded into
    the returned transform.
    """
    fixed = nifti_to_ants(fixed_small)
    moving = nifti_to_ants(moving_small)
    fixed_search = nifti_to_ants(downsample(image, search_resolution_mm))
    moving_search = nifti_to_ants(downsample(template, search_resolution_mm))
    with tempfile.TemporaryDirectory(prefix="bids_deface_reg_") as tmp:
        init = ants.affine_initializer(
            fixed_search,
            moving_search,
            search_factor=search_step_degrees,
            radian_fraction=search_degrees / 180.0,
            use_principal_axis=False,
            local_search_iterations=5,
            txfn=str(Path(tmp) / "init.mat"),
        )
        # the initializer fits scale and shear too: a rigid stage first settles the rotation
        # (docs/methods.rst, "Registration of the template")
        rigid = _ants_linear(fixed, moving, "Rigid", init, seed, Path(tmp) / "rigid_")
        matrix = _linear_registration(fixed, moving, "Affine", rigid, seed, Path(tmp) / "reg_")
    registration = _assess(fixed_small, moving_small, matrix)
    composed = matrix @ image_to_registered
    scale, anisotropy = _linear_shape(composed)
    return replace(registration, image_to_template=composed, scale=scale, anisotropy=anisotropy)


def _linear_shape(image_to_template: np.ndarray) -> tuple[float, float]:
    """Isotropic scale and singular value ratio of the template -> image linear part."""
    linear = np.linalg.inv(image_to_template)[:3, :3]
    singular = np.linalg.svd(linear, compute_uv=False)
    return float(abs(np.linalg.det(linear)) ** (1.0 / 3.0)), float(singular.max() / singular.min())


def _assess(fixed: nib.Nifti1Image, moving: nib.Nifti1Image, image_to_template: np.ndarray) -> Registration:
    fixed_data = np.asanyarray(fixed.dataobj)
    moving_data = np.asanyarray(moving.dataobj)
    warped = resample_to(moving_data, moving.affine, fixed_data.shape, fixed.affine, image_to_template, cval=np.nan)
    in_view = np.isfinite(warped)
    warped = np.nan_to_num(warped)
    fixed_head = coarse_head_mask(fixed_data)
    moving_head = coarse_head_mask(warped) & in_view
    # no head found in the image is a failed registration (overlap.dice calls two empty masks 1.0)
    head_dice = dice(fixed_head & in_view, moving_head) if (fixed_head & in_view).any() else 0.0
    union = (fixed_head | moving_head) & in_view
    nmi = _normalised_mi(fixed_data[union], warped[union])
    scale, anisotropy = _linear_shape(image_to_template)
    return Registration(
        image_to_template=image_to_template, head_dice=head_dice, nmi=nmi, scale=scale, anisotropy=anisotropy
    )


def _check(reg: Registration, criteria: RegistrationCriteria, source) -> Registration:
    low, high = criteria.scale_range
    problems = []
    sizes_agree = max(reg.scale, reg.head_size_ratio) / min(reg.scale, reg.head_size_ratio) <= (
        criteria.max_size_disagreement
    )
    implausible = not (low <= reg.scale <= high and low <= reg.head_size_ratio <= high)
    if implausible and sizes_agree:
        reg = replace(
            reg,
            voxel_size_review=(
                f"the header's voxel size looks wrong: the head is {reg.scale:.2f} times the template's size "
                f"by registration and {reg.head_size_ratio:.2f} by its extent (a real head is {low}-{high}); "
                "defaced through the scaled registration, check the voxel size in the header"
            ),
        )
    elif implausible:
        problems.append(
            f"implausible head scale {reg.scale:.2f} (expected {low}-{high}; the head's extent says "
            f"{reg.head_size_ratio:.2f})"
        )
    if reg.anisotropy > criteria.max_anisotropy:
        problems.append(
            f"implausible shear/squash (singular value ratio {reg.anisotropy:.2f} > {criteria.max_anisotropy})"
        )
    if reg.head_dice < criteria.min_head_dice:
        problems.append(
            f"template head overlaps the image head poorly (Dice {reg.head_dice:.2f} < {criteria.min_head_dice})"
        )
    if problems:
        raise RegistrationError(source, "template registration failed: " + "; ".join(problems))
    return reg


def register_rigid(
    image: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    *,
    resolution_mm: float = 4.0,
    seed: int = 42,
) -> np.ndarray:
    """Rigid co-registration of a session's reference image to another image of the session.

    Returns the 4x4 RAS matrix mapping ``image`` world points to ``reference`` world
    points. Initialised from the headers (same session, same scanner frame) and refined
    with Mattes MI, so that images on different grids, fields of view and contrasts are
    aligned instead of assumed aligned.
    """
    fixed = nifti_to_ants(downsample(nib.as_closest_canonical(image), resolution_mm))
    moving = nifti_to_ants(downsample(nib.as_closest_canonical(reference), resolution_mm))
    with tempfile.TemporaryDirectory(prefix="bids_deface_rigid_") as tmp:
        # same session, same scanner frame: start from the headers, not the centres of mass
        return _linear_registration(fixed, moving, "Rigid", "Identity", seed, Path(tmp) / "rigid_")


def register_from_moments(
    image: nib.Nifti1Image,
    moving: nib.Nifti1Image,
    *,
    resolution_mm: float = 4.0,
    seed: int = 42,
    scale_range: tuple[float, float] = RegistrationCriteria.scale_range,
) -> np.ndarray:
    """Similarity, then affine, registration of ``moving`` to ``image`` from their centres of mass.

    A second route beside :func:`register_to_template`: no rotation search, started from the
    centres of intensity mass (ANTs' default initial transform), a similarity stage (rotation
    and one scale) before the affine one. Returns the 4x4 RAS matrix ``image`` world ->
    ``moving`` world. A head far from ``moving``'s size (a wrong voxel size in the header) is
    registered in a world frame brought to that size (:func:`to_plausible_size`).
    """
    moving_small = downsample(moving, resolution_mm)
    _, fixed_small, to_head_size, _ = to_plausible_size(
        nib.as_closest_canonical(image), moving_small, resolution_mm=resolution_mm, scale_range=scale_range
    )
    fixed = nifti_to_ants(fixed_small)
    moving_ants = nifti_to_ants(moving_small)
    with tempfile.TemporaryDirectory(prefix="bids_deface_moments_") as tmp:
        similarity = _ants_linear(fixed, moving_ants, "Similarity", None, seed, Path(tmp) / "similarity_")
        matrix = _linear_registration(fixed, moving_ants, "Affine", similarity, seed, Path(tmp) / "affine_")
    return matrix @ to_head_size


def _linear_registration(fixed, moving, kind: str, initial, seed: int, prefix: Path) -> np.ndarray:
    """Mattes-MI linear registration, two levels (half, then full resolution of the copy)."""
    return read_itk_affine(_ants_linear(fixed, moving, kind, initial, seed, prefix))


def _ants_linear(fixed, moving, kind: str, initial, seed: int, prefix: Path) -> str:
    """The ANTs transform file of :func:`_linear_registration` (initial transform included)."""
    with ants_seed(seed):
        result = ants.registration(
            fixed,
            moving,
            type_of_transform=kind,
            initial_transform=initial,
            aff_metric="mattes",
            aff_sampling=32,
            aff_random_sampling_rate=SAMPLING_RATE,
            aff_iterations=(100, 50),
            aff_shrink_factors=(2, 1),
            aff_smoothing_sigmas=(1, 0),
            outprefix=str(prefix),
        )
    return result["fwdtransforms"][0]
