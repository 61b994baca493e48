"""Thin nipype interfaces over :mod:`bids_deface.methods.qa.check`.

:class:`LookAtOriginal` renders the original and runs the detectors while the template is
being registered (it needs neither the registration nor the defaced image);
:class:`FaceQA` then renders the defaced image and compares.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    OutputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from ..config import DEFAULTS
from ..methods.qa.faces import DETECTORS
from ._handoff import hand_over, take_over


class _LookInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original image")
    detectors = InputMultiObject(traits.Str, value=list(DETECTORS), usedefault=True)


class _LookOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="pickled OriginalViews: head mask, framing, renders, detections")


class LookAtOriginal(SimpleInterface):
    """Render the original head from every view and detect faces (before any defacing)."""

    input_spec = _LookInputSpec
    output_spec = _LookOutputSpec

    def _run_interface(self, runtime):
        from ..methods.qa.check import look_at_original

        before = look_at_original(nib.load(self.inputs.in_file), detectors=tuple(self.inputs.detectors))
        self._results["out_file"] = hand_over(before, runtime.cwd, "original_views.pkl")
        return runtime


class _FaceQAInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original image")
    defaced = File(exists=True, mandatory=True, desc="the defaced image")
    features = File(exists=True, desc="template facial-feature labels on the image grid")
    original_views = File(exists=True, desc="LookAtOriginal's output for in_file (made here when absent)")
    template = traits.Str(DEFAULTS.template, usedefault=True)
    detectors = InputMultiObject(traits.Str, value=list(DETECTORS), usedefault=True)


class _FaceQAOutputSpec(TraitedSpec):
    renders = OutputMultiObject(File(exists=True), desc="PNG renders, original_yaw-*.png and defaced_yaw-*.png")
    descriptors = File(exists=True, desc="JSON: role -> view -> 128-D face descriptor")
    metrics = traits.Dict()


class FaceQA(SimpleInterface):
    """Render the head before and after, detect faces, check facial features."""

    input_spec = _FaceQAInputSpec
    output_spec = _FaceQAOutputSpec

    def _run_interface(self, runtime):
        from PIL import Image

        from ..data.templates import get_template
        from ..methods.io import atomic_path
        from ..methods.qa.check import QA_VIEWS, face_qa, yaw_token

        features = None
        if isdefined(self.inputs.features):
            features = np.asanyarray(nib.load(self.inputs.features).dataobj)
        result = face_qa(
            nib.load(self.inputs.in_file),
            nib.load(self.inputs.defaced),
            features,
            get_template(self.inputs.template).features_labels,
            detectors=tuple(self.inputs.detectors),
            before=take_over(self.inputs.original_views),
        )
        cwd = Path(runtime.cwd)
        renders = []
        for role, pictures in result.renders.items():
            for view, picture in pictures.items():
                path = cwd / f"{role}_{yaw_token(QA_VIEWS[view])}.png"
                Image.fromarray(picture).save(path)
                renders.append(str(path))
        descriptors = cwd / "face_descriptors.json"
        with atomic_path(descriptors) as tmp:
            tmp.write_text(json.dumps(result.descriptors))
        self._results.update(renders=renders, descriptors=str(descriptors), metrics=result.metrics)
        return runtime
