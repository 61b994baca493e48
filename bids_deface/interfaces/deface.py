"""Thin nipype interfaces over :mod:`bids_deface.methods` (registration, masks, deface)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from ..config import DEFAULTS, SCRUB_LEVELS
from ..methods.deface.removal import METHODS


class ANTsInputSpec(BaseInterfaceInputSpec):
    """Inputs of every step that runs ANTs: its random seed and its threads (not part of the hash)."""

    seed = traits.Int(DEFAULTS.seed, usedefault=True)
    num_threads = traits.Int(1, usedefault=True, nohash=True)


@contextmanager
def ants_threads(n: int):
    """Ask ANTs/ITK for ``n`` threads inside this node.

    ITK reads the variable once per process, at its first multithreaded call, so this
    decides only in a worker that has not run ANTs yet; the participant level also sets
    it (to 1, unless the user did) for every worker it starts.
    """
    names = ("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "OMP_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(max(1, int(n)))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@lru_cache(maxsize=4)
def load_template(name: str):
    """The template head and its masks, loaded once per process."""
    from ..data.templates import get_template
    from ..methods.deface.masks import TemplateMasks

    tpl = get_template(name)
    masks = TemplateMasks(
        brain=nib.load(tpl.brain_mask),
        face=nib.load(tpl.face_mask),
        ears=nib.load(tpl.ears_mask),
        features=nib.load(tpl.features),
    )
    return tpl, nib.load(tpl.head), masks


def image_to_template(inputs) -> np.ndarray:
    """The image -> template matrix: the session's registration, after the rigid
    co-registration to the reference for images other than the reference."""
    matrix = np.loadtxt(inputs.image_to_template)
    if isdefined(inputs.image_to_reference):
        matrix = matrix @ np.loadtxt(inputs.image_to_reference)
    return matrix


def _warp_ears(template_masks, img, matrix) -> np.ndarray:
    from ..methods.volume import resample_support

    ears = template_masks.ears
    return resample_support(np.asanyarray(ears.dataobj), ears.affine, img.shape[:3], img.affine, matrix) >= 0.5


def _independent_brain_removed(inputs, img, removal) -> dict:
    """Removed voxels inside the independent brain core (:mod:`bids_deface.methods.deface.brain_check`)."""
    from .brain import carried_mask

    if not isdefined(inputs.brain_core):
        return {}
    to_reference = np.loadtxt(inputs.image_to_reference) if isdefined(inputs.image_to_reference) else None
    core = carried_mask(inputs.brain_core, img, to_reference)
    return {"brain_voxels_removed_independent": int((removal & core).sum())}


class _RegisterTemplateInputSpec(ANTsInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the session's reference image")
    template = traits.Str(DEFAULTS.template, usedefault=True)
    resolution_mm = traits.Float(DEFAULTS.registration_resolution_mm, usedefault=True)


class _RegisterTemplateOutputSpec(TraitedSpec):
    image_to_template = File(exists=True, desc="4x4 RAS matrix, image world -> template world")
    metrics = traits.Dict(desc="registration metrics")


class RegisterTemplate(SimpleInterface):
    """Multi-start affine registration of the head template to a reference image."""

    input_spec = _RegisterTemplateInputSpec
    output_spec = _RegisterTemplateOutputSpec

    def _run_interface(self, runtime):
        from ..methods.deface.register import register_to_template
        from ..methods.io import in_memory, load_image

        start = time.monotonic()
        # each read once: the registration makes two copies of each at two resolutions
        img = in_memory(load_image(self.inputs.in_file))
        head = in_memory(load_template(self.inputs.template)[1])
        with ants_threads(self.inputs.num_threads):
            reg = register_to_template(
                img, head, resolution_mm=self.inputs.resolution_mm, seed=self.inputs.seed, source=self.inputs.in_file
            )
        out = Path(runtime.cwd) / "image_to_template.txt"
        np.savetxt(out, reg.image_to_template)
        self._results["image_to_template"] = str(out)
        self._results["metrics"] = {**reg.as_metrics(), "time_registration_s": round(time.monotonic() - start, 2)}
        return runtime


class _CoregisterInputSpec(ANTsInputSpec):
    in_file = File(exists=True, mandatory=True, desc="an image of the session")
    reference_file = File(exists=True, mandatory=True, desc="the session's reference image")
    resolution_mm = traits.Float(DEFAULTS.registration_resolution_mm, usedefault=True)


class _CoregisterOutputSpec(TraitedSpec):
    image_to_reference = File(exists=True, desc="4x4 RAS matrix, image world -> reference world")
    metrics = traits.Dict()


class Coregister(SimpleInterface):
    """Rigid co-registration of an image to its session's reference image."""

    input_spec = _CoregisterInputSpec
    output_spec = _CoregisterOutputSpec

    def _run_interface(self, runtime):
        from ..methods.deface.register import register_rigid
        from ..methods.io import load_image

        start = time.monotonic()
        img = load_image(self.inputs.in_file)
        reference = load_image(self.inputs.reference_file)
        with ants_threads(self.inputs.num_threads):
            matrix = register_rigid(img, reference, resolution_mm=self.inputs.resolution_mm, seed=self.inputs.seed)
        out = Path(runtime.cwd) / "image_to_reference.txt"
        np.savetxt(out, matrix)
        self._results["image_to_reference"] = str(out)
        self._results["metrics"] = {"time_coregistration_s": round(time.monotonic() - start, 2)}
        return runtime


