"""The audit workflow: the face checks of images as they would be published (no original, no defacing)."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.audit import AuditBrain, AuditFace
from ..interfaces.bids import DerivativesDataSink
from ..interfaces.metrics import WriteMetrics
from ..interfaces.reports import RenderGallery
from .registration import add_registrations

#: The inputs of the ``records`` merge node, in the order the record is assembled.
AUDIT_RECORD_PARTS = ("registration", "brain", "brain_removed", "face")


def init_audit_wf(*, images, output_dir, work_dir, options, name: str = "bids_deface_audit_wf"):
    """One sub-workflow per image (each image registered on its own: no session is assumed defaced alike).

    Parameters
    ----------
    images
        :class:`bids_deface.layout.AnatImage` objects to check.
    options
        :class:`bids_deface.config.WorkflowConfig` (template, registration resolution, seed).
    """
    workflow = pe.Workflow(name=name, base_dir=str(work_dir))
    subjects: dict[str, pe.Workflow] = {}
    for image in images:
        if image.subject not in subjects:  # named as the participant level names them (progress lines)
            subjects[image.subject] = pe.Workflow(name=f"sub_{image.subject}_wf")
        subjects[image.subject].add_nodes(
            [init_audit_image_wf(image=image, output_dir=str(output_dir), options=options)]
        )
    workflow.add_nodes(list(subjects.values()))
    return workflow


def init_audit_image_wf(*, image, output_dir: str, options, name: str | None = None):
    """Register the template, check the registration by a second route, check the face and the brain; write the record.

    Outputs (through DerivativesDataSink): ``<entities>_mod-<suffix>_desc-audit_metrics.json``
    beside the image's place in the dataset, and the render gallery in ``figures/``.
    """
    workflow = pe.Workflow(name=name or f"{image.key}_audit_wf")
    register, independent, agreement = add_registrations(workflow, in_file=str(image.path), options=options)
    brain = pe.Node(AuditBrain(in_file=str(image.path)), name="audit_brain", mem_gb=1.0)
    face = pe.Node(AuditFace(in_file=str(image.path), template=options.template), name="audit_face", mem_gb=1.5)
    records = pe.Node(niu.Merge(len(AUDIT_RECORD_PARTS)), name="records", run_without_submitting=True)
    metrics = pe.Node(
        WriteMetrics(
            source_file=str(image.path),
            source_relpath=image.relpath,
            extra={**image.identity, "mode": "audit"},
        ),
        name="metrics",
    )
    gallery = pe.Node(RenderGallery(original_label="as published"), name="renders_rpt")
    named = {"metrics": {"suffix": "metrics"}, "renders": {"datatype": "figures", "suffix": image.suffix}}
    sinks = {
        key: DerivativesDataSink(
            base_directory=output_dir, source_file=str(image.path), modality=image.suffix, desc="audit", **entities
        )
        for key, entities in named.items()
    }
    ds = {key: pe.Node(sink, name=f"ds_{key}", run_without_submitting=True) for key, sink in sinks.items()}
    workflow.connect([
        (register, face, [("image_to_template", "image_to_template")]),
        (register, records, [("metrics", "in1")]),
        (agreement, records, [("metrics", "in2")]),
        (independent, brain, [("brain_core", "brain_core")]),
        (brain, records, [("metrics", "in3")]),
        (face, records, [("metrics", "in4")]),
        (records, metrics, [("out", "records")]),
        (metrics, ds["metrics"], [("out_file", "in_file")]),
        (face, gallery, [("renders", "renders")]),
        (gallery, ds["renders"], [("out_report", "in_file")]),
    ])  # fmt:skip
    return workflow
