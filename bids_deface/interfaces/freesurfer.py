"""Thin nipype interfaces: recon-all on one image, and the comparison of two recon-all runs.

The per-image workflow runs :class:`ReconAllImage` twice, as the nodes ``recon_all_orig``
and ``recon_all_defaced`` (each cached and resumable on its own, like sMRIPrep's ReconAll
nodes), and :class:`FreeSurferImpact` (node ``freesurfer``) compares their subject
directories with the pure functions
:func:`bids_deface.methods.impact.freesurfer.compare_freesurfer` and
:func:`bids_deface.methods.impact.freesurfer.evaluate_freesurfer`.
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


class _ReconAllImageInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the T1w image")
    subject_id = traits.Str(mandatory=True, desc="FreeSurfer subject name (e.g. 'sub_01_T1w_orig')")
    fs_license_file = File(exists=True, desc="FreeSurfer licence; set as FS_LICENSE for recon-all")
    subjects_dir = Directory(desc="SUBJECTS_DIR to use (default: 'freesurfer' in the working directory)")
    openmp = traits.Int(1, usedefault=True, nohash=True, desc="recon-all -openmp threads")
    directive = traits.Str("all", usedefault=True, desc="recon-all directive")


class _ReconAllImageOutputSpec(TraitedSpec):
    subject_dir = Directory(exists=True, desc="$SUBJECTS_DIR/<subject_id>, with stats/aseg.stats")
    elapsed_s = traits.Float(desc="wall time of recon-all (s)")


class ReconAllImage(SimpleInterface):
    """recon-all on one image, as ``subject_id`` of its own subjects directory.

    A failed run keeps its working directory (``_can_resume``): run again, nipype's
    ``ReconAll`` resumes the subject instead of starting over.
    """

    input_spec = _ReconAllImageInputSpec
    output_spec = _ReconAllImageOutputSpec
    _can_resume = True

    def _run_interface(self, runtime):
        start = time.monotonic()
        subjects_dir = (
            Path(self.inputs.subjects_dir) if isdefined(self.inputs.subjects_dir) else Path(runtime.cwd) / "freesurfer"
        )
        run_recon_all(
            self.inputs.subject_id,
            self.inputs.in_file,
            subjects_dir,
            directive=self.inputs.directive,
            openmp=self.inputs.openmp,
            fs_license_file=self.inputs.fs_license_file if isdefined(self.inputs.fs_license_file) else None,
        )
        self._results["subject_dir"] = str(subjects_dir / self.inputs.subject_id)
        self._results["elapsed_s"] = time.monotonic() - start
        return runtime


def run_recon_all(
    subject_id: str,
    image: str,
    subjects_dir: Path,
    *,
    directive: str = "all",
    openmp: int = 1,
    fs_license_file: str | None = None,
) -> None:
    """Run recon-all on ``image`` as ``subject_id``; errors name the image and the log."""
    recon = recon_all_interface(
        subject_id,
        [image],
        subjects_dir,
        directive=directive,
        openmp=openmp if openmp > 1 else None,
    )
    if fs_license_file is not None:
        recon.inputs.environ = {**recon.inputs.environ, "FS_LICENSE": str(fs_license_file)}
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


class _FreeSurferImpactInputSpec(BaseInterfaceInputSpec):
    orig_subject_dir = Directory(exists=True, mandatory=True, desc="recon-all subject of the original image")
    defaced_subject_dir = Directory(exists=True, mandatory=True, desc="recon-all subject of the defaced image")
    orig_elapsed_s = traits.Float(0.0, usedefault=True, desc="recon-all time of the original (s)")
    defaced_elapsed_s = traits.Float(0.0, usedefault=True, desc="recon-all time of the defaced image (s)")


class _FreeSurferImpactOutputSpec(TraitedSpec):
    metrics = traits.Dict(desc="fs_* metrics, time_impact_freesurfer_s and check_freesurfer")


class FreeSurferImpact(SimpleInterface):
    """The recon-all runs of the original and the defaced image, compared and checked.

    ``time_impact_freesurfer_s`` is the two recon-all times plus the comparison's.
    """

    input_spec = _FreeSurferImpactInputSpec
    output_spec = _FreeSurferImpactOutputSpec

    def _run_interface(self, runtime):
        from ..methods.impact.freesurfer import compare_freesurfer, evaluate_freesurfer

        start = time.monotonic()
        metrics = compare_freesurfer(self.inputs.orig_subject_dir, self.inputs.defaced_subject_dir)
        passed, reasons = evaluate_freesurfer(metrics)
        elapsed = self.inputs.orig_elapsed_s + self.inputs.defaced_elapsed_s + time.monotonic() - start
        record = dict(metrics)
        record.update({"check_freesurfer": bool(passed), "time_impact_freesurfer_s": round(elapsed, 2)})
        if not passed:
            record["check_freesurfer_reason"] = "freesurfer: " + "; ".join(reasons)
        self._results["metrics"] = record
        return runtime
