"""Gather the metrics of one image into one flat JSON record."""

from __future__ import annotations

from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)


class _WriteMetricsInputSpec(BaseInterfaceInputSpec):
    source_file = File(mandatory=True, desc="the input image the metrics describe")
    source_relpath = traits.Str(mandatory=True, desc="path of the source relative to the dataset root")
    records = InputMultiObject(traits.Dict, mandatory=True, desc="metrics dictionaries, merged in order")
    extra = traits.Dict(desc="fields added last (versions, identifiers)")


class _WriteMetricsOutputSpec(TraitedSpec):
    out_file = File(exists=True)
    metrics = traits.Dict()


class WriteMetrics(SimpleInterface):
    """Merge metrics dictionaries into one flat record (keys are unique across stages)."""

    input_spec = _WriteMetricsInputSpec
    output_spec = _WriteMetricsOutputSpec

    def _run_interface(self, runtime):
        from ..derivatives import write_json
        from ..methods.record import finalise_record

        merged: dict = {"source_file": self.inputs.source_relpath}
        for record in self.inputs.records:
            merged.update(record)
        merged.update(self.inputs.extra or {})
        merged = finalise_record(merged)
        out = write_json(Path(runtime.cwd) / "metrics.json", merged)
        self._results["out_file"] = str(out)
        self._results["metrics"] = merged
        return runtime
