"""Nipype interfaces for the reportlets (thin wrappers over :mod:`bids_deface.reports`)."""

from __future__ import annotations

import json
from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)


class _ReportOutputSpec(TraitedSpec):
    out_report = File(exists=True, desc="the reportlet")


class _FlickerInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original image")
    defaced = File(exists=True, mandatory=True, desc="the defaced image (same grid)")
    n_cuts = traits.Int(3, usedefault=True, desc="cuts per axis")


class PlotFlicker(SimpleInterface):
    """fMRIPrep-style before/after "flicker" SVG of the defacing."""

    input_spec = _FlickerInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ..reports.reportlets import plot_flicker

        out = Path(runtime.cwd) / "flicker.svg"
        self._results["out_report"] = str(
            plot_flicker(self.inputs.in_file, self.inputs.defaced, out, n_cuts=self.inputs.n_cuts)
        )
        return runtime


class _RemovalInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original image")
    mask = File(exists=True, mandatory=True, desc="the deface mask: removed = 0, kept = 1")
    n_cuts = traits.Int(7, usedefault=True, desc="cuts per axis")


class PlotRemoval(SimpleInterface):
    """Mosaic of the removed region over the image."""

    input_spec = _RemovalInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ..reports.reportlets import plot_removal_mosaic

        out = Path(runtime.cwd) / "removal.svg"
        self._results["out_report"] = str(
            plot_removal_mosaic(self.inputs.in_file, self.inputs.mask, out, n_cuts=self.inputs.n_cuts)
        )
        return runtime


class _GalleryInputSpec(BaseInterfaceInputSpec):
    renders = InputMultiObject(
        File(exists=True), value=[], usedefault=True, desc="render PNGs (original and defaced); may be empty"
    )
    original_label = traits.Str("original", usedefault=True, desc="the title of the first row")


class RenderGallery(SimpleInterface):
    """The head renders, original row over defaced row, as one PNG."""

    input_spec = _GalleryInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ..reports.reportlets import plot_render_gallery

        out = Path(runtime.cwd) / "renders.png"
        self._results["out_report"] = str(
            plot_render_gallery(list(self.inputs.renders or []), out, original_label=self.inputs.original_label)
        )
        return runtime


class _MetricsReportInputSpec(BaseInterfaceInputSpec):
    metrics = File(exists=True, mandatory=True, desc="the image's metrics record (JSON)")


class MetricsReport(SimpleInterface):
    """The verdict banner and the metrics table of one image (an HTML reportlet, escaped)."""

    input_spec = _MetricsReportInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ..reports.fragments import metrics_fragment

        try:
            record = json.loads(Path(self.inputs.metrics).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.inputs.metrics}: not a JSON metrics record ({err})") from err
        out = Path(runtime.cwd) / "metrics.html"
        out.write_text(metrics_fragment(record), encoding="utf-8")
        self._results["out_report"] = str(out)
        return runtime
