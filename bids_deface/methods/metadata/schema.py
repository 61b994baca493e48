"""What the BIDS specification defines: sidecar fields per suffix, metadata terms, table columns.

Read from the schema shipped with ``bidsschematools`` (installed with pybids), offline.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1)
def _schema():
    from bidsschematools.schema import load_schema

    return load_schema()


def schema_version() -> str:
    return str(_schema().schema_version)


_CMP = re.compile(r"""^(datatype|modality|suffix)\s*(==|!=)\s*["']([^"']*)["']$""")
_INTERSECTS = re.compile(r"""^(!?)intersects\(\s*\[?(datatype|modality|suffix)\]?\s*,\s*\[([^\]]*)\]\s*\)$""")
_MATCH_EXT = re.compile(r"""^match\(\s*extension\s*,\s*["'](.*)["']\s*\)$""")
_ENTITY = re.compile(
    r"""^(?:["'](\w+)["']\s+in\s+entities|entities\.(\w+)(?:\s*(?:!=\s*null|==\s*["'][^"']*["']))?)$"""
)


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


def _suffix_context(schema, suffix: str | None) -> dict[str, set[str]]:
    modalities = {name: set(mod["datatypes"]) for name, mod in schema.rules.modalities.items()}
    if suffix is None:
        return {"suffix": set(), "datatype": modalities["mri"], "modality": {"mri"}}
    datatypes, entities = set(), set()
    for group in schema.rules.files.raw.values():
        for rule in group.values():
            if suffix in rule.get("suffixes", []):
                datatypes.update(rule.get("datatypes", []))
                entities.update(rule.get("entities", {}))
    if not datatypes:
        raise ValueError(f"suffix {suffix!r} is not defined by the BIDS schema {schema.schema_version}")
    mods = {name for name, types in modalities.items() if types & datatypes}
    return {"suffix": {suffix}, "datatype": datatypes, "modality": mods, "entities": entities}


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
    context = _suffix_context(schema, suffix)
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


def is_known_suffix(suffix: str) -> bool:
    """Whether the schema defines ``suffix`` for some raw data file."""
    return any(
        suffix in rule.get("suffixes", []) for group in _schema().rules.files.raw.values() for rule in group.values()
    )


@lru_cache(maxsize=1)
def bids_metadata_names() -> frozenset[str]:
    """Every metadata term the BIDS schema defines (for any datatype)."""
    return frozenset(entry["name"] for entry in _schema().objects.metadata.values())


#: Which ``rules.tabular_data.modality_agnostic`` entry describes each table kind.
_TABLES = {
    "participants": "Participants",
    "sessions": "Sessions",
    "scans": "Scans",
    "samples": "Samples",
    "phenotype": "Phenotype",
}


@lru_cache(maxsize=8)
def bids_table_columns(kind: str) -> frozenset[str]:
    """Column names BIDS defines for a table (``participants``, ``sessions``, ``scans``, ...)."""
    schema = _schema()
    rule = schema.rules.tabular_data.modality_agnostic[_TABLES[kind]]
    return frozenset(schema.objects.columns[key]["name"] for key in rule["columns"])
