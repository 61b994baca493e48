"""``--release-dir``: a shareable copy of the dataset, defaced and scrubbed, checked for leftovers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib

from .. import __version__
from ..config import Config
from ..derivatives import read_records, write_json

LOGGER = logging.getLogger("bids_deface")


def _defaced_path(output_dir: Path, relpath: str) -> Path:
    folder, name = relpath.rsplit("/", 1)
    stem, ext = name.split(".", 1)
    entities, suffix = stem.rsplit("_", 1)
    return output_dir / folder / f"{entities}_desc-defaced_{suffix}.{ext if ext.endswith('gz') else ext + '.gz'}"


def write_release(config: Config) -> bool:
    """Write the release copy; False (and nothing written) when an image is not safely defaced."""
    from ..methods.release import make_release, scan_leftovers
    from ..methods.scrub import ScrubPolicy, identifying_values, nifti_identifying_values, scrub_nifti, scrub_sidecar

    ex, wf = config.execution, config.workflow
    bids_dir, output_dir, release_dir = ex.bids_dir, ex.output_dir, wf.release_dir
    records = {r["source_file"]: r for r in read_records(output_dir)}
    anat = sorted(
        p.relative_to(bids_dir).as_posix()
        for p in bids_dir.glob("sub-*/**/anat/*.nii*")
        if p.name.split(".")[0].rsplit("_", 1)[-1] in wf.suffixes
    )
    unsafe = [rel for rel in anat if records.get(rel, {}).get("status") != "pass"
              or not _defaced_path(output_dir, rel).is_file()]
    if unsafe:
        LOGGER.error("release not written: %d anatomical image(s) have no passed defaced version "
                     "(run every participant first, fix the failures): %s", len(unsafe), ", ".join(unsafe[:10]))
        return False

    policy = ScrubPolicy(level=wf.scrub, scrub_fields=tuple(wf.scrub_fields), keep_fields=tuple(wf.keep_fields),
                         shift_days=wf.shift_dates)
    sidecars: dict[Path, dict] = {}
    values: list[str] = []
    for path in sorted(bids_dir.rglob("*.json")):
        rel = path.relative_to(bids_dir)
        if rel.parts[0] in ("derivatives", "sourcedata", "code") or rel.name == "dataset_description.json":
            continue
        meta = json.loads(path.read_text())
        suffix = rel.name.split(".")[0].rsplit("_", 1)[-1]
        clean, removed = scrub_sidecar(meta, policy, suffix=suffix)
        values += identifying_values(meta, removed)
        defaced_sidecar = _defaced_path(output_dir, rel.as_posix().replace(".json", ".nii.gz")).with_suffix("").with_suffix(".json")
        if defaced_sidecar.is_file():  # the derivative's sidecar: scrubbed and with provenance
            clean = json.loads(defaced_sidecar.read_text())
        sidecars[rel] = clean
    for rel in anat:
        original = nib.load(bids_dir / rel)
        _, changed = scrub_nifti(original, policy)
        values += nifti_identifying_values(original, changed)

    replacements = {Path(rel): _defaced_path(output_dir, rel) for rel in anat}
    note = (f"Every anatomical image was defaced and every JSON sidecar scrubbed (policy '{wf.scrub}') by "
            f"bids_deface {__version__} (method '{wf.method}', template '{wf.template}').")
    summary = make_release(bids_dir, release_dir, replacements, sidecars, note=note)
    leftovers = scan_leftovers(release_dir, sorted(set(values)))
    report = {
        "release_dir": str(release_dir),
        "images_replaced": len(summary.replaced),
        "sidecars_scrubbed": len(summary.sidecars),
        "files_linked": summary.linked,
        "files_copied": summary.copied,
        "identifying_values_checked": len(set(values)),
        "leftovers": [{"path": str(item.path), "value_index": item.value_index} for item in leftovers],
    }
    write_json(output_dir / "release_summary.json", report)
    if leftovers:
        LOGGER.error("release %s: %d leftover identifying value(s) found (see release_summary.json)",
                     release_dir, len(leftovers))
        return False
    LOGGER.warning("release written to %s: %d images defaced, %d sidecars scrubbed, no identifying value left "
                   "(%d checked)", release_dir, len(summary.replaced), len(summary.sidecars), len(set(values)))
    return True
