"""Wall time and peak memory per participant, and time per stage per image.

    python benchmarks/bench_participant.py ../shared/data/heads [--impact none] [--nprocs 2]
    python benchmarks/bench_participant.py --demo

Each participant runs in its own process (as one container per participant would), so
its peak memory (max RSS of the process tree, from getrusage) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _participants(bids: Path) -> list[str]:
    return sorted(p.name[4:] for p in bids.glob("sub-*") if p.is_dir())


def _run_one(bids: Path, out: Path, work: Path, label: str, extra: list[str]) -> tuple[float, float, int]:
    code = (
        "import resource, sys\n"
        "from bids_deface.cli.run import main\n"
        "rc = main(sys.argv[1:])\n"
        "peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(f'PEAK_KB={peak}', file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(bids), str(out), "participant", "--participant-label", label,
         "-w", str(work), "--skip-bids-validation", *extra],
        capture_output=True, text=True,
    )
    wall = time.monotonic() - start
    peak_kb = next((int(line.split("=")[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KB=")), 0)
    return wall, peak_kb / 1024.0, proc.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bids_dir", nargs="?", type=Path)
    parser.add_argument("--demo", action="store_true", help="benchmark on the bundled demo dataset")
    parser.add_argument("--out", type=Path, default=None)
    args, extra = parser.parse_known_args(argv)
    tmp = Path(args.out or tempfile.mkdtemp(prefix="bids_deface_bench_"))
    if args.demo or args.bids_dir is None:
        from bids_deface.data.demo import make_demo_dataset

        bids = make_demo_dataset(tmp / "demo_bids")
    else:
        bids = args.bids_dir.absolute()
    out = tmp / "out"
    print(f"dataset: {bids}\noutputs: {out}\noptions: {' '.join(extra) or '(defaults)'}\n")
    print(f"{'participant':<14}{'wall s':>9}{'peak MB':>10}{'exit':>6}")
    rows = []
    for label in _participants(bids):
        wall, peak, rc = _run_one(bids, out, tmp / f"work_{label}", label, extra)
        rows.append((label, wall, peak, rc))
        print(f"sub-{label:<10}{wall:>9.1f}{peak:>10.0f}{rc:>6}", flush=True)
    print(f"\n{'image':<48}" + "".join(f"{s:>10}" for s in ("reg s", "coreg s", "deface s", "qa s", "impact s", "total s")))
    for path in sorted(out.glob("sub-*/**/*_desc-deface_metrics.json")):
        rec = json.loads(path.read_text())
        cols = [rec.get(k) for k in ("time_registration_s", "time_coregistration_s", "time_deface_s", "time_qa_s",
                                     "time_impact_s", "time_total_s")]
        print(f"{rec['source_file'].split('/')[-1]:<48}" + "".join(f"{c:>10.1f}" if isinstance(c, (int, float)) else f"{'-':>10}" for c in cols)
              + ("" if rec.get("status") == "pass" else f"  {rec.get('status')}: {rec.get('reason', '')}"))
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"\nbenchmark process peak: {self_peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
