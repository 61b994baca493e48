"""The scrubbing policy: levels, user options and the two documented tables.

``bids_deface/data/scrub_fields.tsv`` rules JSON keys (DICOM keywords, as converters
write them); ``bids_deface/data/scrub_columns.tsv`` rules TSV columns. ``docs/scrubbing.md``
explains both. A field or column that no rule names is decided by the level:

* ``default``: kept when BIDS defines it (any metadata term; for a table, its BIDS
  columns or a column the dataset documents in the table's JSON) or a ``keep`` row names
  it; otherwise removed as *unknown*;
* ``strict``: kept only when BIDS defines it for the image's suffix (protected analysis
  fields included) or for the table.

Identifying rules (``remove``, ``date``) win over the allow-lists; the user's
``keep_fields`` win over everything, then the user's ``scrub_fields``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources

from .schema import bids_metadata_names, bids_sidecar_fields, bids_table_columns

#: The scrubbing levels, least to most aggressive.
LEVELS = ("none", "default", "strict")
#: Placeholder values that identify nobody: never reported as identifying values.
PLACEHOLDERS = frozenset(
    {
        "",
        "none",
        "null",
        "n/a",
        "na",
        "unknown",
        "anonymous",
        "anonymized",
        "anonymised",
        "removed",
        "deidentified",
        "de-identified",
        "0",
    }
)
_ACTIONS = ("remove", "date", "keep")
FIELD_TABLE = "scrub_fields.tsv"
COLUMN_TABLE = "scrub_columns.tsv"

#: Why something was removed (the words the release summary uses).
IDENTIFYING, UNKNOWN = "identifying", "unknown"


@dataclass(frozen=True)
class ScrubPolicy:
    """What to scrub.

    Parameters
    ----------
    level
        ``"none"``, ``"default"`` or ``"strict"``.
    scrub_fields
        Extra keys or TSV columns (or glob patterns) to remove.
    keep_fields
        Keys or columns (or glob patterns) never removed nor changed; wins over
        everything. NIfTI header fields (``descrip``, ``aux_file``, ...) and
        ``extensions`` can be kept too.
    shift_days
        Shift dates by this many days instead of removing them (``None``: remove).
    """

    level: str = "default"
    scrub_fields: tuple[str, ...] = ()
    keep_fields: tuple[str, ...] = ()
    shift_days: int | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown scrub level {self.level!r}; allowed: {', '.join(LEVELS)}")
        for name in ("scrub_fields", "keep_fields"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"{name} must be a sequence of field names, not a string")
            object.__setattr__(self, name, tuple(value))
        if self.shift_days is not None and (isinstance(self.shift_days, bool) or not isinstance(self.shift_days, int)):
            raise TypeError(f"shift_days must be an int or None, got {self.shift_days!r}")

    @classmethod
    def from_options(cls, options) -> ScrubPolicy:
        """The policy of a :class:`bids_deface.config.WorkflowConfig` (or any object with
        ``scrub``, ``scrub_fields``, ``keep_fields`` and ``shift_dates``)."""
        return cls(
            level=options.scrub,
            scrub_fields=tuple(options.scrub_fields),
            keep_fields=tuple(options.keep_fields),
            shift_days=options.shift_dates,
        )

    def keeps(self, key: str) -> bool:
        """Whether ``key`` is protected by ``keep_fields``."""
        return _matches(key, self.keep_fields)

    def adds(self, key: str) -> bool:
        """Whether ``key`` is listed in ``scrub_fields``."""
        return _matches(key, self.scrub_fields)


@dataclass(frozen=True)
class FieldRule:
    """One row of a policy table."""

    field: str
    action: str
    dicom_tag: str
    ps315: str
    reason: str

    @property
    def is_pattern(self) -> bool:
        return any(char in self.field for char in "*?[")


def _matches(key: str, names: tuple[str, ...]) -> bool:
    return any(key == name or fnmatchcase(key, name) for name in names)


@lru_cache(maxsize=2)
def _load_table(name: str) -> tuple[FieldRule, ...]:
    text = resources.files("bids_deface.data").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rules = []
    for row in csv.DictReader(lines, delimiter="\t"):
        key = row.get("field") or row.get("column")
        rule = FieldRule(key, row["action"], row.get("dicom_tag", "-"), row.get("ps315", "-"), row["reason"])
        if rule.action not in _ACTIONS:
            raise ValueError(f"{name}: {key!r} has unknown action {rule.action!r}")
        rules.append(rule)
    return tuple(rules)


def load_field_rules() -> tuple[FieldRule, ...]:
    """The documented JSON field table shipped in ``bids_deface/data``."""
    return _load_table(FIELD_TABLE)


def load_column_rules() -> tuple[FieldRule, ...]:
    """The documented TSV column table shipped in ``bids_deface/data``."""
    return _load_table(COLUMN_TABLE)


def _table_action(key: str, rules: tuple[FieldRule, ...], *, fold_case: bool) -> str | None:
    name = key.lower() if fold_case else key
    for rule in rules:
        if not rule.is_pattern and (rule.field.lower() if fold_case else rule.field) == name:
            return rule.action
    for rule in rules:
        if rule.is_pattern and fnmatchcase(name, rule.field.lower() if fold_case else rule.field):
            return rule.action
    return None


def default_action(key: str) -> str | None:
    """The field table's action for ``key`` (``remove``, ``date``, ``keep``) or ``None``.

    Exact names are looked up first, then the patterns in table order.
    """
    return _table_action(key, load_field_rules(), fold_case=False)


def column_action(column: str) -> str | None:
    """The column table's action for a TSV ``column`` (case-insensitive) or ``None``."""
    return _table_action(column, load_column_rules(), fold_case=True)


