"""Writing the files of a release one by one, remembering what was removed and where.

Used by :func:`bids_deface.methods.metadata.release.make_release`: each method writes one
kind of file (:mod:`.catalog`) into the release folder and records the removed values
(for the leftover search), the removed fields and columns, the redactions and what is
kept on purpose.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from pathlib import Path

import nibabel as nib

from ..io import atomic_path
from . import catalog
from .freetext import redact_text, spelling_regex, spellings
from .nifti import copy_without_gzip_names, nifti_identifying_values, scrub_nifti, scrub_nifti_file
from .policy import IDENTIFYING, UNKNOWN, ScrubPolicy
from .schema import is_known_suffix
from .sidecar import identifying_values, scrub_sidecar_fields
from .tabular import scrub_dictionary, scrub_table, table_kind

LOGGER = logging.getLogger(__name__)

#: dataset_description.json fields copied as they are (the rest is redacted as free text).
DESCRIPTION_AS_IS = (
    "Name",
    "BIDSVersion",
    "DatasetType",
    "License",
    "DatasetDOI",
    "HEDVersion",
    "GeneratedBy",
    "SourceDatasets",
    "DatasetLinks",
    "Authors",
)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, content) -> None:
    write_text(path, json.dumps(content, indent=2, ensure_ascii=False) + "\n")


def missing_reason(path: Path) -> str:
    target = os.readlink(path) if path.is_symlink() else ""
    if "annex/objects" in target:
        return f"{path}: annexed content not present (run `datalad get {path}` or `git annex get`)"
    return f"{path}: broken symlink to {target}" if target else f"{path}: not readable"


def documented_columns(root: Path, rel: str, kind: str) -> frozenset[str]:
    """The columns a table's JSON data dictionary describes (its own, or the inherited one of its kind)."""
    names = set()
    for candidate in (rel[:-4] + ".json", f"{kind}.json"):
        path = root / candidate
        if path.is_file():
            try:
                content = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                LOGGER.warning("%s: unreadable data dictionary (%s)", path, err)
                continue
            names |= set(content) if isinstance(content, dict) else set()
    return frozenset(names)


