"""The answers of an audit, in the formats CI systems and people read.

Written into the output folder, each atomically:

* ``audit_summary.json``: counts, every image's verdict and every metadata file's findings;
* ``audit_junit.xml``: JUnit XML, one test case per image (suite ``images``) and per
  metadata file (suite ``metadata``); ``fail`` and ``review`` are failures (their ``type``
  says which), an image or file that could not be checked is an error;
* ``audit_summary.md``: a Markdown summary for a CI job page (``$GITHUB_STEP_SUMMARY``);
* ``audit.html`` (every image and file) and ``sub-<label>_audit.html`` (each image's renders
  and verdict), HTML-escaped.

Findings name the file and the field, never the value.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..derivatives import write_json
from ..methods.metadata.scan import FileScan
from .fragments import environment
from .participant import write_text

IMAGE_STATUSES = ("pass", "review", "fail", "error")


def summarise(records: list[dict], scans: list[FileScan]) -> dict:
    """Counts and lists: images by status, metadata files by their worst finding."""
    images = Counter(r.get("status", "error") for r in records)
    files = Counter(s.severity for s in scans if s.what != "hidden")
    total = {status: images[status] + files[status] for status in IMAGE_STATUSES}
    return {
        "n_images": len(records),
        "images": {status: images[status] for status in IMAGE_STATUSES},
        "n_files": sum(files.values()),
        "files": {status: files[status] for status in IMAGE_STATUSES},
        **{f"n_{status}": total[status] for status in ("review", "fail", "error")},
        "verdict": next((s for s in ("error", "fail", "review") if total[s]), "pass"),
    }


_ENTRY_KEYS = (
    "source_file",
    "subject",
    "session",
    "suffix",
    "status",
    "reason",
    "review_reason",
    "face_check_summary",
    "face_skin_summary",
)


def _image_entry(record: dict) -> dict:
    return {key: record.get(key, "") for key in _ENTRY_KEYS}


def write_audit_outputs(
    output_dir: Path, records: list[dict], scans: list[FileScan], *, config, figures: dict[str, str] | None = None
) -> dict:
    """Write every answer of the audit (module docstring); return the summary.

    ``figures``: source file -> its render gallery, relative to the output folder.
    """
    output_dir = Path(output_dir)
    summary = summarise(records, scans)
    summary.update(
        {
            "generated_by": {"Name": "bids_deface", "Version": __version__},
            "dataset": str(config.execution.bids_dir),
            "generated_at": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}",
            "scrub_level": config.workflow.scrub,
            "images_checked": [_image_entry(r) for r in records],
            "metadata": [s.as_dict() for s in scans if s.what != "hidden"],
        }
    )
    write_json(output_dir / "audit_summary.json", summary)
    write_text(output_dir / "audit_junit.xml", junit_xml(records, scans))
    write_text(output_dir / "audit_summary.md", markdown_summary(summary))
    _write_html(output_dir, summary, records, figures or {})
    return summary


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.2f}")


def junit_xml(records: list[dict], scans: list[FileScan]) -> str:
    """JUnit XML: one case per image and per metadata file (see the module docstring)."""
    root = ET.Element("testsuites", name="bids-deface audit")
    images = ET.SubElement(root, "testsuite", name="images")
    for record in records:
        case = _case(images, f"sub-{record.get('subject', '')}", record["source_file"], record.get("time_total_s", 0.0))
        status = record.get("status", "error")
        if status == "error":
            ET.SubElement(case, "error", message=record.get("reason", "")).text = record.get("reason", "")
        elif status in ("fail", "review"):
            message = record.get("reason") if status == "fail" else record.get("review_reason")
            ET.SubElement(case, "failure", message=f"{status}: {message}", type=status).text = message
    metadata = ET.SubElement(root, "testsuite", name="metadata")
    for scan in (s for s in scans if s.what != "hidden"):
        case = _case(metadata, "metadata", scan.path)
        shown = [f for f in scan.findings if f.severity != "note"]
        text = "\n".join(f"{f.field} ({f.kind}): {f.why} [{f.severity}]" for f in shown)
        if scan.severity == "error":
            ET.SubElement(case, "error", message=text.splitlines()[0] if text else "unreadable").text = text
        elif scan.severity in ("fail", "review"):
            fields = ", ".join(dict.fromkeys(f.field for f in shown))
            ET.SubElement(case, "failure", message=f"{scan.severity}: {fields}", type=scan.severity).text = text
        notes = [f for f in scan.findings if f.severity == "note"]
        if notes:
            ET.SubElement(case, "system-out").text = "\n".join(f"{f.field}: {f.why}" for f in notes)
    for suite in (images, metadata):
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
        suite.set("time", f"{sum(float(c.get('time')) for c in cases):.2f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_HEADLINES = {
    "pass": "may be published: no face and no identifying metadata found",
    "review": "a person must look before it is published",
    "fail": "must not be published as it is",
    "error": "could not be checked completely: the audit cannot vouch for it",
}


def _md(text) -> str:
    """A table cell: no pipes or line breaks."""
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def markdown_summary(summary: dict) -> str:
    """The Markdown page of a CI job (see the module docstring)."""
    lines = [
        f"## bids-deface audit: {summary['verdict'].upper()}",
        "",
        f"The dataset {_HEADLINES[summary['verdict']]}.",
        "",
        "| | pass | review | fail | error |",
        "| --- | --- | --- | --- | --- |",
        "| images | " + " | ".join(str(summary["images"][s]) for s in IMAGE_STATUSES) + " |",
        "| metadata files | " + " | ".join(str(summary["files"][s]) for s in IMAGE_STATUSES) + " |",
        "",
    ]
    flagged = [i for i in summary["images_checked"] if i["status"] != "pass"]
    if flagged:
        lines += ["### Images", "", "| image | status | why |", "| --- | --- | --- |"]
        lines += [
            f"| `{_md(i['source_file'])}` | {i['status']} | {_md(i['reason'] or i['review_reason'])} |" for i in flagged
        ]
        lines.append("")
    findings = [(m["path"], f) for m in summary["metadata"] for f in m["findings"] if f["severity"] != "note"]
    if findings:
        lines += ["### Metadata", "", "| file | field | why | severity |", "| --- | --- | --- | --- |"]
        lines += [f"| `{_md(p)}` | `{_md(f['field'])}` | {_md(f['why'])} | {f['severity']} |" for p, f in findings]
        lines.append("")
    lines.append(
        f"bids_deface {summary['generated_by']['Version']}; exit codes: 0 pass, 1 fail, 4 review, 5 not checked. "
        "Details: `audit.html`, `audit_summary.json`, `audit_junit.xml`."
    )
    return "\n".join(lines) + "\n"


def _write_html(output_dir: Path, summary: dict, records: list[dict], figures: dict[str, str]) -> None:
    env = environment()
    subjects = sorted({r.get("subject", "") for r in records})
    for subject in subjects:
        mine = [{**r, "figure": figures.get(r["source_file"])} for r in records if r.get("subject", "") == subject]
        html = env.get_template("audit_participant.html.j2").render(subject=subject, records=mine, summary=summary)
        write_text(output_dir / f"sub-{subject}_audit.html", html)
    html = env.get_template("audit.html.j2").render(summary=summary, subjects=subjects, headline=_HEADLINES)
    write_text(output_dir / "audit.html", html)
