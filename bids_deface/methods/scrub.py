"""Remove identifying metadata from BIDS JSON sidecars and NIfTI headers.

Levels ``none``, ``default`` (DICOM PS3.15 Annex E Basic Profile fields, dates removed
or shifted, analysis fields protected) and ``strict`` (also every field BIDS does not
define for the suffix). The policy is the table ``bids_deface/data/scrub_fields.tsv``;
``docs/scrubbing.md`` explains it. Functions report removed or changed field names
(dotted paths), never values.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import logging
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from typing import Any

import nibabel as nib

LOGGER = logging.getLogger(__name__)

#: The scrubbing levels, least to most aggressive.
LEVELS = ("none", "default", "strict")
#: NIfTI-1 header text fields cleared by :func:`scrub_nifti` (``data_type`` is an unused
#: ANALYZE 7.5 leftover that can hold text as well).
NIFTI_TEXT_FIELDS = ("descrip", "aux_file", "db_name", "intent_name", "data_type")
_POLICY_FILE = "scrub_fields.tsv"
#: Placeholder values that identify nobody: never reported as identifying values.
PLACEHOLDERS = frozenset({"", "none", "null", "n/a", "na", "unknown", "anonymous", "anonymized", "anonymised",
                          "removed", "deidentified", "de-identified", "0"})
_ACTIONS = ("remove", "date", "keep")


@dataclass(frozen=True)
class ScrubPolicy:
    """What to scrub.

    Parameters
    ----------
    level
        ``"none"``, ``"default"`` or ``"strict"``.
    scrub_fields
        Extra keys (or glob patterns) to remove.
    keep_fields
        Keys (or glob patterns) never removed nor changed; wins over everything. NIfTI
        header fields (``descrip``, ``aux_file``, ...) and ``extensions`` can be kept too.
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

    def keeps(self, key: str) -> bool:
        """Whether ``key`` is protected by ``keep_fields``."""
        return _matches(key, self.keep_fields)

    def adds(self, key: str) -> bool:
        """Whether ``key`` is listed in ``scrub_fields``."""
        return _matches(key, self.scrub_fields)


@dataclass(frozen=True)
class FieldRule:
    """One row of the policy table."""

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


