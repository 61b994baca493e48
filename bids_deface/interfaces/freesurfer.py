"""Thin nipype interface: recon-all on the original and the defaced image, then compare.

The comparison and its check are the pure functions
:func:`bids_deface.methods.impact.freesurfer.compare_freesurfer` and
:func:`bids_deface.methods.impact.freesurfer.evaluate_freesurfer`; this module only runs
FreeSurfer's ``recon-all`` (through nipype's ``ReconAll``) twice.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    Directory,
    File,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

LOGGER = logging.getLogger(__name__)


def recon_all_interface(
    subject_id: str,
    t1_files: list[str | os.PathLike],
    subjects_dir: str | os.PathLike,
    *,
    directive: str = "all",
    openmp: int | None = None,
    parallel: bool = False,
    flags: list[str] | None = None,
):
    """A configured ``nipype.interfaces.freesurfer.ReconAll`` (not run).

    Parameters
    ----------
    subject_id : str
        FreeSurfer subject name (e.g. ``"sub-01_desc-defaced"``).
    t1_files : list of path-like
        The T1w image(s) given to ``-i``.
    subjects_dir : path-like
        ``-sd``; created if missing.
    directive : str
        recon-all directive (``"all"``, ``"autorecon1"``, ...).
    openmp : int, optional
        ``-openmp N`` threads.
    parallel : bool
        ``-parallel`` (hemispheres in parallel).
    flags : list of str, optional
        Extra command-line flags, e.g. ``["-norandomness"]``.
    """
    from nipype.interfaces.freesurfer import ReconAll

    Path(subjects_dir).mkdir(parents=True, exist_ok=True)
    recon = ReconAll(
        subject_id=subject_id,
        T1_files=[str(Path(f)) for f in t1_files],
        subjects_dir=str(subjects_dir),
        directive=directive,
    )
    if openmp:
        recon.inputs.openmp = int(openmp)
    if parallel:
        recon.inputs.parallel = True
    if flags:
        recon.inputs.flags = list(flags)
    return recon


class _FreeSurferImpactInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the original T1w image")
    defaced = File(exists=True, mandatory=True, desc="the defaced T1w image")
    subject_label = traits.Str(mandatory=True, desc="prefix of the two FreeSurfer subject names")
    fs_license_file = File(exists=True, desc="FreeSurfer licence; set as FS_LICENSE for recon-all")
    subjects_dir = Directory(desc="SUBJECTS_DIR to use (default: 'freesurfer' in the working directory)")
    openmp = traits.Int(1, usedefault=True, nohash=True, desc="recon-all -openmp threads")
    directive = traits.Str("all", usedefault=True, desc="recon-all directive")


class _FreeSurferImpactOutputSpec(TraitedSpec):
    metrics = traits.Dict(desc="fs_* metrics, time_impact_freesurfer_s and check_freesurfer")


class FreeSurferImpact(SimpleInterface):
    """recon-all on the original and the defaced image, compared with each other.

    The two runs are the FreeSurfer subjects ``<subject_label>_orig`` and
    ``<subject_label>_defaced`` of one subjects directory.
    """

    input_spec = _FreeSurferImpactInputSpec
    output_spec = _FreeSurferImpactOutputSpec

    def _run_interface(self, runtime):
        from ..methods.impact.freesurfer import compare_freesurfer, evaluate_freesurfer

        start = time.monotonic()
        subjects_dir = (
            Path(self.inputs.subjects_dir) if isdefined(self.inputs.subjects_dir) else Path(runtime.cwd) / "freesurfer"
        )
        subject_dirs = []
        for kind, image in (("orig", self.inputs.in_file), ("defaced", self.inputs.defaced)):
            subject_id = f"{self.inputs.subject_label}_{kind}"
            self._recon_all(subject_id, image, subjects_dir)
            subject_dirs.append(subjects_dir / subject_id)
        metrics = compare_freesurfer(*subject_dirs)
        passed, reasons = evaluate_freesurfer(metrics)
        record = dict(metrics)
        record.update(
            {"check_freesurfer": bool(passed), "time_impact_freesurfer_s": round(time.monotonic() - start, 2)}
        )
        if not passed:
            record["check_freesurfer_reason"] = "freesurfer: " + "; ".join(reasons)
        self._results["metrics"] = record
        return runtime

    def _recon_all(self, subject_id: str, image: str, subjects_dir: Path) -> None:
        """Run recon-all on ``image`` as ``subject_id``; errors name the image and the log."""
        recon = recon_all_interface(
            subject_id,
            [image],
            subjects_dir,
            directive=self.inputs.directive,
            openmp=self.inputs.openmp if self.inputs.openmp > 1 else None,
        )
        if isdefined(self.inputs.fs_license_file):
            recon.inputs.environ = {**recon.inputs.environ, "FS_LICENSE": str(self.inputs.fs_license_file)}
        log = subjects_dir / subject_id / "scripts" / "recon-all.log"
        LOGGER.info("recon-all on %s: %s", image, recon.cmdline)
        try:
            result = recon.run()
        except (RuntimeError, OSError) as exc:
            raise RuntimeError(f"recon-all failed on {image} (subject {subject_id}); see {log}: {exc}") from exc
        returncode = result.runtime.returncode
        if returncode != 0:  # nipype records a non-zero exit code without raising
            stderr = (getattr(result.runtime, "stderr", "") or "").strip().splitlines()[-5:]
            raise RuntimeError(
                f"recon-all failed on {image} (subject {subject_id}, exit code {returncode}); "
                f"see {log}" + (": " + " / ".join(stderr) if stderr else "")
            )
        if not (subjects_dir / subject_id / "stats" / "aseg.stats").is_file():
            raise RuntimeError(f"recon-all on {image} produced no stats/aseg.stats; see {log}")
