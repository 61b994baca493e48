"""The participant level: plan, build the graph, run it, account for every image."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .. import __version__
from ..config import Config
from ..derivatives import image_outputs, metrics_path, write_dataset_description, write_json
from ..layout import AnatImage, SessionPlan, collect_sessions, index_dataset, split_unavailable
from ..methods.record import error_record, tally
from . import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, gate_code, worst
from .crashes import ENVIRONMENT_ERRNOS, Crash, first_crash, read_crashes
from .graph import run_workflow
from .locks import ParticipantBusy, participant_locks

LOGGER = logging.getLogger("bids_deface")


def sidecar_for(layout, image, options) -> dict:
    """The defaced image's sidecar: the source metadata, scrubbed, plus provenance."""
    from ..methods.metadata.policy import ScrubPolicy
    from ..methods.metadata.sidecar import provenance_fields, scrub_sidecar

    policy = ScrubPolicy.from_options(options)
    metadata = layout.get_metadata(str(image.path)) or {}
    clean, _ = scrub_sidecar(metadata, policy, suffix=image.suffix)
    clean.update(
        provenance_fields(
            tool="bids_deface",
            version=__version__,
            method=options.method,
            template=options.template,
            scrub_level=options.scrub,
        )
    )
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
    """Run the planned participants, each held by its write lock (:mod:`bids_deface.cli.locks`)."""
    layout, plans = planned or plan_participant_level(config)
    try:
        with participant_locks(config.execution.output_dir, {plan.subject for plan in plans}):
            return _run_participants(config, layout, plans)
    except ParticipantBusy as err:
        LOGGER.error("%s", err)
        return EXIT_USAGE


def _run_participants(config: Config, layout, plans: list[SessionPlan]) -> int:
    ex, wf_opts = config.execution, config.workflow
    write_dataset_description(ex.output_dir, ex.bids_dir)
    config.to_file(ex.log_dir / f"config_{ex.run_uuid}.json")
    subjects = sorted({plan.subject for plan in plans})
    plans, unavailable = split_unavailable(plans)  # no graph node for an image nothing can read
    images = [image for plan in plans for image in plan.images]
    LOGGER.info(
        "%d participant(s), %d session(s), %d image(s) to deface%s",
        len(subjects),
        len(plans),
        len(images),
        f", {len(unavailable)} image(s) that cannot be read" if unavailable else "",
    )
    sidecars = {str(image.path): sidecar_for(layout, image, wf_opts) for image in images}

    crash_dir = ex.log_dir / ex.run_uuid
    stopped = _run_graph(config, plans, sidecars, crash_dir) if plans else None
    code = account_for_images(
        plans, ex.output_dir, crash_dir, wf_opts.fail_on, unavailable=unavailable, stopped=stopped
    )
    for subject in subjects:
        code = worst(code, _participant_report(ex, wf_opts, subject, crash_dir))
    if wf_opts.release_dir is not None:
        from .release import write_release

        if not write_release(config):
            code = worst(code, EXIT_FAILED)
    return code


def _run_graph(config: Config, plans: list[SessionPlan], sidecars: dict, crash_dir: Path) -> str | None:
    """Build the graph of the planned images and run it (:func:`~.graph.run_workflow`)."""
    ex, wf_opts = config.execution, config.workflow
    from ..workflows.base import init_bids_deface_wf

    workflow = init_bids_deface_wf(
        sessions=plans,
        output_dir=ex.output_dir,
        work_dir=ex.work_dir,
        options=wf_opts,
        sidecars=sidecars,
        omp_nthreads=config.nipype.resolved_omp_nthreads(),
    )
    return run_workflow(config, workflow, crash_dir)


def write_error_record(
    output_dir: Path, image: AnatImage, reason: str, stage: str = "", *, desc: str = "deface"
) -> dict:
    """The error record of an image, written in place of any record it had (``desc-audit`` for an audit)."""
    record = error_record(image.relpath, reason, stage=stage)
    record.update(image.identity)
    if desc == "audit":
        record["mode"] = "audit"
    path = metrics_path(output_dir, image, desc=desc)
    LOGGER.error("%s: %s", image.relpath, record["reason"])
    try:
        path.unlink(missing_ok=True)  # a record that says otherwise must not stay, even if this one cannot be written
        write_json(path, record)
    except OSError as err:
        LOGGER.error("%s: cannot write the error record (%s)", path, err)
    return record


