"""Per-image defacing workflow: (co-registration) -> masks -> deface -> checks -> outputs."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.bids import DerivativesDataSink
from ..interfaces.deface import Coregister, Deface
from ..interfaces.freesurfer import FreeSurferImpact
from ..interfaces.impact import Impact, ImpactOriginal
from ..interfaces.metrics import WriteMetrics
from ..interfaces.qa import FaceQA, LookAtOriginal
from .outputs import init_image_derivatives_wf
from .reports import init_image_reports_wf

#: The inputs of the ``records`` merge node, in the order the record is assembled.
RECORD_PARTS = ("registration", "brain", "coregistration", "deface", "impact", "face_qa", "freesurfer")
ANTS_IMPACT_MODES = ("fast", "full", "freesurfer")


def init_deface_image_wf(
    *,
    image,
    reference,
    output_dir: str,
    options,
    sidecar: dict | None = None,
    omp_nthreads: int = 1,
    name: str = "deface_image_wf",
):
    """Deface one anatomical image with its session's template registration.

    The session's reference image uses the registration directly; any other image is
    rigidly co-registered to the reference first, and the template masks are carried
    to its own grid through both transforms (one interpolation).

    With ``options.impact == "freesurfer"``, a T1w image is also run through FreeSurfer's
    recon-all (nodes ``recon_all_orig`` and ``recon_all_defaced``, ``omp_nthreads`` threads, compared by ``freesurfer``);
    other suffixes get only the fast ANTs impact check.

    Parameters
    ----------
    image, reference
        :class:`bids_deface.layout.AnatImage` of this image and of its session's reference.
    options
        :class:`bids_deface.config.WorkflowConfig`: every defacing and check option.
    sidecar
        Metadata of the defaced image's JSON sidecar (scrubbed, with provenance).

    Inputs
    ------
    image_to_template
        4x4 matrix file: reference world -> template world
    registration_metrics
        the template registration's metrics
    brain_core, brain_metrics
        the independent brain check of the session (reference grid) and its metrics
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(
        niu.IdentityInterface(fields=["image_to_template", "registration_metrics", "brain_core", "brain_metrics"]),
        name="inputnode",
    )
    deface = pe.Node(Deface(in_file=str(image.path), **_deface_settings(options)), name="deface", mem_gb=2.0)
    # the original's renders and detections need no registration: made while it runs
    look_at_original = pe.Node(LookAtOriginal(in_file=str(image.path)), name="look_at_original", mem_gb=1.0)
    face_qa = pe.Node(FaceQA(in_file=str(image.path), template=options.template), name="face_qa", mem_gb=1.5)
    records = pe.Node(niu.Merge(len(RECORD_PARTS)), name="records", run_without_submitting=True)
    metrics = pe.Node(
        WriteMetrics(
            source_file=str(image.path),
            source_relpath=image.relpath,
            extra={
                **image.identity,
                "reference_file": reference.relpath,
                "is_reference": image == reference,
            },
        ),
        name="metrics",
    )
    workflow.connect([
        (inputnode, deface, [("image_to_template", "image_to_template"), ("brain_core", "brain_core")]),
        (inputnode, records, [("registration_metrics", _part("registration")),
                              ("brain_metrics", _part("brain"))]),
        (deface, records, [("metrics", _part("deface"))]),
        (deface, face_qa, [("out_file", "defaced"), ("features", "features")]),
        (look_at_original, face_qa, [("out_file", "original_views")]),
        (face_qa, records, [("metrics", _part("face_qa"))]),
        (records, metrics, [("out", "records")]),
    ])  # fmt:skip
    if image == reference:
        setattr(records.inputs, _part("coregistration"), {})
    else:
        _add_coregistration(workflow, image, reference, options)
    _add_impact(workflow, image, options, omp_nthreads)
    _add_outputs(workflow, image, output_dir, sidecar)
    return workflow


def _part(name: str) -> str:
    """The ``records`` merge input of a part of the record."""
    return f"in{RECORD_PARTS.index(name) + 1}"


def _deface_settings(options) -> dict:
    """The Deface interface's inputs from the workflow options (the one scrub policy included)."""
    return {
        "template": options.template,
        "method": options.method,
        "deear": options.deear,
        "brain_margin_mm": options.brain_margin_mm,
        "scrub": options.scrub,
        "scrub_fields": list(options.scrub_fields),
        "keep_fields": list(options.keep_fields),
        "shift_dates": options.shift_dates,
    }


def _add_coregistration(workflow, image, reference, options) -> None:
    """An image other than the session's reference: rigid co-registration to the reference."""
    coregister = pe.Node(
        Coregister(
            in_file=str(image.path),
            reference_file=str(reference.path),
            resolution_mm=options.registration_resolution_mm,
            seed=options.seed,
            num_threads=1,  # reproducible
        ),
        name="coregister",
    )
    deface, records = (workflow.get_node(n) for n in ("deface", "records"))
    workflow.connect([
        (coregister, deface, [("image_to_reference", "image_to_reference")]),
        (coregister, records, [("metrics", _part("coregistration"))]),
    ])  # fmt:skip


