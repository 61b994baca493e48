"""The audit's cache: an image's answer is reused while its content, the app's version and the options are unchanged.

An entry is filed under a key made of the image's content hash (for a git-annex file, the
SHA-256 its annex key already holds: nothing is read), its path in the dataset (a record
names its source), the app's version and the options that change a face check's result. It holds the image's record and a copy of its outputs
(the record and the render gallery), so a fresh output folder is filled from it. The cache
lives in the output folder (``<output>/.cache/audit``): keep that folder between CI runs
and a re-run checks only the images that changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

from .. import __version__
from ..derivatives import write_json
from ..methods.io import atomic_path

LOGGER = logging.getLogger("bids_deface")

CACHE_DIR = Path(".cache") / "audit"
#: git-annex keys that name the content's SHA-256 (``SHA256E-s1234--<hex>.nii.gz``).
_ANNEX_KEY = re.compile(r"^SHA256E?-s\d+--([0-9a-f]{64})")
#: Options whose change invalidates a cached record (the face checks depend on them).
CACHED_OPTIONS = ("template", "registration_resolution_mm", "seed")


def content_hash(path: Path) -> str:
    """SHA-256 of a file's content; an annexed file's from its key (``annex:<hex>``) without reading it."""
    if path.is_symlink():
        match = _ANNEX_KEY.match(os.path.basename(os.readlink(path)))
        if match:
            return f"annex:{match.group(1)}"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def options_key(options) -> str:
    """The version and the options a cached record is valid for."""
    wanted = {name: getattr(options, name) for name in CACHED_OPTIONS}
    return json.dumps({"version": __version__, **wanted}, sort_keys=True, default=str)


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


class AuditCache:
    """Answers by (content, version, options): the record, and copies of the outputs it stands for."""

    def __init__(self, output_dir: Path, options):
        self.output_dir = Path(output_dir)
        self.root = self.output_dir / CACHE_DIR
        self.options = options_key(options)

    def key(self, path: Path, relpath: str = "") -> str:
        """The entry of a file's content at its place in the dataset (a record names its source)."""
        return hashlib.sha256(f"{content_hash(path)}\0{relpath}\0{self.options}".encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        """The cached record, its outputs put back where missing; None when absent or incomplete."""
        entry = self.root / f"{key}.json"
        try:
            cached = json.loads(entry.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as err:
            LOGGER.warning("%s: unreadable cache entry, checking again (%s)", entry, err)
            return None
        copies = {rel: self.root / key / rel for rel in cached.get("outputs", [])}
        if not all(copy.is_file() for copy in copies.values()):
            return None
        for rel, copy in copies.items():
            if not (self.output_dir / rel).is_file():
                _copy(copy, self.output_dir / rel)
        return cached.get("record")

    def put(self, key: str, record: dict, outputs: list[Path]) -> None:
        """File a record and copies of its outputs (never an error's: that image is checked again)."""
        if record.get("status") == "error":
            return
        try:
            rels = []
            for path in (p for p in outputs if p.is_file()):
                rel = path.relative_to(self.output_dir).as_posix()
                _copy(path, self.root / key / rel)
                rels.append(rel)
            write_json(self.root / f"{key}.json", {"record": record, "outputs": rels})
        except OSError as err:  # the audit stands without its cache
            LOGGER.warning("cannot write the audit cache (%s)", err)
