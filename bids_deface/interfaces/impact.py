"""Thin nipype interface over :func:`bids_deface.methods.impact.metrics.impact_metrics`."""

from __future__ import annotations

import time

import nibabel as nib
from nipype.interfaces.base import File, SimpleInterface, TraitedSpec, isdefined, traits

from ..config import DEFAULTS
from .deface import ANTsInputSpec, ants_threads, image_to_template, load_template

#: Contrasts the tissue classes can be named for (intensity order); others use T1w's.
_CONTRASTS = ("T1w", "T2w", "PDw", "FLAIR")


class _ImpactInputSpec(ANTsInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original image")
    defaced = File(exists=True, mandatory=True, desc="the defaced image (same grid)")
    suffix = traits.Str("T1w", usedefault=True)
    template = traits.Str(DEFAULTS.template, usedefault=True)
    mode = traits.Enum("fast", "full", usedefault=True)
    image_to_template = File(exists=True, desc="reference world -> template world: the start of both registrations")
    image_to_reference = File(exists=True, desc="image world -> reference world (other images of a session)")


class _ImpactOutputSpec(TraitedSpec):
    metrics = traits.Dict()


class Impact(SimpleInterface):
    """Brain extraction, tissue classes and template registration on original vs defaced."""

    input_spec = _ImpactInputSpec
    output_spec = _ImpactOutputSpec

    def _run_interface(self, runtime):
        from ..methods.impact.metrics import evaluate_impact, impact_metrics

        start = time.monotonic()
        tpl, head, masks = load_template(self.inputs.template)
        contrast = self.inputs.suffix if self.inputs.suffix in _CONTRASTS else "T1w"
        initial = image_to_template(self.inputs) if isdefined(self.inputs.image_to_template) else None
        with ants_threads(self.inputs.num_threads):
            metrics = impact_metrics(
                nib.load(self.inputs.in_file),
                nib.load(self.inputs.defaced),
                template_head=head,
                template_brain_mask=masks.brain,
                mode=self.inputs.mode,
                seed=self.inputs.seed,
                contrast=contrast,
                initial=initial,
            )
        passed, reasons = evaluate_impact(metrics)
        record = {(f"time_impact_{k[5:]}" if k.startswith("time_") else f"impact_{k}"): v for k, v in metrics.items()}
        record.update(
            {
                "impact_mode": self.inputs.mode,
                "check_impact": bool(passed),
                "time_impact_s": round(time.monotonic() - start, 2),
            }
        )
        if not passed:
            record["check_impact_reason"] = "impact: " + "; ".join(reasons)
        self._results["metrics"] = record
        return runtime
