"""Command-line parser (BIDS-Apps convention, fMRIPrep's option names) -> :class:`Config`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from .. import __version__
from ..config import (
    ANAT_SUFFIXES,
    DEFAULTS,
    FAIL_CHECKS,
    IMPACT_MODES,
    SCRUB_LEVELS,
    Config,
    ExecutionConfig,
    NipypeConfig,
    WorkflowConfig,
)
from ..methods.deface.removal import METHODS
from ..ratings import REQUIRE


def _label(value: str) -> str:
    for prefix in ("sub-", "ses-"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if not value or not (value.isascii() and value.isalnum()):  # str.isalnum alone accepts any script's letters
        raise argparse.ArgumentTypeError(f"invalid BIDS label {value!r} (ASCII letters and digits only: [a-zA-Z0-9])")
    return value


def _json_file(value: str) -> dict:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: filter file does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"{path}: must hold a JSON object of BIDS entity filters")
    return data


def _plugin_args(value: str) -> dict:
    path = Path(value)
    text = path.read_text() if path.is_file() else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--plugin-args: not a JSON object or a JSON file ({err})") from err
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError("--plugin-args must be a JSON object")
    return data


def _to_gb(value: str) -> float:
    """A memory amount in GB: a bare number is MB (fMRIPrep's ``--mem_mb``); K, M, G, T units accepted."""
    scale = {"k": 1e-6, "m": 1e-3, "g": 1.0, "t": 1e3}
    text = value.strip().lower().removesuffix("b")
    unit = text[-1] if text and text[-1] in scale else "m"
    try:
        number = float(text.rstrip("kmgt"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid memory amount {value!r} (e.g. 16000, 16000M or 16G)") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"memory must be > 0, got {value!r}")
    return number * scale[unit]


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default once, and only one that says something (not for flags, empty lists or None)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "default:" in text
            or action.nargs == 0  # store_true/store_false/count flags: the flag says it
            or default in (None, [], {}, (), "")
            or default is argparse.SUPPRESS
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})"


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser (also used to generate the documentation's CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="bids-deface",
        description="Deface and de-ear every anatomical image of a BIDS dataset, check that no face "
        "is left and no brain was removed, and write BIDS derivatives with reports.",
        formatter_class=_HelpFormatter,
        epilog="Exit codes: 0 every image passed; 1 at least one image failed a check; "
        "2 usage or input-dataset error; 3 internal error; 4 nothing failed, but an image needs "
        "a person's review; 5 (audit) an image or file could not be checked.",
    )
    parser.add_argument("bids_dir", type=Path, help="the root of the input BIDS dataset (never written to)")
    parser.add_argument("output_dir", type=Path, help="the output folder: a BIDS derivatives dataset")
    parser.add_argument(
        "analysis_level",
        choices=["participant", "group", "audit"],
        help="processing stage; 'audit' only checks a dataset as it would be published (defaced earlier, "
        "by this app or another tool): face checks and a metadata scan, for release CI",
    )
    parser.add_argument("--version", action="version", version=f"bids-deface {__version__}")

    _add_selection(parser)
    _add_defacing(parser)
    _add_checks(parser)
    _add_execution(parser)
    return parser


def _add_selection(parser: argparse.ArgumentParser) -> None:
    """Options: which participants, sessions and images."""
    g = parser.add_argument_group("Selecting data")
    g.add_argument(
        "--participant-label",
        "--participant_label",
        nargs="+",
        type=_label,
        default=[],
        metavar="LABEL",
        help="participants to process (with or without 'sub-'); default: all",
    )
    g.add_argument(
        "--session-label",
        nargs="+",
        type=_label,
        default=[],
        metavar="LABEL",
        help="sessions to process (with or without 'ses-'); default: all",
    )
    g.add_argument(
        "--bids-filter-file",
        type=_json_file,
        default={},
        metavar="FILE",
        help='a JSON file of pybids entity filters, as in fMRIPrep (e.g. {"t1w": {"acquisition": "mprage"}} '
        'or plain entities {"acquisition": "mprage"})',
    )
    g.add_argument(
        "--suffixes",
        nargs="+",
        choices=ANAT_SUFFIXES,
        default=None,
        metavar="SUFFIX",
        help="anatomical suffixes to deface; default: every anatomical suffix present",
    )
    g.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        action="store_true",
        help="do not validate the input dataset with the BIDS validator",
    )


