"""Every output of an image goes through a DerivativesDataSink built here."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.bids import DerivativesDataSink


def init_image_derivatives_wf(*, source_file: str, suffix: str, output_dir: str, name: str = "derivatives_wf"):
    """Write the defaced image (+ sidecar), its deface mask and its metrics record.

    Inputs
    ------
    defaced
        the defaced image
    mask
        the deface mask (removed = 0, kept = 1)
    metrics
        the metrics record (JSON file)
    sidecar
        metadata of the defaced image's JSON sidecar (scrubbed, with provenance)
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["defaced", "mask", "metrics", "sidecar"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["defaced", "mask", "metrics"]), name="outputnode")

    ds_defaced = pe.Node(
        DerivativesDataSink(
            base_directory=output_dir,
            source_file=source_file,
            desc="defaced",
            check_hdr=False,
            compress=True,
        ),
        name="ds_defaced",
        run_without_submitting=True,
    )
    ds_mask = pe.Node(
        DerivativesDataSink(
            base_directory=output_dir,
            source_file=source_file,
            modality=suffix,
            desc="deface",
            suffix="mask",
            check_hdr=False,
            compress=True,
        ),
        name="ds_mask",
        run_without_submitting=True,
    )
    ds_metrics = pe.Node(
        DerivativesDataSink(
            base_directory=output_dir,
            source_file=source_file,
            modality=suffix,
            desc="deface",
            suffix="metrics",
        ),
        name="ds_metrics",
        run_without_submitting=True,
    )
    workflow.connect([
        (inputnode, ds_defaced, [("defaced", "in_file"), ("sidecar", "meta_dict")]),
        (inputnode, ds_mask, [("mask", "in_file")]),
        (inputnode, ds_metrics, [("metrics", "in_file")]),
        (ds_defaced, outputnode, [("out_file", "defaced")]),
        (ds_mask, outputnode, [("out_file", "mask")]),
        (ds_metrics, outputnode, [("out_file", "metrics")]),
    ])  # fmt:skip
    return workflow