def _add_impact(workflow, image, options, omp_nthreads: int) -> None:
    """The impact checks: ANTs (fast or full) and, for a T1w with ``--impact freesurfer``, recon-all."""
    deface, records = workflow.get_node("deface"), workflow.get_node("records")
    if options.impact in ANTS_IMPACT_MODES:
        settings = {  # original and defaced must be processed identically
            "in_file": str(image.path),
            "suffix": image.suffix,
            "template": options.template,
            "mode": "full" if options.impact == "full" else "fast",
            "seed": options.seed,
            "num_threads": 1,
        }
        # the original's half needs only the registration: it runs beside the deface
        impact_original = pe.Node(ImpactOriginal(**settings), name="impact_original", mem_gb=1.5)
        impact = pe.Node(Impact(**settings), name="impact", mem_gb=2.0)
        # both registrations start from the defacing registration (it found the head already)
        workflow.connect([
            (workflow.get_node("inputnode"), impact_original, [("image_to_template", "image_to_template")]),
            (workflow.get_node("inputnode"), impact, [("image_to_template", "image_to_template")]),
            (impact_original, impact, [("out_file", "original_half")]),
            (deface, impact, [("out_file", "defaced")]),
            (impact, records, [("metrics", _part("impact"))]),
        ])  # fmt:skip
        if workflow.get_node("coregister") is not None:
            for node in (impact_original, impact):
                workflow.connect(workflow.get_node("coregister"), "image_to_reference", node, "image_to_reference")
    else:
        setattr(records.inputs, _part("impact"), {})
    if not (options.impact == "freesurfer" and image.suffix == "T1w"):  # recon-all needs a T1w
        setattr(records.inputs, _part("freesurfer"), {})
        return
    from ..interfaces.freesurfer import ReconAllImage

    recon_all = {}
    for kind in ("orig", "defaced"):  # one cached, resumable node per recon-all run
        recon_all[kind] = pe.Node(
            ReconAllImage(subject_id=f"{image.key}_{kind}", openmp=omp_nthreads),
            name=f"recon_all_{kind}",
            n_procs=omp_nthreads,
            mem_gb=8.0,
        )
        if options.fs_license_file:
            recon_all[kind].inputs.fs_license_file = str(options.fs_license_file)
    recon_all["orig"].inputs.in_file = str(image.path)
    freesurfer = pe.Node(FreeSurferImpact(), name="freesurfer")
    workflow.connect([
        (deface, recon_all["defaced"], [("out_file", "in_file")]),
        (recon_all["orig"], freesurfer, [("subject_dir", "orig_subject_dir"), ("elapsed_s", "orig_elapsed_s")]),
        (recon_all["defaced"], freesurfer, [
            ("subject_dir", "defaced_subject_dir"),
            ("elapsed_s", "defaced_elapsed_s"),
        ]),
        (freesurfer, records, [("metrics", _part("freesurfer"))]),
    ])  # fmt:skip


def _add_outputs(workflow, image, output_dir: str, sidecar: dict | None) -> None:
    """Derivatives (defaced image, mask, record), reportlets and the face descriptors."""
    deface, face_qa, metrics = (workflow.get_node(n) for n in ("deface", "face_qa", "metrics"))
    derivatives_wf = init_image_derivatives_wf(source_file=str(image.path), suffix=image.suffix, output_dir=output_dir)
    derivatives_wf.inputs.inputnode.sidecar = sidecar or {}
    reports_wf = init_image_reports_wf(source_file=str(image.path), suffix=image.suffix, output_dir=output_dir)
    ds_descriptors = pe.Node(
        DerivativesDataSink(
            base_directory=output_dir,
            source_file=str(image.path),
            modality=image.suffix,
            desc="facedescriptors",
            datatype="figures",
            suffix=image.suffix,
        ),
        name="ds_descriptors",
        run_without_submitting=True,
    )
    workflow.connect([
        (deface, derivatives_wf, [("out_file", "inputnode.defaced"), ("out_mask", "inputnode.mask")]),
        (metrics, derivatives_wf, [("out_file", "inputnode.metrics")]),
        (deface, reports_wf, [("out_file", "inputnode.defaced"), ("out_mask", "inputnode.mask")]),
        (face_qa, reports_wf, [("renders", "inputnode.renders")]),
        (metrics, reports_wf, [("out_file", "inputnode.metrics")]),
        (face_qa, ds_descriptors, [("descriptors", "in_file")]),
    ])  # fmt:skip