@lru_cache(maxsize=1)
def load_field_rules() -> tuple[FieldRule, ...]:
    """Read the documented policy table shipped in ``bids_deface/data``."""
    text = resources.files("bids_deface.data").joinpath(_POLICY_FILE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rules = []
    for row in csv.DictReader(lines, delimiter="\t"):
        rule = FieldRule(row["field"], row["action"], row["dicom_tag"], row["ps315"], row["reason"])
        if rule.action not in _ACTIONS:
            raise ValueError(f"{_POLICY_FILE}: field {rule.field!r} has unknown action {rule.action!r}")
        rules.append(rule)
    return tuple(rules)


def default_action(key: str) -> str | None:
    """The policy action for ``key`` (``remove``, ``date``, ``keep``) or ``None``.

    Exact names are looked up first, then the patterns in table order.
    """
    rules = load_field_rules()
    for rule in rules:
        if not rule.is_pattern and rule.field == key:
            return rule.action
    for rule in rules:
        if rule.is_pattern and fnmatchcase(key, rule.field):
            return rule.action
    return None


# --------------------------------------------------------------------------- dates

_DATE = re.compile(r"^(\d{4})(-?)(\d{2})\2(\d{2})(.*)$", re.S)
_TIME = re.compile(r"^\d{2}(:?)\d{2}(\1\d{2}(\.\d+)?)?$")


def shift_date_value(value: Any, days: int) -> Any | None:
    """Shift a date or date-time by ``days``, keeping its format; ``None`` if unparsable.

    Accepts ISO dates and date-times (``2019-03-04``, ``2019-03-04T10:22:31.000000``),
    DICOM DA/DT (``20190304``, ``20190304102231.000``) and lists of them. A time of day
    alone (``10:22:31``, ``102231.5``) is returned unchanged, as in ``scans.tsv``.
    """
    if isinstance(value, list):
        shifted = [shift_date_value(item, days) for item in value]
        return None if any(item is None for item in shifted) else shifted
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _TIME.match(text):
        return value
    match = _DATE.match(text)
    if not match:
        return None
    year, sep, month, day, rest = match.groups()
    if rest and not re.match(r"^([T ]|\d|[+&Z-]|$)", rest):
        return None
    try:
        date = dt.date(int(year), int(month), int(day)) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{date.year:04d}{sep}{date.month:02d}{sep}{date.day:02d}{rest}"


# --------------------------------------------------------------------------- sidecars


def scrub_sidecar(meta: dict, policy: ScrubPolicy, *, suffix: str | None = None) -> tuple[dict, list[str]]:
    """Return a scrubbed copy of a sidecar and the removed-or-changed field names.

    Parameters
    ----------
    meta
        The sidecar content (not modified).
    policy
        The policy; see :class:`ScrubPolicy`.
    suffix
        The BIDS suffix (``T1w``...), used by the ``strict`` level to look up the fields
        BIDS defines; ``None`` allows the fields of every MRI suffix.

    Returns
    -------
    clean, changed
        ``changed`` holds dotted paths (``Key``, ``Outer.Inner``, ``List[2].Key``).
    """
    if not isinstance(meta, dict):
        raise TypeError(f"sidecar content must be a JSON object (dict), got {type(meta).__name__}")
    if policy.level == "none":
        return copy.deepcopy(meta), []
    changed: list[str] = []
    clean = _scrub_mapping(meta, policy, "", changed)
    if policy.level == "strict":
        allowed = bids_sidecar_fields(suffix) | protected_bids_fields()
        for key in list(clean):
            if key not in allowed and not policy.keeps(key):
                del clean[key]
                if key not in changed:
                    changed.append(key)
    if changed:
        LOGGER.debug("scrubbed %d sidecar fields: %s", len(changed), ", ".join(changed))
    return clean, changed


def _scrub_mapping(meta: dict, policy: ScrubPolicy, prefix: str, changed: list[str]) -> dict:
    clean = {}
    for key, value in meta.items():
        path = f"{prefix}{key}"
        if policy.keeps(key):
            clean[key] = copy.deepcopy(value)
            continue
        action = "remove" if policy.adds(key) else default_action(key)
        if action == "remove":
            changed.append(path)
            continue
        if action == "date":
            shifted = None if policy.shift_days is None else shift_date_value(value, policy.shift_days)
            if shifted is None:
                if policy.shift_days is not None:
                    LOGGER.warning("field %s: not a date this tool can shift; removed", path)
                changed.append(path)
                continue
            if shifted != value:
                changed.append(path)
            clean[key] = shifted
            continue
        clean[key] = _scrub_value(value, policy, path, changed)
    return clean


def _scrub_value(value: Any, policy: ScrubPolicy, path: str, changed: list[str]) -> Any:
    if isinstance(value, dict):
        return _scrub_mapping(value, policy, f"{path}.", changed)
    if isinstance(value, list):
        return [_scrub_value(item, policy, f"{path}[{index}]", changed) for index, item in enumerate(value)]
    return value


def identifying_values(meta: dict, removed: list[str]) -> list[str]:
    """The original values of removed/changed fields, as strings, for the leftover scan.

    Nested values contribute every string (and integer) leaf. Duplicates and
    placeholders (``none``, ``n/a``, ``anonymous``... see :data:`PLACEHOLDERS`) are
    dropped; order follows ``removed``.
    """
    values: list[str] = []
    for path in removed:
        try:
            value = _resolve(meta, path)
        except (KeyError, IndexError, TypeError):
            LOGGER.debug("field %s is not in the sidecar; nothing to collect", path)
            continue
        for leaf in _leaves(value):
            if leaf not in values and leaf.strip().lower() not in PLACEHOLDERS:
                values.append(leaf)
    return values


def _resolve(meta: Any, path: str) -> Any:
    node = meta
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (str, int)):
        return [str(value)]
    return []


