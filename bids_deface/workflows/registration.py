"""The two registrations of an image, wired once for the participant and the audit graphs."""

from __future__ import annotations

from typing import NamedTuple

from nipype.pipeline import engine as pe

from ..interfaces.brain import BrainAgreement, IndependentBrain
from ..interfaces.deface import RegisterTemplate


class Registrations(NamedTuple):
    """The nodes: ``register`` (image_to_template, metrics), ``independent`` (brain_core, image_to_atlas)
    and ``agreement`` (metrics: the independent check with how far apart the two put the brain)."""

    register: pe.Node
    independent: pe.Node
    agreement: pe.Node


def add_registrations(workflow: pe.Workflow, *, in_file: str, options) -> Registrations:
    """Add the template registration and the independent brain check of ``in_file`` to ``workflow``.

    The two registrations run at once; only their comparison (node ``brain_agreement``) waits
    for both.
    """
    register = pe.Node(
        RegisterTemplate(
            in_file=in_file,
            template=options.template,
            resolution_mm=options.registration_resolution_mm,
            seed=options.seed,
            num_threads=1,  # multithreaded ANTs sampling is not reproducible; these are small images
        ),
        name="register_template",
        mem_gb=1.5,
    )
    independent = pe.Node(
        IndependentBrain(in_file=in_file, template=options.template, seed=options.seed),
        name="independent_brain",
        mem_gb=1.0,
    )
    # a worker's step: the comparison imports ANTs, which the scheduling process never loads
    agreement = pe.Node(BrainAgreement(template=options.template), name="brain_agreement")
    workflow.connect([
        (register, agreement, [("image_to_template", "image_to_template")]),
        (independent, agreement, [("image_to_atlas", "image_to_atlas"), ("metrics", "metrics")]),
    ])  # fmt:skip
    return Registrations(register, independent, agreement)
