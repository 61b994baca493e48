"""Identifying columns of BIDS tables: participants, samples, sessions, scans, phenotype.

Columns are decided by :func:`~bids_deface.methods.metadata.policy.decide_column`
(the column table ``scrub_columns.tsv``, the BIDS columns of the table, the columns the
dataset documents in the table's JSON). Dates (``acq_time``) are shifted or the column
is dropped. The text is rewritten with the rows, order and line endings of the source.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .dates import shift_date_value
from .policy import IDENTIFYING, PLACEHOLDERS, UNKNOWN, ScrubPolicy, decide_column

LOGGER = logging.getLogger(__name__)


def table_kind(relpath: str) -> str | None:
    """Which BIDS table a dataset-relative path is (``participants``...), or ``None``."""
    path = PurePosixPath(relpath)
    if path.suffix != ".tsv":
        return None
    if len(path.parts) == 1 and path.name in ("participants.tsv", "samples.tsv"):
        return path.stem
    if path.parts[0] == "phenotype":
        return "phenotype"
    for kind in ("sessions", "scans"):
        if path.name.endswith(f"_{kind}.tsv") or path.name == f"{kind}.tsv":
            return kind
    return None


@dataclass(frozen=True)
class TableScrub:
    """A scrubbed table: its text, the columns removed (name -> why) and the values removed."""

    text: str
    removed: dict[str, str] = field(default_factory=dict)
    #: cell values of identifying columns, and the original values of shifted dates
    values: list[str] = field(default_factory=list)


def scrub_table(text: str, policy: ScrubPolicy, *, kind: str, documented=frozenset()) -> TableScrub:
    """Scrub the columns of a BIDS table given as TSV text.

    ``documented``: the columns the table's JSON data dictionary describes (kept at the
    default level unless a rule calls them identifying).
    """
    if policy.level == "none":
        return TableScrub(text)
    newline = "\r\n" if "\r\n" in text else "\n"
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        return TableScrub(text)
    header, body = rows[0], rows[1:]
    keep, removed, values = [], {}, []
    for index, column in enumerate(header):
        action = decide_column(column, policy, kind=kind, documented=frozenset(documented))
        cells = [row[index] for row in body if index < len(row)]
        if action == "date" and policy.shift_days is not None:
            shifted = [
                cell if cell.strip().lower() in PLACEHOLDERS else shift_date_value(cell, policy.shift_days)
                for cell in cells
            ]
            if all(value is not None for value in shifted):
                for row, value in zip((r for r in body if index < len(r)), shifted):
                    row[index] = value
                values += [cell for cell, value in zip(cells, shifted) if cell != value]
                keep.append(index)
                continue
            LOGGER.warning("%s column %s: not dates this tool can shift; removed", kind, column)
        if action == "keep":
            keep.append(index)
            continue
        removed[column] = UNKNOWN if action == "unknown" else IDENTIFYING
        if action != "unknown":
            values += [cell for cell in cells if cell.strip().lower() not in PLACEHOLDERS]
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator=newline, quoting=csv.QUOTE_NONE, escapechar="\\")
    for row in [header, *body]:
        writer.writerow([row[i] for i in keep if i < len(row)])
    clean = out.getvalue()
    if not text.endswith(("\n", "\r")):
        clean = clean[: -len(newline)]
    return TableScrub(clean, removed, list(dict.fromkeys(values)))


def scrub_dictionary(content: dict, removed_columns) -> tuple[dict, list[str]]:
    """A table's JSON data dictionary without the entries of removed columns."""
    gone = [key for key in content if key in set(removed_columns)]
    return {key: value for key, value in content.items() if key not in gone}, gone
