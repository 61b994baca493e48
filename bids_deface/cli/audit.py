"""The audit level: may this dataset be published? Face checks and a metadata scan, no defacing.

``bids-deface DATA OUT audit`` takes any BIDS dataset (defaced earlier, by this app or
another tool), writes only into OUT, and answers in the formats CI systems read
(:mod:`bids_deface.reports.audit`). Images whose content, the app's version and the options
are unchanged since the last audit into the same OUT are not checked again
(:mod:`.audit_cache`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from ..config import Config
from ..derivatives import audit_gallery_path, metrics_path, write_dataset_description
from ..layout import AnatImage, split_unavailable
from . import EXIT_FAILED, EXIT_OK, EXIT_REVIEW, EXIT_UNCHECKED, EXIT_USAGE, worst
from .audit_cache import AuditCache
from .crashes import first_crash, read_crashes
from .graph import run_workflow
from .locks import ParticipantBusy, participant_locks
from .participant import plan_participant_level, write_error_record

LOGGER = logging.getLogger("bids_deface")


def plan_audit_level(config: Config) -> tuple[list[AnatImage], list[tuple[AnatImage, str]]]:
    """The anatomical images to check, and those whose content cannot be read (DatasetError before any output)."""
    _, plans = plan_participant_level(config)
    plans, unavailable = split_unavailable(plans)
    return [image for plan in plans for image in plan.images], unavailable


def run_audit_level(config: Config, planned: tuple | None = None) -> int:
    """Check the planned images (the cached ones are not checked again), scan the metadata, write the answers."""
    images, unavailable = planned or plan_audit_level(config)
    subjects = {image.subject for image in images} | {image.subject for image, _ in unavailable}
    try:
        with participant_locks(config.execution.output_dir, subjects):
            return _audit(config, images, unavailable)
    except ParticipantBusy as err:
        LOGGER.error("%s", err)
        return EXIT_USAGE


def _audit(config: Config, images: list[AnatImage], unavailable) -> int:
    ex, options = config.execution, config.workflow
    write_dataset_description(ex.output_dir, ex.bids_dir)
    config.to_file(ex.log_dir / f"config_{ex.run_uuid}.json")
    cache = AuditCache(ex.output_dir, options)
    keys = {image: cache.key(image.path, image.relpath) for image in images}
    records: dict[AnatImage, dict] = {}
    for image in images:
        cached = cache.get(keys[image])  # puts its record and gallery back where they are missing
        if cached is not None:
            records[image] = cached
    todo = [image for image in images if image not in records]
    _log_plan(images, todo)
    crash_dir = ex.log_dir / ex.run_uuid
    if todo:
        from ..workflows.audit import init_audit_wf

        workflow = init_audit_wf(images=todo, output_dir=ex.output_dir, work_dir=ex.work_dir, options=options)
        stopped = run_workflow(config, workflow, crash_dir)
        for image, record in _account(todo, ex.output_dir, crash_dir, stopped).items():
            records[image] = record
            if record.get("status") != "error":
                cache.put(keys[image], record, _outputs(ex.output_dir, image))
    for image, reason in unavailable:
        records[image] = write_error_record(ex.output_dir, image, reason, stage="input", desc="audit")
    from ..methods.metadata.policy import ScrubPolicy
    from ..methods.metadata.scan import scan_dataset
    from ..reports.audit import write_audit_outputs

    scans = scan_dataset(
        ex.bids_dir, ScrubPolicy.from_options(options), include=options.release_include, files=_scanned(ex)
    )
    ordered = sorted(records, key=lambda i: i.relpath)
    galleries = {image.relpath: audit_gallery_path(ex.output_dir, image) for image in ordered}
    figures = {rel: p.relative_to(ex.output_dir).as_posix() for rel, p in galleries.items() if p.is_file()}
    summary = write_audit_outputs(ex.output_dir, [records[i] for i in ordered], scans, config=config, figures=figures)
    _log_verdict(summary, ex.output_dir)
    return _exit_code(summary)


def _scanned(ex) -> list[str] | None:
    """The files the metadata scan reads: all, or with ``--participant-label`` the top level and those participants'."""
    if not ex.participant_label:
        return None
    from ..methods.metadata.catalog import dataset_files

    chosen = {f"sub-{label}" for label in ex.participant_label}
    return [rel for rel in dataset_files(ex.bids_dir) if not rel.startswith("sub-") or rel.split("/", 1)[0] in chosen]


def _log_verdict(summary: dict, output_dir: Path) -> None:
    """One line per image or file that is not clean, then the verdict (the terminal's last word)."""
    for image in summary["images_checked"]:
        if image["status"] != "pass":
            LOGGER.warning(
                "%s: %s (%s)", image["source_file"], image["status"].upper(), image["reason"] or image["review_reason"]
            )
    for scan in summary["metadata"]:
        if scan["status"] != "pass":
            fields = ", ".join(dict.fromkeys(f["field"] for f in scan["findings"] if f["severity"] != "note"))
            LOGGER.warning("%s: %s (%s)", scan["path"], scan["status"].upper(), fields)
    counts = ", ".join(f"{n} {s}" for s, n in summary["images"].items() if n)
    files = ", ".join(f"{n} {s}" for s, n in summary["files"].items() if n)
    level = logging.INFO if summary["verdict"] == "pass" else logging.ERROR
    LOGGER.log(
        level,
        "audit %s: images %s; metadata files %s. See %s",
        summary["verdict"].upper(),
        counts or "none",
        files or "none",
        output_dir / "audit_summary.md",
    )


def _log_plan(images: list[AnatImage], todo: list[AnatImage]) -> None:
    total, checked = Counter(i.subject for i in images), Counter(i.subject for i in todo)
    for subject in sorted(total):
        cached = total[subject] - checked[subject]
        LOGGER.info(
            "sub-%s: %d image(s) to check%s",
            subject,
            checked[subject],
            f", {cached} unchanged since the last audit (cached)" if cached else "",
        )


def _outputs(output_dir: Path, image: AnatImage) -> list[Path]:
    return [metrics_path(output_dir, image, desc="audit"), audit_gallery_path(output_dir, image)]


def _account(images: list[AnatImage], output_dir: Path, crash_dir: Path, stopped: str | None) -> dict:
    """Every checked image's record: the graph's, or an error naming the step that failed."""
    crashes = read_crashes(crash_dir)
    out = {}
    for image in images:
        crash = first_crash([c for c in crashes if f"{image.key}_audit_wf" in c.node.split(".")])
        if crash is not None:
            out[image] = write_error_record(
                output_dir, image, crash.message, stage=crash.node.rsplit(".", 1)[-1], desc="audit"
            )
            continue
        path = metrics_path(output_dir, image, desc="audit")
        try:
            out[image] = json.loads(path.read_text())
        except FileNotFoundError:
            why = f"the workflow stopped before it ({stopped})" if stopped else "the run was interrupted"
            out[image] = write_error_record(output_dir, image, f"not checked ({why})", desc="audit")
        except (OSError, json.JSONDecodeError) as err:
            out[image] = write_error_record(output_dir, image, f"{path}: unreadable record ({err})", desc="audit")
    return out


def _exit_code(summary: dict) -> int:
    """0 clean, 1 a check failed, 4 a person must review, 5 something could not be checked."""
    code = EXIT_OK
    if summary["n_review"]:
        code = worst(code, EXIT_REVIEW)
    if summary["n_fail"]:
        code = worst(code, EXIT_FAILED)
    if summary["n_error"]:
        code = worst(code, EXIT_UNCHECKED)
    return code
