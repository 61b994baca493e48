"""Per-image defacing workflow: (co-registration) -> masks -> deface -> metrics -> outputs."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.deface import Coregister, Deface
from ..interfaces.bids import DerivativesDataSink
from ..interfaces.freesurfer import FreeSurferImpact
from ..interfaces.impact import Impact
from ..interfaces.qa import FaceQA
from ..interfaces.metrics import WriteMetrics
from .outputs import init_image_derivatives_wf
from .reports import init_image_reports_wf


def init_deface_image_wf(
    *,
    image,
    reference,
    output_dir: str,
    template: str = "pydeface",
    method: str = "deface",
    deear: bool = True,
    brain_margin_mm: float = 6.0,
    registration_resolution_mm: float = 4.0,
    sidecar: dict | None = None,
    scrub: str = "default",
    keep_fields: list[str] | None = None,
    impact: str = "fast",
    seed: int = 42,
    omp_nthreads: int = 1,
    fs_license_file=None,
    name: str = "deface_image_wf",
):
    """Deface one anatomical image with its session's template registration.

    The session's reference image uses the registration directly; any other image is
    rigidly co-registered to the reference first, and the template masks are carried
    to its own grid through both transforms (one interpolation).

    With ``impact="freesurfer"``, a T1w image is also run through FreeSurfer's recon-all
    (original and defaced, node ``freesurfer``, ``omp_nthreads`` threads, licence
    ``fs_license_file``); other suffixes get only the fast ANTs impact check.

    Inputs
    ------
    image_to_template
        4x4 matrix file: reference world -> template world
    registration_metrics
        the template registration's metrics
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["image_to_template", "registration_metrics"]), name="inputnode")
    outputnode = pe.Node(
        niu.IdentityInterface(fields=["defaced", "mask", "metrics", "brain_mask", "features", "metrics_dict"]),
        name="outputnode",
    )
    deface = pe.Node(
        Deface(
            in_file=str(image.path), template=template, method=method, deear=deear, brain_margin_mm=brain_margin_mm,
            scrub=scrub, keep_fields=list(keep_fields or []),
        ),
        name="deface",
        mem_gb=2.0,
    )
    metrics = pe.Node(
        WriteMetrics(
            source_file=str(image.path),
            source_relpath=image.relpath,
            extra={"subject": image.subject, "session": image.session or "", "suffix": image.suffix,
                   "reference_file": reference.relpath, "is_reference": image == reference},
        ),
        name="metrics",
    )
    run_freesurfer = impact == "freesurfer" and image.suffix == "T1w"  # recon-all needs a T1w
    # metrics of: 1 registration, 2 co-registration, 3 deface, 4 impact, 5 face QA,
    # 6 FreeSurfer impact (empty when not run)
    records = pe.Node(niu.Merge(6), name="records", run_without_submitting=True)
    records.inputs.in2 = {} if image == reference else records.inputs.in2
    records.inputs.in4 = {} if impact not in ("fast", "full", "freesurfer") else records.inputs.in4
    records.inputs.in6 = records.inputs.in6 if run_freesurfer else {}
    derivatives_wf = init_image_derivatives_wf(
        source_file=str(image.path), suffix=image.suffix, output_dir=output_dir
    )
    derivatives_wf.inputs.inputnode.sidecar = sidecar or {}
    reports_wf = init_image_reports_wf(
        source_file=str(image.path), suffix=image.suffix, output_dir=output_dir, with_renders=True
    )
    face_qa = pe.Node(FaceQA(in_file=str(image.path), template=template), name="face_qa", mem_gb=1.5)
    ds_descriptors = pe.Node(
        DerivativesDataSink(base_directory=output_dir, source_file=str(image.path), modality=image.suffix,
                            desc="facedescriptors", datatype="figures", suffix=image.suffix),
        name="ds_descriptors",
        run_without_submitting=True,
    )

    workflow.connect([
        (inputnode, deface, [("image_to_template", "image_to_template")]),
        (inputnode, records, [("registration_metrics", "in1")]),
        (deface, records, [("metrics", "in3")]),
        (records, metrics, [("out", "records")]),
        (deface, derivatives_wf, [("out_file", "inputnode.defaced"), ("out_mask", "inputnode.mask")]),
        (metrics, derivatives_wf, [("out_file", "inputnode.metrics")]),
        (derivatives_wf, outputnode, [("outputnode.defaced", "defaced"), ("outputnode.mask", "mask"),
                                      ("outputnode.metrics", "metrics")]),
        (deface, outputnode, [("brain_mask", "brain_mask"), ("features", "features")]),
        (metrics, outputnode, [("metrics", "metrics_dict")]),
        (deface, reports_wf, [("out_file", "inputnode.defaced"), ("out_mask", "inputnode.mask")]),
        (inputnode, face_qa, [("image_to_template", "image_to_template")]),
        (deface, face_qa, [("out_file", "defaced"), ("features", "features")]),
        (face_qa, records, [("metrics", "in5")]),
        (face_qa, reports_wf, [("renders", "inputnode.renders")]),
        (face_qa, ds_descriptors, [("descriptors", "in_file")]),
        (metrics, reports_wf, [("out_file", "inputnode.metrics")]),
    ])  # fmt:skip

    if image != reference:
        coregister = pe.Node(
            Coregister(
                in_file=str(image.path), reference_file=str(reference.path),
                resolution_mm=registration_resolution_mm, seed=seed, num_threads=1,  # reproducible
            ),
            name="coregister",
        )
        workflow.connect([
            (coregister, face_qa, [("image_to_reference", "image_to_reference")]),
            (coregister, deface, [("image_to_reference", "image_to_reference")]),
            (coregister, records, [("metrics", "in2")]),
        ])  # fmt:skip

    if impact in ("fast", "full", "freesurfer"):
        impact_node = pe.Node(
            Impact(in_file=str(image.path), suffix=image.suffix, template=template,
                   mode="full" if impact == "full" else "fast", seed=seed,
                   num_threads=1),  # original and defaced must be processed identically
            name="impact",
            mem_gb=2.0,
        )
        workflow.connect([
            (deface, impact_node, [("out_file", "defaced")]),
            (impact_node, records, [("metrics", "in4")]),
        ])  # fmt:skip

    if run_freesurfer:
        freesurfer = pe.Node(
            FreeSurferImpact(in_file=str(image.path), subject_label=image.key, openmp=omp_nthreads),
            name="freesurfer",
            n_procs=omp_nthreads,
            mem_gb=8.0,
        )
        if fs_license_file:
            freesurfer.inputs.fs_license_file = str(fs_license_file)
        workflow.connect([
            (deface, freesurfer, [("out_file", "defaced")]),
            (freesurfer, records, [("metrics", "in6")]),
        ])  # fmt:skip
    return workflow
