"""What a dataset would publish that identifies someone: the metadata scan of an audit.

:func:`scan_dataset` reads every file of a BIDS dataset the way a release copy
(:mod:`.release`) would write it and reports, instead of removing, what the release
would remove: sidecar fields and nested values, TSV columns, NIfTI header text fields and
extensions, gzip header names, e-mail addresses, telephone numbers and dates in free text
and in file names, and the files outside BIDS raw data that nothing checks. One policy
(:class:`~.policy.ScrubPolicy`) decides both, so a release copy scans clean.

Each :class:`Finding` names the file and the field, never the value, and has a severity:

* ``fail``: a field a rule calls identifying (``PatientName``, ``AcquisitionDateTime``, an
  ``acq_time`` column, an e-mail address in README), or a file that cannot be read;
* ``review``: not known to be safe, so a person must look: a field or column that no
  allow-list names (the release would drop it as *unknown*), a file outside BIDS raw
  data (``code/``, ``stimuli/``) that no rule reads;
* ``error``: the file cannot be read (annexed content not present, corrupt), so nothing
  vouches for it;
* ``note``: kept on purpose and listed (``Authors``, ``--keep-field``) or minor (the gzip
  header's time stamp at the ``default`` level).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import nibabel as nib

from . import catalog
from .dates import find_dates
from .freetext import EMAIL, find_patterns, redact_text
from .nifti import gzip_names, scrub_nifti
from .policy import IDENTIFYING, ScrubPolicy, default_action
from .schema import is_known_suffix
from .sidecar import scrub_sidecar_fields
from .tabular import scrub_table, table_kind
from .writer import DESCRIPTION_AS_IS, documented_columns, missing_reason

SEVERITIES = ("note", "review", "fail", "error")
_ENTITY = re.compile(r"(?:^|[/_])([a-zA-Z]+)-([a-zA-Z0-9]+)")


@dataclass(frozen=True)
class Finding:
    """One thing a file would publish: ``field`` of ``path`` (dataset-relative), never its value."""

    path: str
    field: str
    kind: str
    why: str
    severity: str = "fail"


@dataclass
class FileScan:
    """The scan of one file: what it is (a release action, or ``None`` when it stays out) and its findings."""

    path: str
    what: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> str:
        """The worst severity of the findings (``pass`` when there is none above a note)."""
        worst = max((SEVERITIES.index(f.severity) for f in self.findings), default=0)
        return SEVERITIES[worst] if worst else "pass"

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "what": self.what,
            "status": self.severity,
            "findings": [asdict(f) for f in self.findings],
        }


def scan_dataset(root, policy: ScrubPolicy, *, include=(), files=None) -> list[FileScan]:
    """Scan every file under ``root`` (or the dataset-relative ``files``); see the module docstring."""
    root = Path(root)
    relpaths = catalog.dataset_files(root) if files is None else list(files)
    return [scan_file(root, rel, policy, include=include) for rel in relpaths]


def scan_file(root: Path, rel: str, policy: ScrubPolicy, *, include=()) -> FileScan:
    """The findings of one dataset-relative file (its name included)."""
    action, reason = catalog.classify(rel, include)
    if any(part.startswith(".") for part in PurePosixPath(rel).parts) and action is None:
        return FileScan(rel, "hidden")  # version control and tool settings: not published as data
    scan = FileScan(rel, action or "outside BIDS raw data")
    scan.findings += _name_findings(rel)
    path = root / rel
    if action is None:
        scan.findings.append(
            Finding(rel, "(whole file)", "outside BIDS raw data", f"no rule reads it: {reason}", "review")
        )
        return scan
    if not path.exists():  # a dangling symlink: annexed content not present
        scan.findings.append(Finding(rel, "(content)", "unreadable", missing_reason(path), "error"))
        return scan
    try:
        scan.findings += _READERS.get(action, _copied)(root, rel, policy)
    except (OSError, ValueError, UnicodeDecodeError, nib.filebasedimages.ImageFileError) as err:
        scan.findings.append(Finding(rel, "(content)", "unreadable", f"cannot be read: {err}", "error"))
    return scan


def _name_findings(rel: str) -> list[Finding]:
    """Entity labels and file names that hold a date or an e-mail address (``ses-20190304``)."""
    out = []
    for entity, label in _ENTITY.findall(rel):
        if find_dates(label) or re.fullmatch(r"(19|20)\d{6}", label):
            out.append(Finding(rel, f"{entity}-{label}", "file name", f"the {entity} label looks like a date"))
    if EMAIL.search(rel):
        out.append(Finding(rel, "(file name)", "file name", "the path holds an e-mail address"))
    return out


def _sidecar(root: Path, rel: str, policy: ScrubPolicy) -> list[Finding]:
    meta = json.loads((root / rel).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("a sidecar must hold a JSON object")
    suffix = catalog.suffix_of(rel)
    result = scrub_sidecar_fields(meta, policy, suffix=suffix if is_known_suffix(suffix) else None)
    unknown = set(result.unknown)
    out = [
        Finding(rel, name, "sidecar field", "not a BIDS field nor known to be safe", "review")
        if name in unknown
        else Finding(rel, name, "sidecar field", _identifying_why(name))
        for name in result.changed
    ]
    out += [Finding(rel, key, "sidecar field", "kept by --keep-field", "note") for key in meta if policy.keeps(key)]
    return out


def _identifying_why(name: str) -> str:
    top = name.split(".", 1)[0].split("[", 1)[0]
    return "a date" if default_action(top) == "date" else "identifying (scrubbing policy)"


def _table(root: Path, rel: str, policy: ScrubPolicy) -> list[Finding]:
    kind = table_kind(rel) or "phenotype"
    documented = documented_columns(root, rel, kind)
    result = scrub_table((root / rel).read_text(encoding="utf-8"), policy, kind=kind, documented=documented)
    return [
        Finding(rel, column, f"{kind} column", "identifying (scrubbing policy)")
        if why == IDENTIFYING
        else Finding(rel, column, f"{kind} column", "not a BIDS column nor documented in the table's JSON", "review")
        for column, why in result.removed.items()
    ]


def _nifti(root: Path, rel: str, policy: ScrubPolicy) -> list[Finding]:
    path = root / rel
    _, changed = scrub_nifti(nib.load(path), policy)
    out = [Finding(rel, name, "NIfTI header", "free text in the header (or an extension)") for name in changed]
    out += _gzip_findings(path, rel, policy)
    return out


def _gzip_findings(path: Path, rel: str, policy: ScrubPolicy) -> list[Finding]:
    name, comment, mtime = gzip_names(path)
    out = []
    if name:
        out.append(Finding(rel, "gzip FNAME", "gzip header", "the compressed file's original name"))
    if comment:
        out.append(Finding(rel, "gzip FCOMMENT", "gzip header", "a comment in the gzip header"))
    if mtime and policy.level != "none":
        severity = "fail" if policy.level == "strict" else "note"
        out.append(Finding(rel, "gzip MTIME", "gzip header", "the time the file was compressed (a date)", severity))
    return out


def _free_text(root: Path, rel: str, policy: ScrubPolicy) -> list[Finding]:
    text = (root / rel).read_text(encoding="utf-8", errors="replace")
    _, done = redact_text(text, None, shift_days=policy.shift_days)
    return [
        Finding(rel, f"{count} {kind}(s)", "free text", f"the release would redact {kind}s")
        for kind, count in sorted(done.counts.items())
        if kind != "date shifted"
    ]


def _description(root: Path, rel: str, policy: ScrubPolicy) -> list[Finding]:
    description = json.loads((root / rel).read_text(encoding="utf-8"))
    out = []
    for key, value in description.items():
        texts = (
            [value]
            if isinstance(value, str)
            else [v for v in value if isinstance(v, str)]
            if isinstance(value, list)
            else []
        )
        if key in DESCRIPTION_AS_IS:
            if key == "Authors" and value:
                out.append(
                    Finding(rel, key, "dataset description", "the dataset's authors, published on purpose", "note")
                )
            continue
        for text in texts:
            _, done = redact_text(text, None, shift_days=policy.shift_days)
            out += [
                Finding(rel, key, "dataset description", f"holds {count} {kind}(s)")
                for kind, count in sorted(done.counts.items())
                if kind != "date shifted"
            ]
    return out


def _copied(root: Path, rel: str, policy: ScrubPolicy) -> list[Finding]:
    """A file a release copies as it is: searched for e-mail addresses and telephone numbers."""
    path = root / rel
    out = _gzip_findings(path, rel, policy) if rel.endswith(".gz") else []
    if PurePosixPath(rel).suffix.lower() in (".json", ".tsv", ".txt", ".md", ".csv", ".rst", ""):
        counts = find_patterns(path.read_text(encoding="utf-8", errors="replace"))
        out += [Finding(rel, f"{n} {kind}(s)", "text", f"holds {kind}s") for kind, n in sorted(counts.items())]
    return out


_READERS = {
    catalog.SIDECAR: _sidecar,
    catalog.TABLE: _table,
    catalog.NIFTI: _nifti,
    catalog.FREETEXT: _free_text,
    catalog.DESCRIPTION: _description,
}