@lru_cache(maxsize=1)
def protected_bids_fields() -> frozenset[str]:
    """Policy ``keep`` fields that are BIDS metadata terms (strict keeps them for any suffix)."""
    names = bids_metadata_names()
    return frozenset(rule.field for rule in load_field_rules() if rule.action == "keep" and rule.field in names)


@lru_cache(maxsize=1)
def _known_safe_fields() -> frozenset[str]:
    return frozenset(rule.field for rule in load_field_rules() if rule.action == "keep" and not rule.is_pattern)


def decide_field(key: str, policy: ScrubPolicy, *, suffix: str | None, top_level: bool) -> str:
    """``keep`` (verbatim), ``scrub`` (keep, scrub what it holds), ``remove``, ``unknown`` or ``date``.

    Nested keys (``top_level`` false) are only ruled by the tables and the user's lists:
    the allow-lists name top-level fields, whose values may be objects of their own.
    """
    if policy.keeps(key):
        return "keep"
    if policy.adds(key):
        return "remove"
    action = default_action(key)
    if action in ("remove", "date"):
        return action
    if not top_level:
        return "scrub"
    if policy.level == "strict":
        allowed = key in bids_sidecar_fields(suffix) or key in protected_bids_fields()
    else:
        allowed = action == "keep" or key in bids_metadata_names() or key in _known_safe_fields()
    return "scrub" if allowed else "unknown"


def decide_column(column: str, policy: ScrubPolicy, *, kind: str, documented: frozenset[str]) -> str:
    """``keep``, ``remove``, ``date`` or ``unknown`` for a column of a BIDS table.

    ``kind``: ``participants``, ``sessions``, ``scans``, ``samples`` or ``phenotype``;
    ``documented``: the columns the table's JSON data dictionary describes.
    """
    if policy.keeps(column):
        return "keep"
    if policy.adds(column):
        return "remove"
    action = column_action(column)
    if action in ("remove", "date"):
        return action
    if action == "keep" or column in bids_table_columns(kind):
        return "keep"
    if policy.level != "strict" and column in documented:
        return "keep"
    return "unknown"
