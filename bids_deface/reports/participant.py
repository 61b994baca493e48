"""The participant report ``sub-<label>.html``, assembled by nireports from a YAML spec.

The per-image reportlets (flicker, removal mosaic, render gallery, metrics table) are
written into ``sub-<label>/figures`` by the workflow (:mod:`bids_deface.workflows.reports`).
After the run, :func:`generate_participant_report` adds the reportlets that need every
image's final record (summary, errors), the methods boilerplate, and asks nireports to
assemble the page with bids_deface's own template: no CDN, styles and scripts inlined.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path

from .. import __version__
from ..methods.io import atomic_path
from .boilerplate import write_citation
from .fragments import TEMPLATES, errors_fragment, summary_fragment

LOGGER = logging.getLogger(__name__)

#: Workflow options shown in the summary, with their labels.
SETTINGS_SHOWN = {
    "method": "Method",
    "template": "Template",
    "deear": "Ears removed",
    "brain_margin_mm": "Brain margin (mm)",
    "registration_resolution_mm": "Registration resolution (mm)",
    "impact": "Impact measures",
    "scrub": "Metadata scrubbing",
    "fail_on": "Checks that fail the run",
}

_EXTERNAL = re.compile(
    r"""<(?:script|link|img|iframe|object|source)\b[^>]*?\b(?:src|href|data)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|@import\s+(?:url\()?["']?\s*(?:https?:)?//[^"')\s]+""",
    re.IGNORECASE,
)


def spec_file() -> Path:
    """The nireports bootstrap (YAML spec) of the participant report."""
    return Path(str(files("bids_deface.data") / "reports-spec.yml"))


def external_resources(html: str) -> list[str]:
    """Scripts, styles, images or frames an HTML page would fetch from the network.

    Plain links (``<a href="https://...">``) are not resources and are not listed.
    """
    return [match.group(0) for match in _EXTERNAL.finditer(html)]


def subject_records(records: Iterable[Mapping], subject: str) -> list[Mapping]:
    """The records of one participant (by their ``subject`` field or their file name)."""
    subject = subject.removeprefix("sub-")
    return [
        r
        for r in records
        if str(r.get("subject", "")) == subject or str(r.get("source_file", "")).startswith(f"sub-{subject}/")
    ]


def _settings(options, records: list[Mapping], run_uuid: str | None) -> dict:
    opts = dataclasses.asdict(options) if dataclasses.is_dataclass(options) else dict(options or {})
    settings = {label: opts[key] for key, label in SETTINGS_SHOWN.items() if key in opts}
    if not opts and records:  # no options given: what the records say
        for key in ("method", "template"):
            if key in records[0]:
                settings[SETTINGS_SHOWN[key]] = records[0][key]
    versions = {"bids_deface": __version__}
    for record in records[:1]:
        versions.update({k.removeprefix("version_"): v for k, v in record.items() if k.startswith("version_")})
    try:
        from nireports import __version__ as nireports_version

        versions.setdefault("nireports", nireports_version)
    except ImportError:  # pragma: no cover - nireports is a dependency
        pass
    settings["Versions"] = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    if run_uuid:
        settings["Run"] = run_uuid
    settings["Report generated"] = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
    return settings


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _write_fragments(output_dir: Path, subject: str, records: list, settings: dict, log_dir) -> None:
    """The summary and errors reportlets the workflow cannot write (they need every record)."""
    figures = output_dir / f"sub-{subject}" / "figures"
    write_text(figures / f"sub-{subject}_desc-summary_report.html", summary_fragment(records, settings))
    write_text(
        figures / f"sub-{subject}_desc-errors_report.html", errors_fragment(records, str(log_dir) if log_dir else None)
    )


def generate_participant_report(
    output_dir: str | Path,
    subject: str,
    *,
    records: Iterable[Mapping] | None = None,
    options=None,
    run_uuid: str | None = None,
    log_dir: str | Path | None = None,
) -> Path:
    """Assemble ``<output_dir>/sub-<subject>.html`` with nireports.

    Parameters
    ----------
    output_dir
        The derivatives dataset (holds ``sub-<subject>/figures`` from the workflow).
    subject
        The participant label (with or without ``sub-``).
    records
        Metrics records; default: every ``*_desc-deface_metrics.json`` of the participant.
    options
        The run's :class:`bids_deface.config.WorkflowConfig` (or a dict), shown in the
        summary and used for the methods text.
    run_uuid
        The run identifier, shown in the summary.
    log_dir
        Where crash files are (named in the errors section).

    Returns
    -------
    Path
        The report.
    """
    from nireports.assembler.report import Report

    from ..derivatives import read_records

    output_dir = Path(output_dir).absolute()
    subject = subject.removeprefix("sub-")
    records = subject_records(read_records(output_dir) if records is None else records, subject)
    _write_fragments(output_dir, subject, records, _settings(options, records, run_uuid), log_dir)
    write_citation(output_dir, options)

    report = Report(
        output_dir,
        run_uuid or "null",
        bootstrap_file=spec_file(),
        out_filename=f"sub-{subject}.html",
        reportlets_dir=output_dir,
        metadata={"template_dir": str(TEMPLATES)},
        subject=subject,
    )
    report.generate_report()
    out = Path(report.out_filename)
    remote = external_resources(out.read_text(encoding="utf-8"))
    if remote:
        LOGGER.warning("%s: the report refers to network resources: %s", out, ", ".join(remote[:3]))
    LOGGER.debug("participant report: %s", out)
    return out