def _add_defacing(parser: argparse.ArgumentParser) -> None:
    """Options: how faces and ears are removed, and what fails the run."""
    g = parser.add_argument_group("Defacing")
    g.add_argument(
        "--method",
        choices=METHODS,
        default=DEFAULTS.method,
        help="deface: remove face and ears; reface: replace them with the template's; "
        "shear: remove everything in front of and below a plane under the brain",
    )
    g.add_argument("--no-deear", dest="deear", action="store_false", help="keep the ears (by default they are removed)")
    g.add_argument("--template", default=DEFAULTS.template, help="head template with face, ear and brain masks")
    g.add_argument(
        "--brain-margin-mm",
        type=float,
        default=DEFAULTS.brain_margin_mm,
        help="the template brain mask is dilated by this margin and never removed",
    )
    g.add_argument(
        "--fail-on",
        nargs="+",
        choices=FAIL_CHECKS,
        default=list(DEFAULTS.fail_on),
        help="which failed checks make the run exit 1 (add 'impact' to gate on the impact check); "
        "an image that could not be processed always does",
    )


def _add_checks(parser: argparse.ArgumentParser) -> None:
    """Options: the impact check, metadata scrubbing and the release copy."""
    g = parser.add_argument_group("Checks and outputs")
    g.add_argument(
        "--impact",
        choices=IMPACT_MODES,
        default=DEFAULTS.impact,
        help="measure the impact of defacing on brain extraction, segmentation and registration",
    )
    g.add_argument(
        "--fs-license-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="FreeSurfer licence (for --impact freesurfer); default: $FS_LICENSE",
    )
    g.add_argument("--scrub", choices=SCRUB_LEVELS, default=DEFAULTS.scrub, help="metadata scrubbing policy")
    g.add_argument("--scrub-field", action="append", default=[], metavar="NAME", help="also remove this sidecar field")
    g.add_argument("--keep-field", action="append", default=[], metavar="NAME", help="never remove this sidecar field")
    g.add_argument(
        "--shift-dates", type=int, default=None, metavar="DAYS", help="shift dates by DAYS instead of removing them"
    )
    g.add_argument(
        "--release-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write a shareable copy of the dataset: defaced images, scrubbed headers, sidecars, "
        "tables and free text; files outside BIDS raw data (code/, stimuli/, ...) are left out",
    )
    g.add_argument(
        "--require-rating",
        choices=REQUIRE,
        default=DEFAULTS.require_rating,
        help="which images of the release need a person's 'good' rating (saved from the participant "
        "reports into the output folder): 'review' the images in review, 'all' every image; an image "
        "rated 'redo' or 'exclude' is never released",
    )
    g.add_argument(
        "--release-include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="copy files the release leaves out by default (e.g. 'stimuli/**'); they are copied as "
        "they are and searched for removed values",
    )


def _add_execution(parser: argparse.ArgumentParser) -> None:
    """Options: working directory, processes, memory and the nipype plugin."""
    g = parser.add_argument_group("Performance and execution")
    g.add_argument(
        "-w",
        "--work-dir",
        type=Path,
        default=None,
        help="nipype's working directory (re-runs resume from it); default: ./work",
    )
    g.add_argument(
        "--nprocs",
        "--nthreads",
        "--n_cpus",
        "--n-cpus",
        dest="nprocs",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="processes run at once",
    )
    g.add_argument("--omp-nthreads", type=_positive_int, default=None, help="threads per process (ANTs)")
    g.add_argument("--mem-gb", "--mem_gb", dest="mem_gb", type=float, default=None, help="memory limit, GB")
    g.add_argument(
        "--mem",
        "--mem-mb",
        "--mem_mb",
        dest="mem_gb",
        type=_to_gb,
        default=None,
        metavar="MEM",
        help="memory limit as fMRIPrep reads it: MB for a bare number, or with a unit (16G, 16000M)",
    )
    g.add_argument(
        "--plugin",
        default="MultiProc",
        help="nipype execution plugin: Linear, MultiProc, SLURM, SLURMGraph, SGE, PBS, LSF, ...",
    )
    g.add_argument(
        "--plugin-args",
        type=_plugin_args,
        default={},
        metavar="JSON",
        help='plugin arguments, a JSON object or file (e.g. {"sbatch_args": "-p short"})',
    )
    g.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (ANTs sampling)")
    g.add_argument(
        "-v", "--verbose", dest="verbosity", action="count", default=0, help="more log output (-vv for debug)"
    )


