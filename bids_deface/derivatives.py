"""Dataset-level outputs: dataset_description.json, .bidsignore, metrics records on disk."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

from bids.layout.writing import build_path

from . import __version__
from .methods.io import atomic_path
from .naming import PATH_PATTERNS, STAGING

LOGGER = logging.getLogger(__name__)

BIDS_VERSION = "1.10.0"
METRICS_GLOB = "sub-*/**/*_desc-deface_metrics.json"


def _finite(value):
    """NaN and infinities are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, data) -> Path:
    """Write strict JSON (no NaN) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_finite(data), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")
    return path


def write_dataset_description(output_dir: Path, bids_dir: Path) -> Path:
    """The derivatives' dataset_description.json (DatasetType derivative, GeneratedBy)."""
    generated_by = {
        "Name": "bids_deface",
        "Version": __version__,
        "CodeURL": "https://github.com/bids-deface/bids_deface",
    }
    container = os.environ.get("BIDS_DEFACE_CONTAINER")
    if container:
        generated_by["Container"] = {"Type": container.split(":", 1)[0], "Tag": container.split(":", 1)[-1]}
    source_name = bids_dir.name
    try:
        source_name = json.loads((bids_dir / "dataset_description.json").read_text()).get("Name", source_name)
    except (OSError, json.JSONDecodeError):
        pass
    description = {
        "Name": f"bids_deface derivatives of {source_name}",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [generated_by],
        "SourceDatasets": [{"URL": bids_dir.as_uri()}],
    }
    path = output_dir / "dataset_description.json"
    write_json(path, description)
    bidsignore = output_dir / ".bidsignore"
    if not bidsignore.exists():
        with atomic_path(bidsignore) as tmp:
            tmp.write_text(f"logs/\nfigures/\n*_metrics.json\n*.html\ngroup_*\nCITATION.md\n{STAGING}/\n.locks/\n")
    return path


def _named(output_dir: Path, image, what: str, **entities) -> Path:
    """The path the sinks give an output of ``image`` with these entities."""
    full = {**image.entities, "subject": image.subject, **entities}
    if image.session:
        full["session"] = image.session
    relative = build_path(full, path_patterns=PATH_PATTERNS, strict=False)
    if relative is None:
        raise ValueError(f"cannot name the {what} of {image.relpath}")
    return output_dir / relative


def metrics_path(output_dir: Path, image, desc: str = "deface") -> Path:
    """Where an image's metrics record is written (the same names the sinks use; ``desc-audit`` for an audit)."""
    return _named(
        output_dir,
        image,
        "metrics file",
        modality=image.suffix,
        desc=desc,
        suffix="metrics",
        extension=".json",
        datatype="anat",
    )


def audit_gallery_path(output_dir: Path, image) -> Path:
    """Where the audit writes an image's render gallery (the name its sink gives it)."""
    return _named(
        output_dir,
        image,
        "render gallery",
        datatype="figures",
        modality=image.suffix,
        desc="audit",
        suffix=image.suffix,
        extension=".png",
    )


def image_outputs(output_dir: Path, image) -> list[Path]:
    """The files the sinks write for a processed image besides its record: the defaced image, its
    sidecar and the deface mask (the same names the sinks use)."""
    wanted = [
        {"desc": "defaced", "suffix": image.suffix, "extension": ".nii.gz"},
        {"desc": "defaced", "suffix": image.suffix, "extension": ".json"},
        {"modality": image.suffix, "desc": "deface", "suffix": "mask", "extension": ".nii.gz"},
    ]
    return [_named(output_dir, image, "outputs", datatype="anat", **entities) for entities in wanted]


def read_records(output_dir: Path) -> list[dict]:
    """Every per-image metrics record under ``output_dir``."""
    records = []
    for path in sorted(output_dir.glob(METRICS_GLOB)):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            LOGGER.error("%s: unreadable metrics record (%s)", path, err)
    return records