def _participant_report(ex, wf_opts, subject: str, crash_dir: Path) -> int:
    """Write one participant's report; the exit code it adds (a full disk fails the run, a bug is internal)."""
    from ..reports.participant import generate_participant_report

    try:
        path = generate_participant_report(
            ex.output_dir, subject, options=wf_opts, run_uuid=ex.run_uuid, log_dir=crash_dir
        )
    except Exception as err:  # noqa: BLE001 - a report bug must not hide the defacing results
        if isinstance(err, OSError) and err.errno in ENVIRONMENT_ERRNOS:  # the machine, not a bug
            LOGGER.error("sub-%s: could not write the participant report: %s", subject, err)
            return EXIT_FAILED
        LOGGER.exception("sub-%s: could not write the participant report", subject)
        return EXIT_INTERNAL
    LOGGER.info("sub-%s: report %s", subject, path)
    return EXIT_OK


def _crash_for(crashes: list[Crash], plan: SessionPlan, image: AnatImage) -> Crash | None:
    """The crash an image's record names, among its own steps' and its session's (:func:`first_crash`).

    A session's template registration fails for the input's own reason, and the renders of
    the original, which start beside it, then fail on the same input for a vaguer one.
    """
    reasons = [
        c
        for c in crashes
        if f"{image.key}_wf" in c.node.split(".")
        or (f"{plan.key}_wf" in c.node.split(".") and not any(f"{i.key}_wf" in c.node.split(".") for i in plan.images))
    ]
    return first_crash(reasons)


def account_for_images(
    plans: list[SessionPlan],
    output_dir: Path,
    crash_dir: Path,
    fail_on,
    unavailable: list[tuple[AnatImage, str]] = (),
    stopped: str | None = None,
) -> int:
    """Every planned image has a metrics record: written by the graph, or an error record here.

    The graph's record stands only when no node of the image's subgraph crashed (a report or
    a sink included: an output that could not be written is an error of the image) and every
    output it names is on disk. ``unavailable``: images taken out before the graph was built,
    with the reason. ``stopped``: why the workflow stopped before every step was tried.
    """
    records = [write_error_record(output_dir, image, reason, stage="input") for image, reason in unavailable]
    crashes = read_crashes(crash_dir)
    internal = stopped is not None
    for plan in plans:
        for image in plan.images:
            path = metrics_path(output_dir, image)
            crash = _crash_for(crashes, plan, image)
            if crash is not None:
                internal |= not crash.expected
                records.append(
                    write_error_record(output_dir, image, crash.message, stage=crash.node.rsplit(".", 1)[-1])
                )
                continue
            try:
                record = json.loads(path.read_text())
            except FileNotFoundError:
                why = (
                    f"the workflow stopped before it ({stopped})"
                    if stopped
                    else "an earlier step failed or the run was interrupted"
                )
                records.append(write_error_record(output_dir, image, f"not processed ({why})"))
                continue
            except (OSError, json.JSONDecodeError) as err:
                records.append(write_error_record(output_dir, image, f"{path}: unreadable metrics record ({err})"))
                continue
            missing = [p for p in image_outputs(output_dir, image) if not p.is_file()]
            if missing and record.get("status") != "error":
                record = write_error_record(
                    output_dir, image, f"output not written: {', '.join(map(str, missing))}", stage="outputs"
                )
            records.append(record)

    counted = tally(records, fail_on)
    for record in records:
        LOGGER.info(
            "%-60s %s%s",
            record["source_file"],
            record["status"].upper(),
            f" ({record['reason']})" if record.get("reason") else "",
        )
    level = logging.ERROR if counted["gate"] else logging.WARNING if counted["review"] else logging.INFO
    LOGGER.log(level, "%s", counted["message"])
    if internal:
        LOGGER.error("internal error(s): see the crash files in %s", crash_dir)
        return EXIT_INTERNAL
    return gate_code(counted)
