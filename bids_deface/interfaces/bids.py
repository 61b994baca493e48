"""niworkflows' DerivativesDataSink, made atomic and taught bids_deface's file names."""

from __future__ import annotations

import os
import shutil
import uuid
from collections import defaultdict
from pathlib import Path

from .._templateflow import isolate_templateflow

isolate_templateflow()  # before niworkflows imports TemplateFlow

import niworkflows.interfaces.bids as _niworkflows_bids  # noqa: E402
from niworkflows.interfaces.bids import DerivativesDataSink as _DerivativesDataSink  # noqa: E402

from ..naming import PATH_PATTERNS, STAGING  # noqa: E402

#: gzip level of the NIfTI outputs. niworkflows compresses at 9: on a 1 mm head that is 7.8 s
#: of CPU against 1.1 s at 6, for the same size (9.0 MB), in the process that schedules the steps.
GZIP_LEVEL = 6


def _copy_any(src, dst) -> bool:
    """niworkflows' ``_copy_any`` (copy, compressing or decompressing by the names), at :data:`GZIP_LEVEL`.

    No file name and mtime 0 in the gzip header (nipreps/fmriprep#1480): identical inputs
    give identical bytes.
    """
    import gzip

    from nipype.utils.filemanip import copyfile

    src, dst = os.fspath(src), os.fspath(dst)
    if not src.endswith(".gz") and not dst.endswith(".gz"):
        copyfile(src, dst, copy=True, use_hardlink=True)
        return False  # as niworkflows: do not reuse the hardlink later
    if os.path.exists(dst):
        os.unlink(dst)
    with (gzip.open if src.endswith(".gz") else open)(src, "rb") as f_in, open(dst, "wb") as f_out:
        if dst.endswith(".gz"):
            with gzip.GzipFile("", "wb", GZIP_LEVEL, f_out, 0.0) as gz_out:
                shutil.copyfileobj(f_in, gz_out)
        else:
            shutil.copyfileobj(f_in, f_out)
    return True


_niworkflows_bids._copy_any = _copy_any  # the module-level name its sinks call


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
