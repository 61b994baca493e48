"""Thin nipype interface over :mod:`bids_deface.methods.deface.brain_check` (one node per session)."""

from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from ..config import DEFAULTS
from .deface import ANTsInputSpec, ants_threads


class _IndependentBrainInputSpec(ANTsInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the session's reference image")
    template = traits.Str(DEFAULTS.template, usedefault=True)


class _IndependentBrainOutputSpec(TraitedSpec):
    brain_core = File(exists=True, desc="that mask shrunk by the margin: no voxel of it may be removed")
    image_to_atlas = File(exists=True, desc="4x4 RAS matrix, reference world -> atlas world")
    metrics = traits.Dict()


class IndependentBrain(SimpleInterface):
    """Register a second atlas to the reference by a second route (:class:`BrainAgreement` compares the two)."""

    input_spec = _IndependentBrainInputSpec
    output_spec = _IndependentBrainOutputSpec

    def _run_interface(self, runtime):
        from ..data.atlas import get_brain_atlas
        from ..methods.deface.brain_check import BRAIN_MARGIN_MM, brain_core, independent_brain
        from ..methods.deface.masks import mask_image
        from ..methods.io import load_image, save_image

        start = time.monotonic()
        img = load_image(self.inputs.in_file)
        atlas = get_brain_atlas(self.inputs.template)
        with ants_threads(self.inputs.num_threads):
            brain = independent_brain(img, atlas, seed=self.inputs.seed)
        core = brain_core(brain.mask, img.header.get_zooms())
        cwd = Path(runtime.cwd)
        self._results["brain_core"] = str(save_image(mask_image(core, img), cwd / "atlas_brain_core.nii.gz"))
        self._results["image_to_atlas"] = str(cwd / "image_to_atlas.txt")
        np.savetxt(self._results["image_to_atlas"], brain.image_to_atlas)
        metrics = {
            "brain_check_method": f"atlas-{atlas.name}",
            "brain_check_margin_mm": BRAIN_MARGIN_MM,
            "time_brain_independent_s": round(time.monotonic() - start, 2),
        }
        self._results["metrics"] = metrics
        return runtime


class _BrainAgreementInputSpec(BaseInterfaceInputSpec):
    image_to_template = File(exists=True, mandatory=True, desc="the defacing registration (reference -> template)")
    image_to_atlas = File(exists=True, mandatory=True, desc="the independent registration (reference -> atlas)")
    metrics = traits.Dict(mandatory=True, desc="the independent brain check's metrics")
    template = traits.Str(DEFAULTS.template, usedefault=True)


class _BrainAgreementOutputSpec(TraitedSpec):
    metrics = traits.Dict()


class BrainAgreement(SimpleInterface):
    """Compare the defacing and the independent registrations (a fraction of a second)."""

    input_spec = _BrainAgreementInputSpec
    output_spec = _BrainAgreementOutputSpec

    def _run_interface(self, runtime):
        from ..data.atlas import get_brain_atlas
        from ..methods.deface.brain_check import disagreement_review, registration_disagreement_mm

        disagreement = registration_disagreement_mm(
            np.loadtxt(self.inputs.image_to_template),
            np.loadtxt(self.inputs.image_to_atlas),
            get_brain_atlas(self.inputs.template),
        )
        metrics = {**self.inputs.metrics, "registration_disagreement_mm": round(disagreement, 2)}
        review = disagreement_review(disagreement)
        if review:
            metrics["review_registration_agreement"] = review
        self._results["metrics"] = metrics
        return runtime


def carried_mask(mask_file: str, image: nib.Nifti1Image, image_to_reference: np.ndarray | None) -> np.ndarray:
    """A reference-grid mask on ``image``'s grid (nearest neighbour through the co-registration)."""
    from ..methods.volume import resample_support

    ref = nib.load(mask_file)
    data = np.asanyarray(ref.dataobj).astype(np.uint8)
    if image_to_reference is None and ref.shape[:3] == image.shape[:3] and np.allclose(ref.affine, image.affine):
        return data > 0
    return resample_support(data, ref.affine, image.shape[:3], image.affine, image_to_reference, order=0) > 0
