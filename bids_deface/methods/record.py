"""The per-image metrics record: flat keys, units in the names, a verdict with reasons.

Convention: a stage that checks something adds ``check_<name>`` (bool) and, when it
fails, ``check_<name>_reason`` (str). A stage whose signal cannot vouch for the verdict on
its own (a face check whose detectors saw no face even on the original, two signals that
disagree) adds ``review_<signal>`` (str, the reason). :func:`finalise_record` turns them
into ``status``, ``failed_checks``, ``reason``, ``review_signals`` and ``review_reason``:

* ``error``: the image could not be processed;
* ``fail``: a check that decides the status failed (:data:`STATUS_CHECKS`);
* ``review``: nothing failed, but a person must look: a review signal is set, or a check
  that does not decide the status on its own failed (impact, FreeSurfer);
* ``pass``: every check passed and every signal agreed.

Which records make the run exit non-zero is decided later (:func:`tally`): errors always,
failed checks named by ``--fail-on`` (the FreeSurfer impact check ``check_freesurfer`` is
gated by the same ``--fail-on impact`` as ``check_impact``), and ``review`` with its own
exit code.
"""

from __future__ import annotations

import math

#: Checks a record may carry, in the order reasons are listed.
CHECKS = ("brain", "registration", "face", "face_skin", "impact", "freesurfer", "error")
#: Checks that decide an image's status. The others ask for a review: the brain check
#: (an independent estimate disagreeing with the template protection, which holds by
#: construction) and the impact checks (how much an embedded, template-based pipeline's
#: results move after defacing). They gate a run when named by ``--fail-on``.
STATUS_CHECKS = ("registration", "face", "face_skin", "error")
#: The ``--fail-on`` name of each check whose name differs from it.
FAIL_ON_NAMES = {"freesurfer": "impact", "face_skin": "face"}
#: Every status, from the best to the worst.
STATUSES = ("pass", "review", "fail", "error")
_REVIEW_PREFIX = "review_"


def _status(failed: list[str], review: list[str]) -> str:
    if "error" in failed:
        return "error"
    if any(name in STATUS_CHECKS for name in failed):
        return "fail"
    return "review" if review or failed else "pass"


def finalise_record(record: dict) -> dict:
    """Add the brain check (no voxel of the independent brain core removed) and the verdict."""
    record = dict(record)
    if "brain_voxels_removed_independent" in record and "check_brain" not in record:
        removed = int(record["brain_voxels_removed_independent"])
        record["check_brain"] = removed == 0
        if removed:
            record["check_brain_reason"] = (
                f"{removed} voxels removed inside the independent brain mask "
                f"({record.get('brain_check_method', 'atlas')}, shrunk by {record.get('brain_check_margin_mm', '?')} mm) "
                "although the template's brain was protected"
            )
    failed = [name for name in CHECKS if record.get(f"check_{name}") is False]
    record["failed_checks"] = failed
    decisive = [name for name in failed if name in STATUS_CHECKS]
    signals = sorted(
        key[len(_REVIEW_PREFIX) :]
        for key, value in record.items()
        if key.startswith(_REVIEW_PREFIX) and key not in ("review_signals", "review_reason") and value
    )
    record["status"] = _status(failed, signals)

    def reason(name):
        return record.get(f"check_{name}_reason", f"{name} check failed")

    advisory = [name for name in failed if name not in STATUS_CHECKS]
    record["reason"] = "; ".join(reason(name) for name in decisive)
    record["review_signals"] = advisory + signals
    record["review_reason"] = "; ".join(
        [reason(name) for name in advisory] + [str(record[_REVIEW_PREFIX + name]) for name in signals]
    )
    stages = ("registration", "brain_independent", "coregistration", "deface", "qa", "impact", "impact_freesurfer")
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
    """Counts by status, the records that make the run fail and those a person must review.

    ``gate``: the records that fail the run (:func:`fails_run`); ``review``: the others
    whose status is ``review`` (the run's own exit code says "look at these").
    """
    counts = {status: sum(r.get("status", "error") == status for r in records) for status in STATUSES}
    failing = [fails_run(r, fail_on) for r in records]
    gate = [r for r, fails in zip(records, failing) if fails]
    review = [r for r, fails in zip(records, failing) if r.get("status") == "review" and not fails]
    message = (
        f"{len(records)} image(s): {counts['pass']} passed, {counts['review']} to review, {counts['fail']} failed, "
        f"{counts['error']} could not be processed"
    )
    if gate:
        message += f"; {len(gate)} make(s) the run fail (--fail-on {' '.join(fail_on)}; errors always do)"
    elif review:
        message += f"; {len(review)} need(s) a person's review"
    return {"counts": counts, "gate": gate, "review": review, "message": message}


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
