"""The audit's cache: an image's record is reused while its content, the app's version and the options are unchanged.

A record is filed under a key made of the image's content hash (for a git-annex file, the
SHA-256 its annex key already holds: nothing is read), the app's version and the options
that change a face check's result. The cache lives in the output folder
(``<output>/.cache/audit``): keep that folder between CI runs and a re-run checks only the
images that changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

from .. import __version__
from ..derivatives import write_json

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


class AuditCache:
    """Records by (content, version, options); each entry names the record and outputs it stands for."""

    def __init__(self, output_dir: Path, options):
        self.root = Path(output_dir) / CACHE_DIR
        self.options = options_key(options)

    def key(self, path: Path) -> str:
        return hashlib.sha256(f"{content_hash(path)}\0{self.options}".encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        """The cached record, or None (absent, unreadable, or its outputs are gone)."""
        entry = self.root / f"{key}.json"
        try:
            cached = json.loads(entry.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as err:
            LOGGER.warning("%s: unreadable cache entry, checking again (%s)", entry, err)
            return None
        if not all(Path(p).is_file() for p in cached.get("outputs", [])):
            return None
        return cached.get("record")

    def put(self, key: str, record: dict, outputs: list[Path]) -> None:
        """File a record (never an error: an image that could not be checked is checked again)."""
        if record.get("status") == "error":
            return
        try:
            write_json(self.root / f"{key}.json", {"record": record, "outputs": [str(p) for p in outputs]})
        except OSError as err:  # the audit stands without its cache
            LOGGER.warning("cannot write the audit cache (%s)", err)