# --------------------------------------------------------------------------- BIDS schema


@lru_cache(maxsize=1)
def _schema():
    from bidsschematools.schema import load_schema

    return load_schema()


_CMP = re.compile(r"""^(datatype|modality|suffix)\s*(==|!=)\s*["']([^"']*)["']$""")
_INTERSECTS = re.compile(r"""^(!?)intersects\(\s*\[?(datatype|modality|suffix)\]?\s*,\s*\[([^\]]*)\]\s*\)$""")
_MATCH_EXT = re.compile(r"""^match\(\s*extension\s*,\s*["'](.*)["']\s*\)$""")
_ENTITY = re.compile(r"""^(?:["'](\w+)["']\s+in\s+entities|entities\.(\w+)(?:\s*(?:!=\s*null|==\s*["'][^"']*["']))?)$""")


def _selector_holds(selector: str, context: dict[str, set[str]]) -> bool | None:
    """Evaluate the selector forms that depend on suffix/datatype/modality; else ``None``."""
    selector = selector.strip()
    if selector == "false":
        return False
    if match := _CMP.match(selector):
        term, op, value = match.groups()
        inside = value in context[term]
        return inside if op == "==" else not (inside and len(context[term]) == 1)
    if match := _INTERSECTS.match(selector):
        negate, term, items = match.groups()
        values = {item.strip().strip("'\"") for item in items.split(",")}
        hit = bool(values & context[term])
        return not hit if negate else hit
    if (match := _ENTITY.match(selector)) and "entities" in context:
        return (match.group(1) or match.group(2)) in context["entities"]
    if match := _MATCH_EXT.match(selector):
        pattern = match.group(1).replace("\\\\", "\\")
        return any(re.search(pattern, ext) for ext in (".nii.gz", ".nii"))
    return None  # depends on entities, sidecar values or the dataset: may apply


@lru_cache(maxsize=64)
def bids_sidecar_fields(suffix: str | None) -> frozenset[str]:
    """Metadata field names the BIDS schema defines for NIfTI files with ``suffix``.

    A sidecar rule counts when none of its selectors is known to be false for the
    suffix (its datatypes from ``rules.files.raw``, the modality holding them);
    selectors on entities test whether the suffix's file rules allow the entity;
    selectors on sidecar values or the dataset are assumed to hold.
    ``None`` stands for every MRI suffix.
    """
    schema = _schema()
    modalities = {name: set(mod["datatypes"]) for name, mod in schema.rules.modalities.items()}
    if suffix is None:
        context = {"suffix": set(), "datatype": modalities["mri"], "modality": {"mri"}}
    else:
        datatypes, entities = set(), set()
        for group in schema.rules.files.raw.values():
            for rule in group.values():
                if suffix in rule.get("suffixes", []):
                    datatypes.update(rule.get("datatypes", []))
                    entities.update(rule.get("entities", {}))
        if not datatypes:
            raise ValueError(f"suffix {suffix!r} is not defined by the BIDS schema {schema.schema_version}")
        mods = {name for name, types in modalities.items() if types & datatypes}
        context = {"suffix": {suffix}, "datatype": datatypes, "modality": mods, "entities": entities}
    metadata = schema.objects.metadata
    fields = set()
    for group in schema.rules.sidecars.values():
        for rule in group.values():
            selectors = rule.get("selectors", [])
            if suffix is None:
                selectors = [s for s in selectors if "suffix" not in s]
            if any(_selector_holds(sel, context) is False for sel in selectors):
                continue
            fields.update(metadata[key]["name"] if key in metadata else key for key in rule.get("fields", {}))
    return frozenset(fields)


@lru_cache(maxsize=1)
def protected_bids_fields() -> frozenset[str]:
    """Policy ``keep`` fields that are BIDS metadata terms (strict keeps them for any suffix)."""
    names = {entry["name"] for entry in _schema().objects.metadata.values()}
    return frozenset(rule.field for rule in load_field_rules() if rule.action == "keep" and rule.field in names)


