"""The participant level: plan, build the graph, run it, account for every image."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import __version__
from ..config import Config
from ..derivatives import metrics_path, read_records, write_dataset_description, write_json
from ..layout import SessionPlan, collect_sessions, index_dataset
from ..methods.record import error_record, tally
from .crashes import read_crashes
from .progress import Progress, count_nodes
from . import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK

LOGGER = logging.getLogger("bids_deface")


def sidecar_for(layout, image, options) -> dict:
    """The defaced image's sidecar: the source metadata, scrubbed, plus provenance."""
    from ..methods.metadata.policy import ScrubPolicy
    from ..methods.metadata.sidecar import provenance_fields, scrub_sidecar

    policy = ScrubPolicy.from_options(options)
    metadata = layout.get_metadata(str(image.path)) or {}
    clean, _ = scrub_sidecar(metadata, policy, suffix=image.suffix)
    clean.update(provenance_fields(tool="bids_deface", version=__version__, method=options.method,
                                   template=options.template, scrub_level=options.scrub))
    clean["Sources"] = [f"bids::{image.relpath}"]
    return clean


def plan_participant_level(config: Config) -> tuple:
    """Index the dataset and plan the sessions; raises DatasetError before anything is written."""
    ex = config.execution
    layout = index_dataset(ex.bids_dir, database_path=ex.layout_db, validate=not ex.skip_bids_validation)
    plans = collect_sessions(
        layout,
        participants=ex.participant_label,
        sessions=ex.session_label,
        suffixes=config.workflow.suffixes,
        bids_filters=ex.bids_filters,
    )
    return layout, plans


def run_participant_level(config: Config, planned: tuple | None = None) -> int:
    ex, wf_opts = config.execution, config.workflow
    layout, plans = planned or plan_participant_level(config)
    write_dataset_description(ex.output_dir, ex.bids_dir)
    config.to_file(ex.log_dir / f"config_{ex.run_uuid}.json")
    images = [image for plan in plans for image in plan.images]
    LOGGER.info("%d participant(s), %d session(s), %d image(s) to deface",
                len({p.subject for p in plans}), len(plans), len(images))
    sidecars = {str(image.path): sidecar_for(layout, image, wf_opts) for image in images}

    from ..workflows.base import init_bids_deface_wf

    workflow = init_bids_deface_wf(
        sessions=plans, output_dir=ex.output_dir, work_dir=ex.work_dir, options=wf_opts, sidecars=sidecars,
        omp_nthreads=config.nipype.resolved_omp_nthreads(),
    )
    crash_dir = ex.log_dir / ex.run_uuid
    workflow.config["execution"].update({
        "crashdump_dir": str(crash_dir),
        "crashfile_format": "txt",
        "stop_on_first_crash": False,
        "remove_unnecessary_outputs": False,
        "parameterize_dirs": False,
    })
    plugin_args = config.nipype.resolved_plugin_args()
    # ITK reads its thread count once per process: workers (and SLURM jobs) inherit this,
    # so template registrations are reproducible run to run (see methods.impact.metrics)
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    if config.nipype.plugin.startswith("SLURM"):
        import getpass

        os.environ.setdefault("LOGNAME", getpass.getuser())  # nipype's SLURM plugin reads it
    if config.nipype.plugin in ("Linear", "MultiProc", "LegacyMultiProc"):
        progress = Progress(total=count_nodes(workflow))
        plugin_args.setdefault("status_callback", progress)
    try:
        workflow.run(plugin=config.nipype.plugin, plugin_args=plugin_args)
    except RuntimeError as err:
        LOGGER.warning("some steps failed; details follow (%s)", str(err).splitlines()[0])
    finally:
        if "status_callback" in plugin_args:
            plugin_args["status_callback"].finish()
    code = account_for_images(plans, ex.output_dir, crash_dir, wf_opts.fail_on)
    from ..reports.participant import generate_participant_report

    for subject in sorted({plan.subject for plan in plans}):
        try:
            path = generate_participant_report(ex.output_dir, subject, options=wf_opts, run_uuid=ex.run_uuid,
                                               log_dir=crash_dir)
            LOGGER.info("sub-%s: report %s", subject, path)
        except Exception:  # noqa: BLE001 - a report bug must not hide the defacing results
            LOGGER.exception("sub-%s: could not write the participant report", subject)
            code = EXIT_INTERNAL
    if wf_opts.release_dir is not None:
        from .release import write_release

        if not write_release(config):
            code = max(code, EXIT_FAILED)
    return code


def account_for_images(plans: list[SessionPlan], output_dir: Path, crash_dir: Path, fail_on) -> int:
    """Every planned image has a metrics record: written by the graph, or an error record here."""
    crashes = read_crashes(crash_dir)
    internal = False
    for plan in plans:
        for image in plan.images:
            path = metrics_path(output_dir, image)
            if path.exists():
                continue
            reasons = [c for c in crashes if f"{image.key}_wf" in c.node.split(".")]
            if not reasons:  # a session-level step (the template registration) failed
                reasons = [c for c in crashes if f"{plan.key}_wf" in c.node.split(".")
                           and not any(f"{i.key}_wf" in c.node.split(".") for i in plan.images)]
            if reasons:
                crash = reasons[0]
                reason = crash.message
                internal |= not crash.expected
                stage = crash.node.rsplit(".", 1)[-1]
            else:
                reason, stage = "not processed (an earlier step failed or the run was interrupted)", ""
            record = error_record(image.relpath, reason, stage=stage)
            record.update({"subject": image.subject, "session": image.session or "", "suffix": image.suffix})
            write_json(path, record)
            LOGGER.error("%s: %s", image.relpath, record["reason"])

    selected = {image.relpath for plan in plans for image in plan.images}
    records = [r for r in read_records(output_dir) if r.get("source_file") in selected]
    counted = tally(records, fail_on)
    for record in records:
        LOGGER.info("%-60s %s%s", record["source_file"], record["status"].upper(),
                    f" ({record['reason']})" if record.get("reason") else "")
    LOGGER.log(logging.ERROR if counted["gate"] else logging.INFO, "%s", counted["message"])
    if internal:
        LOGGER.error("internal error(s): see the crash files in %s", crash_dir)
        return EXIT_INTERNAL
    return EXIT_FAILED if counted["gate"] else EXIT_OK
