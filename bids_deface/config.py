"""One typed configuration, filled by :mod:`bids_deface.cli.parser`. No side effects at import."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

#: Anatomical suffixes bids_deface defaces (BIDS ``anat`` datatype). ``--suffixes`` narrows it.
ANAT_SUFFIXES = (
    "T1w",
    "T2w",
    "PDw",
    "T2starw",
    "FLAIR",
    "inplaneT1",
    "inplaneT2",
    "PDT2",
    "angio",
    "UNIT1",
    "T1map",
    "T2map",
    "T2starmap",
    "R1map",
    "R2map",
    "R2starmap",
    "PDmap",
    "MTRmap",
    "MTsat",
    "S0map",
    "M0map",
    "MTVmap",
    "PDT2map",
    "Chimap",
    "TB1map",
    "RB1map",
    "MEGRE",
    "MESE",
    "IRT1",
    "MP2RAGE",
    "MPM",
    "MTS",
    "MTR",
    "VFA",
)
#: Preference for a session's reference image (the one the template is registered to).
REFERENCE_PREFERENCE = ("T1w", "MPRAGE", "UNIT1", "T2w", "PDw", "FLAIR", "T2starw", "PDT2")
IMPACT_MODES = ("none", "fast", "full", "freesurfer")
SCRUB_LEVELS = ("none", "default", "strict")
#: The checks ``--fail-on`` may name; ``impact`` covers the FreeSurfer check too.
FAIL_CHECKS = ("brain", "face", "registration", "impact", "error")
DEFAULT_FAIL_ON = ("brain", "face", "registration", "error")


@dataclass
class ExecutionConfig:
    bids_dir: Path
    output_dir: Path
    analysis_level: str
    work_dir: Path
    participant_label: list[str] = field(default_factory=list)
    session_label: list[str] = field(default_factory=list)
    bids_filters: dict = field(default_factory=dict)
    skip_bids_validation: bool = False
    verbosity: int = 0
    run_uuid: str = field(default_factory=lambda: f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}_{uuid.uuid4()}")

    @property
    def log_dir(self) -> Path:
        return self.output_dir / "logs"

    @property
    def layout_db(self) -> Path:
        return self.work_dir / "bids_db"


@dataclass
class NipypeConfig:
    plugin: str = "MultiProc"
    plugin_args: dict = field(default_factory=dict)
    nprocs: int = field(default_factory=lambda: os.cpu_count() or 1)
    omp_nthreads: int = 0  # 0: decided from nprocs
    mem_gb: float | None = None

    def resolved_plugin_args(self) -> dict:
        args = dict(self.plugin_args)
        if self.plugin == "MultiProc":
            args.setdefault("n_procs", self.nprocs)
            if self.mem_gb:
                args.setdefault("memory_gb", self.mem_gb)
            args.setdefault("raise_insufficient", False)
            # workers start from a clean server process: forking a process whose threads
            # hold locks (dlib's, ITK's) deadlocks the children
            args.setdefault("mp_context", "forkserver")
        return args

    def resolved_omp_nthreads(self) -> int:
        return self.omp_nthreads or max(1, min(self.nprocs, 8))


@dataclass
class WorkflowConfig:
    method: str = "deface"
    deear: bool = True
    suffixes: list[str] = field(default_factory=lambda: list(ANAT_SUFFIXES))
    template: str = "pydeface"
    brain_margin_mm: float = 6.0
    registration_resolution_mm: float = 4.0
    impact: str = "fast"
    fs_license_file: Path | None = None
    scrub: str = "default"
    scrub_fields: list[str] = field(default_factory=list)
    keep_fields: list[str] = field(default_factory=list)
    shift_dates: int | None = None
    release_dir: Path | None = None
    release_include: list[str] = field(default_factory=list)
    require_rating: str = "review"
    fail_on: list[str] = field(default_factory=lambda: list(DEFAULT_FAIL_ON))
    seed: int = 42


#: The defaults of every option, read by the parser, the workflow builders and the interfaces.
DEFAULTS = WorkflowConfig()


@dataclass
class Config:
    execution: ExecutionConfig
    nipype: NipypeConfig = field(default_factory=NipypeConfig)
    workflow: WorkflowConfig = field(default_factory=WorkflowConfig)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    def to_file(self, path: Path) -> Path:
        from .methods.io import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return path
