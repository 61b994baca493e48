"""Wall time and peak memory per participant, and time per stage per image.

    python benchmarks/bench_participant.py ../shared/data/heads [--impact none] [--nprocs 2]
    python benchmarks/bench_participant.py --demo

Each participant runs in its own process (as one container per participant would), so
its peak memory (the summed resident memory of its process tree, nipype's workers
included, sampled from /proc) is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _participants(bids: Path) -> list[str]:
    return sorted(p.name[4:] for p in bids.glob("sub-*") if p.is_dir())


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, MB (0 where /proc is missing)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo += _children(current)
    return total / 1024.0


def _run_one(bids: Path, out: Path, work: Path, label: str, extra: list[str]) -> tuple[float, float, int]:
    """Run one participant in its own process; wall time, peak memory of its process tree, exit code.

    The nipype workers are grandchildren (a forkserver's children), which getrusage does not
    see: the tree's resident memory is sampled from /proc every 0.2 s instead, the figure a
    container's memory limit has to cover.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bids_deface",
            str(bids),
            str(out),
            "participant",
            "--participant-label",
            label,
            "-w",
            str(work),
            "--skip-bids-validation",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_mb(proc.pid))
        time.sleep(0.2)
    return time.monotonic() - start, peak, proc.returncode


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
    print(
        f"\n{'image':<48}"
        + "".join(f"{s:>10}" for s in ("reg s", "coreg s", "deface s", "qa s", "impact s", "total s"))
    )
    for path in sorted(out.glob("sub-*/**/*_desc-deface_metrics.json")):
        rec = json.loads(path.read_text())
        cols = [
            rec.get(k)
            for k in (
                "time_registration_s",
                "time_coregistration_s",
                "time_deface_s",
                "time_qa_s",
                "time_impact_s",
                "time_total_s",
            )
        ]
        print(
            f"{rec['source_file'].split('/')[-1]:<48}"
            + "".join(f"{c:>10.1f}" if isinstance(c, (int, float)) else f"{'-':>10}" for c in cols)
            + ("" if rec.get("status") == "pass" else f"  {rec.get('status')}: {rec.get('reason', '')}")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
