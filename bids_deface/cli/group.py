"""The group level: one table, one summary, one exit code for the whole dataset."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from ..config import Config
from ..derivatives import read_records, write_json
from ..methods.io import atomic_path
from ..methods.record import fails_run

LOGGER = logging.getLogger("bids_deface")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def reid_rates(output_dir: Path, records: list[dict]) -> dict | None:
    """Re-identification rates from ``bids_deface.methods.reid.reid_rates`` when it exists.

    The audit is optional: without the module (or its ``reid_rates``), None.
    """
    try:
        reid = importlib.import_module("bids_deface.methods.reid")
    except ModuleNotFoundError as err:
        if err.name != "bids_deface.methods.reid":
            raise  # the module exists but one of its imports is missing: say so
        return None
    function = getattr(reid, "reid_rates", None)
    if function is None:
        return None
    return function(output_dir, records)


def run_group_level(config: Config) -> int:
    import pandas as pd

    out = config.execution.output_dir
    records = read_records(out)
    if config.execution.participant_label:
        records = [r for r in records if r.get("subject") in config.execution.participant_label]
    if not records:
        LOGGER.error("%s: no per-image metrics found; run the participant level first", out)
        return EXIT_USAGE
    table = pd.DataFrame.from_records(records)
    table = table[["source_file", "status", "reason", *[c for c in table.columns if c not in ("source_file", "status", "reason")]]]
    table = table.sort_values("source_file")
    for column in table.columns:
        if table[column].map(lambda v: isinstance(v, (list, dict))).any():
            table[column] = table[column].map(lambda v: ",".join(map(str, v)) if isinstance(v, list) else v)
    with atomic_path(out / "group_deface.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="n/a")
    failed = [r for r in records if fails_run(r, config.workflow.fail_on)]
    summary = {
        "n_images": len(records),
        "n_participants": len({r.get("subject") for r in records}),
        "n_passed": sum(r["status"] == "pass" for r in records),
        "n_failed": sum(r["status"] == "fail" for r in records),
        "n_errors": sum(r["status"] == "error" for r in records),
        "pass_rate": round(sum(r["status"] == "pass" for r in records) / len(records), 4),
        "fail_on": list(config.workflow.fail_on),
        "failed_images": [{"source_file": r["source_file"], "reason": r.get("reason", "")} for r in failed],
    }
    rates = reid_rates(out, records)
    if rates is not None:
        summary["reid"] = rates
    write_json(out / "group_summary.json", summary)
    for record in failed:
        LOGGER.error("FAILED %s: %s", record["source_file"], record.get("reason", ""))
    try:
        from ..reports.group import write_group_report

        write_group_report(out, records, summary, failed=failed)
    except Exception:  # noqa: BLE001 - a broken report is an internal error, never a silent pass
        LOGGER.exception("%s: could not write the group report", out / "group.html")
        return EXIT_INTERNAL
    LOGGER.warning("%d image(s) of %d participant(s): %d passed, %d failed the checks in --fail-on",
                   summary["n_images"], summary["n_participants"], summary["n_images"] - len(failed), len(failed))
    return EXIT_FAILED if failed else EXIT_OK
