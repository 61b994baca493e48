"""Thin nipype interfaces over :mod:`bids_deface.methods.impact.metrics`.

:class:`ImpactOriginal` processes the original as soon as the defacing registration
exists (beside the deface); :class:`Impact` then processes the defaced image and compares.
"""

from __future__ import annotations

import time

import nibabel as nib
from nipype.interfaces.base import File, SimpleInterface, TraitedSpec, isdefined, traits

from ..config import DEFAULTS
from ._handoff import hand_over, take_over
from .deface import ANTsInputSpec, ants_threads, image_to_template, load_template

#: Contrasts the tissue classes can be named for (intensity order); others use T1w's.
_CONTRASTS = ("T1w", "T2w", "PDw", "FLAIR")


class _ImpactOriginalInputSpec(ANTsInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original image")
    suffix = traits.Str("T1w", usedefault=True)
    template = traits.Str(DEFAULTS.template, usedefault=True)
    mode = traits.Enum("fast", "full", usedefault=True)
    image_to_template = File(exists=True, desc="reference world -> template world: the start of both registrations")
    image_to_reference = File(exists=True, desc="image world -> reference world (other images of a session)")


class _ImpactInputSpec(_ImpactOriginalInputSpec):
    defaced = File(exists=True, mandatory=True, desc="the defaced image (same grid)")
    original_half = File(exists=True, desc="ImpactOriginal's output for in_file (made here when absent)")


class _ImpactOriginalOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="pickled OriginalHalf; its transforms lie beside it")


class _ImpactOutputSpec(TraitedSpec):
    metrics = traits.Dict()


def _settings(inputs) -> dict:
    """The keyword arguments both halves of the comparison share."""
    _, head, masks = load_template(inputs.template)
    return {
        "template_head": head,
        "template_brain_mask": masks.brain,
        "mode": inputs.mode,
        "seed": inputs.seed,
        "contrast": inputs.suffix if inputs.suffix in _CONTRASTS else "T1w",
        "initial": image_to_template(inputs) if isdefined(inputs.image_to_template) else None,
    }


class ImpactOriginal(SimpleInterface):
    """The original image's half of the impact check: N4, registration, brain, tissues."""

    input_spec = _ImpactOriginalInputSpec
    output_spec = _ImpactOriginalOutputSpec

    def _run_interface(self, runtime):
        from ..methods.impact.metrics import impact_original

        with ants_threads(self.inputs.num_threads):
            half = impact_original(nib.load(self.inputs.in_file), folder=runtime.cwd, **_settings(self.inputs))
        self._results["out_file"] = hand_over(half, runtime.cwd, "impact_original.pkl")
        return runtime


class Impact(SimpleInterface):
    """Brain extraction, tissue classes and template registration on original vs defaced."""

    input_spec = _ImpactInputSpec
    output_spec = _ImpactOutputSpec

    def _run_interface(self, runtime):
        from ..methods.impact.metrics import evaluate_impact, impact_metrics

        start = time.monotonic()
        before = take_over(self.inputs.original_half)
        with ants_threads(self.inputs.num_threads):
            metrics = impact_metrics(
                nib.load(self.inputs.in_file),
                nib.load(self.inputs.defaced),
                before=before,
                **_settings(self.inputs),
            )
        passed, reasons = evaluate_impact(metrics)
        record = {(f"time_impact_{k[5:]}" if k.startswith("time_") else f"impact_{k}"): v for k, v in metrics.items()}
        record.update(
            {
                "impact_mode": self.inputs.mode,
                "check_impact": bool(passed),
                # both halves: the original's ran in its own step
                "time_impact_s": round(time.monotonic() - start + (before.seconds if before else 0.0), 2),
            }
        )
        if not passed:
            record["check_impact_reason"] = "impact: " + "; ".join(reasons)
        self._results["metrics"] = record
        return runtime
