"""niworkflows' DerivativesDataSink, made atomic and taught bids_deface's file names."""

from __future__ import annotations

import os
import shutil
import uuid
from collections import defaultdict
from pathlib import Path

from .._templateflow import isolate_templateflow

isolate_templateflow()  # before niworkflows imports TemplateFlow

from niworkflows.interfaces.bids import DerivativesDataSink as _DerivativesDataSink  # noqa: E402

from ..naming import PATH_PATTERNS, STAGING  # noqa: E402


class DerivativesDataSink(_DerivativesDataSink):
    """Write derivatives under ``base_directory`` atomically.

    niworkflows writes straight into the final path; a killed run could then leave a
    half-written image that looks finished. This sink lets niworkflows build names and
    files in a staging folder beside the outputs (same filesystem), then renames each file
    into place with :func:`os.replace`. It never changes dtypes (``data_dtype`` unset) and
    is used with ``check_hdr=False`` for images whose headers must stay as they are.
    """

    out_path_base = ""
    _file_patterns = tuple(PATH_PATTERNS) + tuple(_DerivativesDataSink._file_patterns)
    _default_dtypes = defaultdict(lambda: None)

    def _run_interface(self, runtime):
        final = Path(self.inputs.base_directory).absolute()
        staging = final / STAGING / uuid.uuid4().hex
        staging.mkdir(parents=True, exist_ok=True)
        self.inputs.base_directory = str(staging)
        try:
            runtime = super()._run_interface(runtime)
            moved = []
            for out_file in self._results["out_file"]:
                moved.append(str(_move_into(Path(out_file), staging, final)))
            self._results["out_file"] = moved
            meta = self._results.get("out_meta")
            if meta:
                self._results["out_meta"] = str(_move_into(Path(meta), staging, final))
        finally:
            self.inputs.base_directory = str(final)
            shutil.rmtree(staging, ignore_errors=True)
        return runtime


def _move_into(path: Path, staging: Path, final: Path) -> Path:
    target = final / path.relative_to(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target
