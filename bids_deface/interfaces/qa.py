"""Thin nipype interface over :func:`bids_deface.methods.qa.check.face_qa`."""

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


class _FaceQAInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original image")
    defaced = File(exists=True, mandatory=True, desc="the defaced image")
    features = File(exists=True, desc="template facial-feature labels on the image grid")
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