class ReleaseWriter:
    """Writes the files of one release into ``out`` and remembers what it removed."""

    def __init__(self, bids_dir: Path, out: Path, policy: ScrubPolicy):
        self.bids_dir, self.out, self.policy = bids_dir, out, policy
        self.values: dict[str, str] = {}  # removed value -> where it came from
        self.removed: Counter = Counter()  # (kind, name, why) -> files
        self.redacted: list[dict] = []
        self.kept: list[dict] = []
        self.removed_columns: dict[str, set[str]] = {}
        self._regex: tuple[int, object] = (-1, None)

    def remember(self, values, origin: str) -> None:
        for value in values:
            if spellings(value):  # too short to search for: would match by chance
                self.values.setdefault(str(value).strip(), origin)

    def sidecar(self, rel: str, override: dict | None = None) -> None:
        source = self.bids_dir / rel
        suffix = catalog.suffix_of(rel)
        suffix = suffix if is_known_suffix(suffix) else None
        clean = {}
        if source.exists():
            meta = json.loads(source.read_text(encoding="utf-8"))
            result = scrub_sidecar_fields(meta, self.policy, suffix=suffix)
            for path in result.identifying:
                self.remember(identifying_values(meta, [path]), f"{rel}: {path}")
            self._count("sidecar field", result.identifying, IDENTIFYING)
            self._count("sidecar field", result.unknown, UNKNOWN)
            self._note_kept(rel, [key for key in meta if self.policy.keeps(key)], "--keep-field")
            clean = result.clean
        if override is not None:  # the derivative's sidecar (scrubbed again: the policy may differ)
            clean = scrub_sidecar_fields(override, self.policy, suffix=suffix).clean
        write_json(self.out / rel, clean)

    def table(self, rel: str) -> None:
        kind = table_kind(rel) or "phenotype"
        documented = documented_columns(self.bids_dir, rel, kind)
        result = scrub_table(
            (self.bids_dir / rel).read_text(encoding="utf-8"), self.policy, kind=kind, documented=documented
        )
        self.remember(result.values, f"{rel}: removed or shifted columns")
        self.removed_columns[rel] = set(result.removed)
        for column, why in result.removed.items():
            self._count(f"{kind} column", [column], why)
        header = result.text.split("\n", 1)[0].rstrip("\r").split("\t")
        extra = [c for c in header if c in documented]
        self._note_kept(rel, [c for c in header if self.policy.keeps(c)], "--keep-field")
        self._note_kept(rel, extra, "documented in the table's JSON data dictionary")
        write_text(self.out / rel, result.text)

    def dictionary(self, rel: str) -> None:
        content = json.loads((self.bids_dir / rel).read_text(encoding="utf-8"))
        table = rel[:-5] + ".tsv"
        if table in self.removed_columns:
            gone = self.removed_columns[table]
        else:  # an inherited dictionary (sessions.json): every table of its kind
            gone = set().union(
                *[cols for t, cols in self.removed_columns.items() if catalog.suffix_of(t) == catalog.suffix_of(rel)]
            )
        clean, _ = scrub_dictionary(content, gone) if isinstance(content, dict) else (content, [])
        write_json(self.out / rel, clean)

    def nifti(self, rel: str, defaced: Path | None = None) -> None:
        """The image (or its defaced version), header scrubbed; the original's header text is searched for."""
        original = self.bids_dir / rel
        changed, values = scrub_nifti_file(defaced or original, self.out / rel, self.policy)
        if defaced is not None:
            img = nib.load(original)
            changed = scrub_nifti(img, self.policy)[1]
            values = nifti_identifying_values(img, changed)
        self.remember(values, f"{rel}: NIfTI header")
        self._count("NIfTI header field", changed, IDENTIFYING)

    def copy(self, rel: str) -> None:
        copy_without_gzip_names(self.bids_dir / rel, self.out / rel)

    def free_text(self, rel: str, note: str = "") -> None:
        path = self.bids_dir / rel
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        text, done = redact_text(text, self._known(), shift_days=self.policy.shift_days)
        self._record_redactions(rel, done)
        if note:
            text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + note
        write_text(self.out / rel, text)

    def description(self, generated_by: dict) -> None:
        path = self.bids_dir / "dataset_description.json"
        try:
            description = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable dataset description ({err})") from err
        known = self._known()
        for key, value in list(description.items()):
            if isinstance(value, str) and key not in DESCRIPTION_AS_IS:
                description[key], done = redact_text(value, known, shift_days=self.policy.shift_days)
                self._record_redactions(f"dataset_description.json: {key}", done)
            elif isinstance(value, list) and key not in DESCRIPTION_AS_IS:
                redacted = [
                    redact_text(v, known, shift_days=self.policy.shift_days) if isinstance(v, str) else (v, None)
                    for v in value
                ]
                description[key] = [v for v, _ in redacted]
                for _, done in redacted:
                    if done is not None:
                        self._record_redactions(f"dataset_description.json: {key}", done)
        if description.get("Authors"):
            self.kept.append(
                {
                    "file": "dataset_description.json",
                    "field": "Authors",
                    "why": "the dataset's authors, published on purpose",
                }
            )
        description["DatasetType"] = "raw"  # a release is a dataset, not derivatives
        description["GeneratedBy"] = [*description.get("GeneratedBy", []), generated_by]
        write_json(self.out / "dataset_description.json", description)

    def _known(self):
        if self._regex[0] != len(self.values):
            self._regex = (len(self.values), spelling_regex(s for v in self.values for s in spellings(v)))
        return self._regex[1]

    def drop_labels(self, relpaths) -> None:
        """Values that are labels of the dataset (``sub-<label>``, ``ses-<label>``...) are
        released on purpose in every file name: not searched for."""
        labels = {m.lower() for rel in relpaths for m in re.findall(r"(?:^|[/_])[a-zA-Z]+-([a-zA-Z0-9]+)", rel)}
        for value in [v for v in self.values if v.lower() in labels]:
            del self.values[value]

    def _record_redactions(self, where: str, done) -> None:
        for kind, count in sorted(done.counts.items()):
            self.redacted.append({"file": where, "kind": kind, "count": count})
        self.remember([t for t in done.removed if t not in self.values], f"{where}: redacted free text")

    def _count(self, kind: str, names, why: str) -> None:
        for name in names:
            self.removed[(kind, name, why)] += 1

    def _note_kept(self, rel: str, names, why: str) -> None:
        self.kept += [{"file": rel, "field": name, "why": why} for name in names]

    def removed_summary(self) -> tuple[dict, ...]:
        return tuple(
            {"where": kind, "name": name, "why": why, "files": n}
            for (kind, name, why), n in sorted(self.removed.items())
        )