# --------------------------------------------------------------------------- NIfTI


def scrub_nifti(img: nib.Nifti1Image, policy: ScrubPolicy) -> tuple[nib.Nifti1Image, list[str]]:
    """Clear the free-text header fields and drop the header extensions.

    The data object is reused as is (same dtype, stored values, scaling); affines,
    qform/sform codes, units and every other header field are unchanged. On a header
    read from disk nibabel leaves ``scl_slope``/``scl_inter`` as NaN (the proxy keeps
    them): they are restored from the proxy, so that writing the stored values with
    the returned header (:func:`bids_deface.methods.io.write_raw`) is exact.

    Returns
    -------
    img, changed
        A new image (the input is not modified) and the cleared field names
        (``descrip``, ``aux_file``, ``db_name``, ``intent_name``, ``data_type``,
        ``extensions``), only those that held something.
    """
    if policy.level == "none":
        return img, []
    header = img.header.copy()
    changed = []
    for field in NIFTI_TEXT_FIELDS:
        if policy.keeps(field):
            continue
        if bytes(header[field].item()).strip(b"\x00 "):
            changed.append(field)
        header[field] = b""
    if len(header.extensions) and not policy.keeps("extensions"):
        changed.append("extensions")
        header.extensions.clear()
    dataobj = img.dataobj
    slope, inter = getattr(dataobj, "slope", None), getattr(dataobj, "inter", None)
    if slope is not None and inter is not None:
        header["scl_slope"], header["scl_inter"] = slope, inter
    clean = img.__class__(dataobj, img.affine, header=header, extra=img.extra)
    for field in ("sform_code", "qform_code", "scl_slope", "scl_inter"):
        clean.header[field] = header[field]  # the constructor must not have touched them
    return clean, changed


def nifti_identifying_values(img: nib.Nifti1Image, changed: list[str]) -> list[str]:
    """The original text of the cleared header fields, for the leftover scan."""
    values = []
    for field in changed:
        if field in NIFTI_TEXT_FIELDS:
            text = bytes(img.header[field].item()).split(b"\x00")[0].decode("latin-1").strip()
            if text.lower() not in PLACEHOLDERS and text not in values:
                values.append(text)
    return values


def provenance_fields(*, tool: str, version: str, method: str, template: str, scrub_level: str | None = None) -> dict:
    """Sidecar fields recording how the image was de-identified.

    BIDS defines ``DeidentificationMethod`` and ``DeidentificationMethodCodeSequence``
    (DICOM (0012,0063)/(0012,0064); bids-specification PR #1772, closing #1709; the
    boolean ``Defaced`` of PR #666 was not merged). We give a readable method string,
    DICOM CID 7050 code 113102 "Clean Recognizable Visual Features Option", a
    tool-specific code naming method and template and, when metadata were scrubbed
    (``scrub_level`` not ``none``), code 113105 "Clean Descriptors Option".
    """
    codes = [
        {
            "CodeValue": "113102",
            "CodingSchemeDesignator": "DCM",
            "CodeMeaning": "Clean Recognizable Visual Features Option",
        },
        {
            "CodeValue": method,
            "CodingSchemeDesignator": tool,
            "CodingSchemeVersion": version,
            "CodeMeaning": f"Face (and ears) removed with method {method!r} through template {template!r}",
        },
    ]
    description = f"{tool} {version}: defaced (method {method}, template {template})"
    if scrub_level is not None and scrub_level != "none":
        if scrub_level not in LEVELS:
            raise ValueError(f"unknown scrub level {scrub_level!r}; allowed: {', '.join(LEVELS)}")
        codes.append({"CodeValue": "113105", "CodingSchemeDesignator": "DCM", "CodeMeaning": "Clean Descriptors Option"})
        description += f"; metadata scrubbed (level {scrub_level})"
    return {"DeidentificationMethod": [description], "DeidentificationMethodCodeSequence": codes}
