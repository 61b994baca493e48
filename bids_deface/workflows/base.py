"""The dataset, participant and session workflows."""

from __future__ import annotations

from nipype.pipeline import engine as pe

from .deface import init_deface_image_wf
from .registration import add_registrations


def init_bids_deface_wf(
    *, sessions, output_dir, work_dir, options, sidecars=None, omp_nthreads: int = 1, name: str = "bids_deface_wf"
):
    """One workflow for every selected participant (each a sub-workflow).

    Parameters
    ----------
    sessions
        :class:`bids_deface.layout.SessionPlan` objects.
    options
        :class:`bids_deface.config.WorkflowConfig` (method, template, margins...).
    sidecars
        metadata for each image's derivative sidecar, keyed by source path.
    """
    workflow = pe.Workflow(name=name, base_dir=str(work_dir))
    subjects: dict[str, list] = {}
    for plan in sessions:
        subjects.setdefault(plan.subject, []).append(plan)
    for subject, plans in subjects.items():
        workflow.add_nodes(
            [
                init_single_subject_wf(
                    subject=subject,
                    sessions=plans,
                    output_dir=output_dir,
                    options=options,
                    sidecars=sidecars or {},
                    omp_nthreads=omp_nthreads,
                    name=f"sub_{subject}_wf",
                )
            ]
        )
    return workflow


def init_single_subject_wf(
    *, subject, sessions, output_dir, options, sidecars, omp_nthreads: int = 1, name: str = "single_subject_wf"
):
    """Every session of one participant."""
    workflow = pe.Workflow(name=name)
    for plan in sessions:
        workflow.add_nodes(
            [
                init_session_wf(
                    plan=plan,
                    output_dir=output_dir,
                    options=options,
                    sidecars=sidecars,
                    omp_nthreads=omp_nthreads,
                    name=f"{plan.key}_wf",
                )
            ]
        )
    return workflow


def init_session_wf(*, plan, output_dir, options, sidecars, omp_nthreads: int = 1, name: str = "session_wf"):
    """One template registration per session, carried to every image of it.

    Beside it, the independent brain check registers a second atlas to the reference by a
    second route (node ``independent_brain``): its brain mask is carried to every image by
    the same co-registration, and the two registrations are compared.
    """
    workflow = pe.Workflow(name=name)
    register, independent, agreement = add_registrations(workflow, in_file=str(plan.reference.path), options=options)
    for image in plan.images:
        image_wf = init_deface_image_wf(
            image=image,
            reference=plan.reference,
            output_dir=str(output_dir),
            options=options,
            sidecar=sidecars.get(str(image.path)),
            omp_nthreads=omp_nthreads,
            name=f"{image.key}_wf",
        )
        workflow.connect([
            (register, image_wf, [("image_to_template", "inputnode.image_to_template"),
                                  ("metrics", "inputnode.registration_metrics")]),
            (independent, image_wf, [("brain_core", "inputnode.brain_core")]),
            (agreement, image_wf, [("metrics", "inputnode.brain_metrics")]),
        ])  # fmt:skip
    return workflow
