"""The per-image metrics record: flat keys, units in the names, a verdict with reasons.

Convention: a stage that checks something adds ``check_<name>`` (bool) and, when it
fails, ``check_<name>_reason`` (str). :func:`finalise_record` turns them into ``status``
("pass", "fail" or "error"), ``failed_checks`` and ``reason``. Which failed checks make
the run exit 1 is decided later, by ``--fail-on`` (:func:`fails_run`); the FreeSurfer
impact check (``check_freesurfer``) is gated by the same ``--fail-on impact`` as
``check_impact``.
"""

from __future__ import annotations

import math

#: Checks a record may carry, in the order reasons are listed.
CHECKS = ("brain", "registration", "face", "impact", "freesurfer", "error")
#: Checks that decide an image's status. The impact check measures how much an embedded,
#: template-based pipeline's results move after defacing: it is reported (``warnings``)
#: and gates a run only when asked (``--fail-on impact``).
STATUS_CHECKS = ("brain", "registration", "face", "error")
#: The ``--fail-on`` name of each check whose name differs from it.
FAIL_ON_NAMES = {"freesurfer": "impact"}


def finalise_record(record: dict) -> dict:
    """Add the brain check (no brain voxel removed) and the overall verdict."""
    record = dict(record)
    if "brain_voxels_removed" in record and "check_brain" not in record:
        removed = int(record["brain_voxels_removed"])
        record["check_brain"] = removed == 0
        if removed:
            record["check_brain_reason"] = f"{removed} brain voxels removed"
    failed = [name for name in CHECKS if record.get(f"check_{name}") is False]
    record["failed_checks"] = failed
    decisive = [name for name in failed if name in STATUS_CHECKS]
    if "error" in failed:
        record["status"] = "error"
    else:
        record["status"] = "fail" if decisive else "pass"

    def reason(name):
        return record.get(f"check_{name}_reason", f"{name} check failed")

    record["reason"] = "; ".join(reason(name) for name in decisive)
    record["warnings"] = "; ".join(reason(name) for name in failed if name not in STATUS_CHECKS)
    stages = ("registration", "coregistration", "deface", "qa", "impact", "impact_freesurfer")
    record["time_total_s"] = round(sum(record.get(f"time_{stage}_s", 0.0) for stage in stages), 2)
    return record


def error_record(source_relpath: str, reason: str, *, stage: str = "") -> dict:
    """The record of an image that could not be processed."""
    return finalise_record(
        {
            "source_file": source_relpath,
            "check_error": False,
            "check_error_reason": f"{stage}: {reason}" if stage else reason,
        }
    )


def fails_run(record: dict, fail_on: list[str] | tuple[str, ...]) -> bool:
    """Does this record make the run exit non-zero under ``--fail-on``?

    An image that could not be processed (``error``, or a record without a status)
    always does: nothing was checked, so it can never count as clean.
    """
    if record.get("status", "error") == "error":
        return True
    return any(FAIL_ON_NAMES.get(name, name) in fail_on for name in record.get("failed_checks", []))


def tally(records: list[dict], fail_on) -> dict:
    """Counts by status and the records that make the run fail, for summaries and logs."""
    counts = {status: sum(r.get("status", "error") == status for r in records) for status in ("pass", "fail", "error")}
    gate = [r for r in records if fails_run(r, fail_on)]
    message = (
        f"{len(records)} image(s): {counts['pass']} passed, {counts['fail']} failed, {counts['error']} could "
        f"not be processed; {len(gate)} make(s) the run fail (--fail-on {' '.join(fail_on)}; errors always do)"
    )
    return {"counts": counts, "gate": gate, "message": message}


def check_limits(metrics: dict, checks) -> list[str]:
    """One reason per metric outside its limit; an empty list when all are within.

    ``checks``: ``(key, limit, kind)`` triples, ``kind`` one of ``"min"``, ``"max"`` or
    ``"absmax"``; a ``None`` limit is not checked. A missing or non-finite metric fails.
    """
    reasons: list[str] = []
    for key, limit, kind in checks:
        if limit is None:
            continue
        value = metrics.get(key)
        if value is None or not math.isfinite(float(value)):
            reasons.append(f"{key} is missing or not finite ({value!r})")
            continue
        value = float(value)
        if kind == "min" and value < limit:
            reasons.append(f"{key} = {value:.4g} is below the minimum {limit:g}")
        elif kind == "max" and value > limit:
            reasons.append(f"{key} = {value:.4g} exceeds the maximum {limit:g}")
        elif kind == "absmax" and abs(value) > limit:
            reasons.append(f"|{key}| = {abs(value):.4g} exceeds the maximum {limit:g}")
    return reasons
