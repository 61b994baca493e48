"""The group level: one table, one summary, one exit code for the whole dataset."""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import Config
from ..derivatives import read_records, write_json
from ..layout import DatasetError
from ..methods.io import atomic_path
from ..methods.record import tally
from ..ratings import RATINGS, read_ratings, with_ratings
from . import EXIT_FAILED, EXIT_INTERNAL, EXIT_USAGE, gate_code
from .locks import ParticipantBusy, group_lock

LOGGER = logging.getLogger("bids_deface")


def reid_audit(output_dir: Path, records: list[dict]) -> dict | None:
    """Could a face-recognition model tell participants apart from their defaced renders?

    Reads the face descriptors the participant level wrote for each image
    (``sub-*/figures/*_desc-facedescriptors_*.json``); every defaced render of the
    re-identification views is a query against every participant's original renders
    (:func:`bids_deface.methods.qa.reid.reid_rates`). A view whose defaced render showed no
    face is a query that cannot match. None when no image has descriptors.
    """
    import json

    import numpy as np

    from ..methods.qa.check import REID_VIEWS
    from ..methods.qa.reid import reid_rates

    subjects = {r.get("subject") for r in records}
    originals: dict[str, list] = {}
    defaced: dict[str, list] = {}
    for path in sorted(output_dir.glob("sub-*/figures/*_desc-facedescriptors_*.json")):
        subject = path.name.split("_")[0][4:]
        if subject not in subjects:
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            LOGGER.error("%s: unreadable face descriptors (%s)", path, err)
            continue
        originals.setdefault(subject, []).extend(np.asarray(v) for v in data.get("original", {}).values())
        queries = data.get("defaced", {})
        defaced.setdefault(subject, []).extend(
            np.asarray(queries[view]) if view in queries else None for view in REID_VIEWS
        )
    if not originals:
        return None
    return reid_rates(originals, defaced)


def plan_group_level(config: Config) -> list[dict]:
    """The participants' records; raises DatasetError (before anything is written) when there are none."""
    out = config.execution.output_dir
    records = read_records(out) if out.is_dir() else []
    if config.execution.participant_label:
        records = [r for r in records if r.get("subject") in config.execution.participant_label]
    if not records:
        raise DatasetError(f"{out}: no per-image metrics found; run the participant level first")
    return records


def write_group_table(path: Path, records: list[dict]) -> None:
    """One row per image, source file, status and reason first, lists joined by commas."""
    import pandas as pd

    table = pd.DataFrame.from_records(records)
    table = table[
        ["source_file", "status", "reason", *[c for c in table.columns if c not in ("source_file", "status", "reason")]]
    ]
    table = table.sort_values("source_file")
    for column in table.columns:
        if table[column].map(lambda v: isinstance(v, (list, dict))).any():
            table[column] = table[column].map(lambda v: ",".join(map(str, v)) if isinstance(v, list) else v)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="n/a")


def _summary(records: list[dict], counted: dict, fail_on) -> dict:
    """``group_summary.json`` without the re-identification audit: counts and the images to look at."""
    return {
        "n_images": len(records),
        "n_participants": len({r.get("subject") for r in records}),
        "n_passed": counted["counts"]["pass"],
        "n_review": counted["counts"]["review"],
        "n_failed": counted["counts"]["fail"],
        "n_errors": counted["counts"]["error"],
        "pass_rate": round(counted["counts"]["pass"] / len(records), 4),
        "fail_on": list(fail_on),
        "failed_images": [{"source_file": r["source_file"], "reason": r.get("reason", "")} for r in counted["gate"]],
        "review_images": [
            {"source_file": r["source_file"], "reason": r.get("review_reason", "")} for r in counted["review"]
        ],
        "ratings": {
            "n_rated": sum(bool(r.get("rating")) for r in records),
            **{rating: sum(r.get("rating") == rating for r in records) for rating in RATINGS},
            "rated_by": sorted({r["rated_by"] for r in records if r.get("rated_by")}),
        },
    }


def run_group_level(config: Config, records: list[dict] | None = None) -> int:
    """The group level, holding the output folder's group lock: a second group run into the same
    folder at the same time is refused (exit 2) instead of writing the same files at once."""
    try:
        with group_lock(config.execution.output_dir):
            return _run_group_level(config, records)
    except ParticipantBusy as err:
        LOGGER.error("%s", err)
        return EXIT_USAGE


def _run_group_level(config: Config, records: list[dict] | None = None) -> int:
    out = config.execution.output_dir
    records = plan_group_level(config) if records is None else records
    records = with_ratings(records, read_ratings(out))
    write_group_table(out / "group_deface.tsv", records)
    counted = tally(records, config.workflow.fail_on)
    failed = counted["gate"]
    summary = _summary(records, counted, config.workflow.fail_on)
    rates = reid_audit(out, records)
    if rates is not None:
        summary["reid"] = rates
        if not rates["measured"]:
            LOGGER.warning("re-identification audit not measured: %s", rates["not_measured_reason"])
    write_json(out / "group_summary.json", summary)
    for record in failed:
        LOGGER.error(
            "%s %s: %s", record.get("status", "error").upper(), record["source_file"], record.get("reason", "")
        )
    for record in counted["review"]:
        LOGGER.warning("REVIEW %s: %s", record["source_file"], record.get("review_reason", ""))
    try:
        from ..reports.group import write_group_report

        write_group_report(out, records, summary, failed=failed, review=counted["review"])
    except Exception:  # noqa: BLE001 - a broken report is an internal error, never a silent pass
        LOGGER.exception("%s: could not write the group report", out / "group.html")
        return EXIT_INTERNAL
    LOGGER.log(
        logging.ERROR if failed else logging.WARNING if counted["review"] else logging.INFO,
        "%d participant(s), %s",
        summary["n_participants"],
        counted["message"],
    )
    if config.workflow.release_dir is not None:
        from .release import write_release

        if not write_release(config):
            return EXIT_FAILED
    return gate_code(counted)