class _DefaceInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True)
    image_to_template = File(exists=True, mandatory=True, desc="reference world -> template world")
    image_to_reference = File(exists=True, desc="image world -> reference world (other images of a session)")
    brain_core = File(exists=True, desc="independent brain mask (shrunk) on the reference grid: never to be removed")
    template = traits.Str(DEFAULTS.template, usedefault=True)
    method = traits.Enum(DEFAULTS.method, *METHODS, usedefault=True)
    deear = traits.Bool(DEFAULTS.deear, usedefault=True)
    brain_margin_mm = traits.Float(DEFAULTS.brain_margin_mm, usedefault=True)
    scrub = traits.Enum(DEFAULTS.scrub, *SCRUB_LEVELS, usedefault=True, desc="NIfTI header scrubbing level")
    scrub_fields = traits.List(traits.Str, desc="also clear these header fields")
    keep_fields = traits.List(traits.Str, desc="header fields never cleared")
    shift_dates = traits.Either(None, traits.Int, default=None, usedefault=True, desc="days to shift dates by")


class _ScrubOptions:
    """The Deface inputs seen as the options :meth:`ScrubPolicy.from_options` reads."""

    def __init__(self, inputs):
        self.scrub = inputs.scrub
        self.scrub_fields = inputs.scrub_fields if isdefined(inputs.scrub_fields) else []
        self.keep_fields = inputs.keep_fields if isdefined(inputs.keep_fields) else []
        self.shift_dates = inputs.shift_dates


class _DefaceOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="the defaced image (source dtype, scaling and header)")
    out_mask = File(exists=True, desc="deface mask: removed = 0, kept = 1")
    brain_mask = File(exists=True, desc="template brain mask carried to the image")
    features = File(exists=True, desc="template facial-feature labels carried to the image")
    metrics = traits.Dict()


class Deface(SimpleInterface):
    """Carry the template masks onto the image, protect the brain, remove face and ears."""

    input_spec = _DefaceInputSpec
    output_spec = _DefaceOutputSpec

    def _run_interface(self, runtime):
        from ..methods.deface.masks import image_masks, mask_image
        from ..methods.deface.removal import apply_removal
        from ..methods.io import load_image, save_image, write_raw
        from ..methods.metadata.nifti import scrub_nifti
        from ..methods.metadata.policy import ScrubPolicy

        start = time.monotonic()
        img = load_image(self.inputs.in_file)
        matrix = image_to_template(self.inputs)
        tpl, head, template_masks = load_template(self.inputs.template)
        masks = image_masks(
            img, template_masks, matrix, deear=self.inputs.deear, brain_margin_mm=self.inputs.brain_margin_mm
        )
        removal, fill = masks.removal, None
        if self.inputs.method == "shear":
            from ..methods.deface.shear import shear_mask

            removal = shear_mask(img.shape, img.affine, matrix, masks.protected)
            if self.inputs.deear:
                removal |= _warp_ears(template_masks, img, matrix) & ~masks.protected
        elif self.inputs.method == "reface":
            from ..methods.deface.reface import reface_fill

            fill = reface_fill(img, head, matrix, removal)
        masks = masks.__class__(removal=removal, brain=masks.brain, protected=masks.protected, features=masks.features)
        defaced = apply_removal(img, removal, fill=fill)
        policy = ScrubPolicy.from_options(_ScrubOptions(self.inputs))
        header = defaced.header
        scrubbed_img, header_fields = scrub_nifti(img, policy)
        if header_fields:
            header = scrubbed_img.header

        cwd = Path(runtime.cwd)
        # uncompressed here: the sink compresses once, into the output folder
        name = Path(self.inputs.in_file).name.replace(".nii.gz", ".nii")
        out_file = write_raw(cwd / name, header, defaced.raw)
        self._results["out_file"] = str(out_file)
        self._results["out_mask"] = str(save_image(mask_image(~masks.removal, img), cwd / "deface_mask.nii.gz"))
        self._results["brain_mask"] = str(save_image(mask_image(masks.brain, img), cwd / "brain_mask.nii.gz"))
        self._results["features"] = str(save_image(mask_image(masks.features, img), cwd / "features_dseg.nii.gz"))
        n_voxels = int(np.prod(img.shape[:3]))
        self._results["metrics"] = {
            "method": self.inputs.method,
            "template": tpl.name,
            "deear": bool(self.inputs.deear),
            "brain_margin_mm": float(self.inputs.brain_margin_mm),
            "voxels_removed": defaced.voxels_removed,
            "voxels_removed_pct": round(100.0 * defaced.voxels_removed / n_voxels, 3),
            # the template brain is protected: a safeguard, not a check (it cannot fail)
            "brain_voxels_removed": int((masks.removal & masks.brain).sum()),
            **_independent_brain_removed(self.inputs, img, masks.removal),
            "nifti_fields_scrubbed": header_fields,
            "time_deface_s": round(time.monotonic() - start, 2),
        }
        return runtime