def _check_paths(parser: argparse.ArgumentParser, opts: argparse.Namespace) -> None:
    bids_dir = opts.bids_dir.expanduser().absolute()
    output_dir = opts.output_dir.expanduser().absolute()
    if not bids_dir.is_dir():
        parser.error(f"{bids_dir}: the BIDS dataset folder does not exist")
    if not (bids_dir / "dataset_description.json").is_file():  # both levels: the group level names it too
        parser.error(f"{bids_dir}: not a BIDS dataset (no dataset_description.json)")
    resolved_in, resolved_out = bids_dir.resolve(), output_dir.resolve()
    if resolved_out == resolved_in or resolved_in in resolved_out.parents:
        parser.error(
            f"{output_dir}: the output folder must be outside the input dataset {bids_dir} "
            "(bids_deface never writes into the input dataset)"
        )
    if opts.release_dir is not None and opts.analysis_level == "audit":
        parser.error("--release-dir: the audit level only checks a dataset; it writes no release copy")
    if opts.release_dir is not None:
        release = opts.release_dir.expanduser().absolute().resolve()
        if release in (resolved_in, resolved_out) or resolved_in in release.parents:
            parser.error(
                f"{opts.release_dir}: the release folder must be outside the input dataset and the output folder"
            )
        if resolved_out in release.parents or release in resolved_out.parents:
            parser.error(
                f"{opts.release_dir}: the release folder must not be inside the output folder {output_dir}, "
                "nor hold it (the output folder holds face renders, which must never be shared)"
            )
    if opts.impact == "freesurfer":
        if shutil.which("recon-all") is None:
            parser.error(
                "--impact freesurfer needs FreeSurfer's recon-all on PATH (not found); "
                "use --impact fast or full, or install FreeSurfer"
            )
        license_file = opts.fs_license_file or os.environ.get("FS_LICENSE")
        if not license_file or not Path(license_file).is_file():
            parser.error("--impact freesurfer needs a FreeSurfer licence: --fs-license-file FILE or FS_LICENSE")


def parse_args(argv: list[str] | None = None) -> Config:
    """Parse the command line into a :class:`Config`; usage errors exit with code 2."""
    parser = build_parser()
    opts = parser.parse_args(argv)
    _check_paths(parser, opts)
    bids_dir = opts.bids_dir.expanduser().absolute()
    output_dir = opts.output_dir.expanduser().absolute()
    work_dir = (opts.work_dir or Path.cwd() / "work").expanduser().absolute()
    if work_dir.resolve() == bids_dir.resolve() or bids_dir.resolve() in work_dir.resolve().parents:
        parser.error(f"{work_dir}: the work folder must be outside the input dataset {bids_dir}")
    return Config(
        execution=ExecutionConfig(
            bids_dir=bids_dir,
            output_dir=output_dir,
            analysis_level=opts.analysis_level,
            work_dir=work_dir,
            participant_label=list(dict.fromkeys(opts.participant_label)),
            session_label=list(dict.fromkeys(opts.session_label)),
            bids_filters=opts.bids_filter_file,
            skip_bids_validation=opts.skip_bids_validation,
            verbosity=opts.verbosity,
        ),
        nipype=NipypeConfig(
            plugin=opts.plugin,
            plugin_args=opts.plugin_args,
            nprocs=opts.nprocs,
            omp_nthreads=opts.omp_nthreads or 0,
            mem_gb=opts.mem_gb,
        ),
        workflow=WorkflowConfig(
            method=opts.method,
            deear=opts.deear,
            suffixes=list(opts.suffixes) if opts.suffixes else list(ANAT_SUFFIXES),
            template=opts.template,
            brain_margin_mm=opts.brain_margin_mm,
            impact=opts.impact,
            fs_license_file=opts.fs_license_file,
            scrub=opts.scrub,
            scrub_fields=opts.scrub_field,
            keep_fields=opts.keep_field,
            shift_dates=opts.shift_dates,
            release_dir=opts.release_dir.expanduser().absolute() if opts.release_dir else None,
            release_include=opts.release_include,
            require_rating=opts.require_rating,
            fail_on=opts.fail_on,
            seed=opts.seed,
        ),
    )
