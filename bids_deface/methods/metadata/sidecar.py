"""Remove identifying metadata from BIDS JSON sidecars; record how an image was de-identified.

Functions report removed or changed field names (dotted paths), never values.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from typing import Any

from .dates import shift_date_value
from .policy import LEVELS, PLACEHOLDERS, ScrubPolicy, decide_field

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SidecarScrub:
    """A scrubbed sidecar and what changed.

    ``changed`` holds every removed or changed field as a dotted path (``Key``,
    ``Outer.Inner``, ``List[2].Key``); ``unknown`` the top-level ones among them that
    were removed only because no allow-list names them (not because a rule calls them
    identifying).
    """

    clean: dict
    changed: list[str]
    unknown: list[str]

    @property
    def identifying(self) -> list[str]:
        return [path for path in self.changed if path not in self.unknown]


def scrub_sidecar(meta: dict, policy: ScrubPolicy, *, suffix: str | None = None) -> tuple[dict, list[str]]:
    """Return a scrubbed copy of a sidecar and the removed-or-changed field names.

    Parameters
    ----------
    meta
        The sidecar content (not modified).
    policy
        The policy; see :class:`~bids_deface.methods.metadata.policy.ScrubPolicy`.
    suffix
        The BIDS suffix (``T1w``...), used by the ``strict`` level to look up the fields
        BIDS defines; ``None`` allows the fields of every MRI suffix.

    Returns
    -------
    clean, changed
        ``changed`` holds dotted paths (``Key``, ``Outer.Inner``, ``List[2].Key``).
    """
    result = scrub_sidecar_fields(meta, policy, suffix=suffix)
    return result.clean, result.changed


def scrub_sidecar_fields(meta: dict, policy: ScrubPolicy, *, suffix: str | None = None) -> SidecarScrub:
    """:func:`scrub_sidecar`, telling identifying removals from unknown ones."""
    if not isinstance(meta, dict):
        raise TypeError(f"sidecar content must be a JSON object (dict), got {type(meta).__name__}")
    if policy.level == "none":
        return SidecarScrub(copy.deepcopy(meta), [], [])
    changed: list[str] = []
    unknown: list[str] = []
    clean = _scrub_mapping(meta, policy, "", changed, unknown, suffix)
    if changed:
        LOGGER.debug("scrubbed %d sidecar fields: %s", len(changed), ", ".join(changed))
    return SidecarScrub(clean, changed, unknown)


def _scrub_mapping(
    meta: dict, policy: ScrubPolicy, prefix: str, changed: list[str], unknown: list[str], suffix: str | None
) -> dict:
    clean = {}
    for key, value in meta.items():
        path = f"{prefix}{key}"
        action = decide_field(key, policy, suffix=suffix, top_level=not prefix)
        if action == "keep":
            clean[key] = copy.deepcopy(value)
        elif action in ("remove", "unknown"):
            changed.append(path)
            if action == "unknown":
                unknown.append(path)
        elif action == "date":
            shifted = None if policy.shift_days is None else shift_date_value(value, policy.shift_days)
            if shifted is None:
                if policy.shift_days is not None:
                    LOGGER.warning("field %s: not a date this tool can shift; removed", path)
                changed.append(path)
                continue
            if shifted != value:
                changed.append(path)
            clean[key] = shifted
        else:
            clean[key] = _scrub_value(value, policy, path, changed, unknown, suffix)
    return clean


def _scrub_value(
    value: Any, policy: ScrubPolicy, path: str, changed: list[str], unknown: list[str], suffix: str | None
) -> Any:
    if isinstance(value, dict):
        return _scrub_mapping(value, policy, f"{path}.", changed, unknown, suffix)
    if isinstance(value, list):
        return [
            _scrub_value(item, policy, f"{path}[{index}]", changed, unknown, suffix) for index, item in enumerate(value)
        ]
    return value


def identifying_values(meta: dict, removed: list[str]) -> list[str]:
    """The original values of removed/changed fields, as strings, for the leftover scan.

    Nested values contribute every string (and integer) leaf. Duplicates and
    placeholders (``none``, ``n/a``, ``anonymous``... see
    :data:`~bids_deface.methods.metadata.policy.PLACEHOLDERS`) are dropped; order
    follows ``removed``.
    """
    values: list[str] = []
    for path in removed:
        try:
            value = _resolve(meta, path)
        except (KeyError, IndexError, TypeError):
            LOGGER.debug("field %s is not in the sidecar; nothing to collect", path)
            continue
        for leaf in leaves(value):
            if leaf not in values and leaf.strip().lower() not in PLACEHOLDERS:
                values.append(leaf)
    return values


def _resolve(meta: Any, path: str) -> Any:
    node = meta
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def leaves(value: Any) -> list[str]:
    """Every string and integer leaf of a JSON value, as strings."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (str, int)):
        return [str(value)]
    return []


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
        codes.append(
            {"CodeValue": "113105", "CodingSchemeDesignator": "DCM", "CodeMeaning": "Clean Descriptors Option"}
        )
        description += f"; metadata scrubbed (level {scrub_level})"
    return {"DeidentificationMethod": [description], "DeidentificationMethodCodeSequence": codes}
