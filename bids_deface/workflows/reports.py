"""Per-image reportlets, written into ``sub-<label>/figures`` through DerivativesDataSink."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.bids import DerivativesDataSink
from ..interfaces.reports import MetricsReport, PlotFlicker, PlotRemoval, RenderGallery


def init_image_reports_wf(*, source_file: str, suffix: str, output_dir: str, name: str = "image_reports_wf"):
    """The reportlets of one image.

    Writes ``sub-<label>/figures/<entities>_mod-<suffix>_desc-<reportlet>_<suffix>.<ext>``
    with reportlet one of ``metrics`` (.html: verdict banner and metrics table),
    ``flicker`` (.svg: before/after), ``removal`` (.svg: removed region over the image)
    and ``renders`` (.png: render gallery).

    Parameters
    ----------
    source_file
        The input image (its entities name the figures).
    suffix
        Its BIDS suffix (the ``mod-`` entity of the figures).
    output_dir
        The derivatives dataset.

    Inputs
    ------
    in_file
        the original image
    defaced
        the defaced image
    mask
        the deface mask (removed = 0, kept = 1)
    metrics
        the metrics record (JSON file)
    renders
        render PNGs of the original and defaced heads (may be empty)

    Outputs
    -------
    out_files
        the reportlets written
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(
        niu.IdentityInterface(fields=["in_file", "defaced", "mask", "metrics", "renders"]), name="inputnode"
    )
    inputnode.inputs.in_file = source_file
    inputnode.inputs.renders = []
    outputnode = pe.Node(niu.IdentityInterface(fields=["out_files"]), name="outputnode")

    makers = {
        "metrics": (pe.Node(MetricsReport(), name="metrics_rpt"), [("metrics", "metrics")]),
        "flicker": (
            pe.Node(PlotFlicker(), name="flicker_rpt", mem_gb=1.0),
            [("in_file", "in_file"), ("defaced", "defaced")],
        ),
        "removal": (pe.Node(PlotRemoval(), name="removal_rpt", mem_gb=1.0), [("in_file", "in_file"), ("mask", "mask")]),
        # an empty list of renders gives a gallery that says no renders were made
        "renders": (pe.Node(RenderGallery(), name="renders_rpt"), [("renders", "renders")]),
    }

    gather = pe.Node(niu.Merge(len(makers)), name="gather", run_without_submitting=True)
    for i, (desc, (node, connections)) in enumerate(makers.items(), start=1):
        sink = pe.Node(
            DerivativesDataSink(
                base_directory=output_dir, source_file=source_file, modality=suffix, desc=desc, datatype="figures"
            ),
            name=f"ds_{desc}_rpt",
            run_without_submitting=True,
        )
        workflow.connect([
            (inputnode, node, connections),
            (node, sink, [("out_report", "in_file")]),
            (sink, gather, [("out_file", f"in{i}")]),
        ])  # fmt:skip
    workflow.connect(gather, "out", outputnode, "out_files")
    return workflow
