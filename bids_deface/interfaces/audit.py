"""Thin nipype interface over :func:`bids_deface.methods.qa.audit.audit_face` (the audit's face check)."""

from __future__ import annotations

import time
from functools import cache
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
    traits,
)

from ..config import DEFAULTS
from ..methods.qa.faces import DETECTORS


class _AuditFaceInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the image as it would be published")
    image_to_template = File(exists=True, mandatory=True, desc="4x4 RAS matrix, image world -> template world")
    template = traits.Str(DEFAULTS.template, usedefault=True)
    detectors = InputMultiObject(traits.Str, value=list(DETECTORS), usedefault=True)


class _AuditFaceOutputSpec(TraitedSpec):
    renders = OutputMultiObject(File(exists=True), desc="PNG renders, audit_yaw-*.png")
    metrics = traits.Dict()


@cache
def template_parts(name: str) -> tuple[nib.Nifti1Image, np.ndarray, np.ndarray, np.ndarray, dict]:
    """The template's head, head mask, feature skin labels, face region and label names (once per process)."""
    from ..data.templates import get_template
    from ..methods.qa.audit import face_region, template_skin
    from ..methods.qa.render import head_mask
    from .deface import load_template

    _, head, _ = load_template(name)
    template = get_template(name)
    features = nib.load(str(template.features))
    mask = head_mask(head)
    if features.shape[:3] != head.shape[:3] or not np.allclose(features.affine, head.affine):
        raise ValueError(f"template {name!r}: the feature labels are not on the head's grid")
    labels = dict(template.features_labels)
    zooms = head.header.get_zooms()
    skin = template_skin(mask, np.asanyarray(features.dataobj), zooms)
    return head, mask, skin, face_region(np.asanyarray(features.dataobj), zooms, labels), labels


class _AuditBrainInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the image as it would be published")
    brain_core = File(exists=True, mandatory=True, desc="the independent brain core on the image's grid")


class _AuditBrainOutputSpec(TraitedSpec):
    metrics = traits.Dict()


class AuditBrain(SimpleInterface):
    """Was brain removed by an earlier deface? Zeroed voxels, reached from the air, inside the independent brain core."""

    input_spec = _AuditBrainInputSpec
    output_spec = _AuditBrainOutputSpec

    def _run_interface(self, runtime):
        from ..methods.deface.brain_check import BRAIN_MARGIN_MM, brain_removed_before
        from ..methods.io import load_image

        img = load_image(self.inputs.in_file)
        core = np.asanyarray(nib.load(self.inputs.brain_core).dataobj) > 0
        removed = brain_removed_before(np.asanyarray(img.dataobj), core)  # scaled: a removed voxel reads 0
        metrics = {"brain_voxels_removed_independent": removed, "check_brain": removed == 0}
        if removed:
            metrics["check_brain_reason"] = (
                f"brain: {removed} voxels inside the independent brain mask (shrunk by {BRAIN_MARGIN_MM:g} mm) "
                "are zero and reached from the air: the earlier deface removed brain"
            )
        self._results["metrics"] = metrics
        return runtime


class AuditFace(SimpleInterface):
    """Render one image, detect faces, and check the template's facial features for skin (no original)."""

    input_spec = _AuditFaceInputSpec
    output_spec = _AuditFaceOutputSpec

    def _run_interface(self, runtime):
        from PIL import Image

        from ..methods.io import load_image
        from ..methods.qa.audit import audit_face
        from ..methods.qa.check import QA_VIEWS, yaw_token
        from ..methods.volume import resample_to

        start = time.monotonic()
        img = load_image(self.inputs.in_file)
        head, mask, skin, face, labels = template_parts(self.inputs.template)
        matrix = np.loadtxt(self.inputs.image_to_template)
        shape = img.shape[:3]
        carried_head = resample_to(mask.astype(np.uint8), head.affine, shape, img.affine, matrix, order=0) > 0
        carried_skin = resample_to(skin, head.affine, shape, img.affine, matrix, order=0).astype(np.uint8)
        carried_face = resample_to(face.astype(np.uint8), head.affine, shape, img.affine, matrix, order=0) > 0
        result = audit_face(
            img, carried_head, carried_skin, labels, carried_face, detectors=tuple(self.inputs.detectors)
        )
        renders = []
        for view, picture in result.renders.items():
            path = Path(runtime.cwd) / f"audit_{yaw_token(QA_VIEWS[view])}.png"
            Image.fromarray(picture).save(path)
            renders.append(str(path))
        metrics = dict(result.metrics)
        metrics["time_qa_s"] = round(time.monotonic() - start, 2)
        self._results.update(renders=renders, metrics=metrics)
        return runtime
