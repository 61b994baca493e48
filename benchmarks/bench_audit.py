"""The audit level, first run against re-runs: wall time, peak memory, what was checked again.

    python benchmarks/bench_audit.py ../shared/data/heads [--nprocs 2]
    python benchmarks/bench_audit.py /data/ds-release --keep /tmp/audit-bench

Three runs into one output folder, on a copy of the dataset made of symlinks (the dataset
itself is only read):

1. every participant but the last: the first audit (everything checked);
2. the same again, nothing changed: every image from the cache;
3. the last participant added: only its images are checked.

It prints the wall time, the peak memory of the run's process tree and the exit code of each,
the ratio of run 2 to run 1, and the log lines that say which participants were checked.
Nothing is asserted (the test suite has no timed asserts).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_participant import _measure  # noqa: E402


def _link_dataset(src: Path, dst: Path, subjects: list[str]) -> None:
    """A dataset of symlinks to ``src`` with the top-level files and the given participants."""
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name.startswith("sub-") and item.name[4:] not in subjects:
            continue
        target = dst / item.name
        if not target.exists():
            os.symlink(item.resolve(), target)


def _audit(bids: Path, out: Path, work: Path, extra: list[str]) -> tuple[float, float, int, list[str]]:
    """Wall time, peak memory (PSS) and exit code of one audit, and its log's lines on what it checked."""
    before = set(out.glob("logs/*.log"))
    wall, _, code, _, pss = _measure(
        [sys.executable, "-m", "bids_deface", str(bids), str(out), "audit", "-w", str(work), *extra]
    )
    logs = sorted(set(out.glob("logs/*.log")) - before)
    lines = [line for log in logs for line in log.read_text().splitlines() if "image(s) to check" in line]
    return wall, pss, code, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bids", type=Path)
    parser.add_argument("--keep", type=Path, default=None, help="keep the outputs in this folder")
    args, extra = parser.parse_known_args()
    subjects = sorted(p.name[4:] for p in args.bids.glob("sub-*") if p.is_dir())
    if len(subjects) < 2:
        parser.error(f"{args.bids}: needs at least two participants")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_audit_"))
    bids, out, work = root / "bids", root / "out", root / "work"
    _link_dataset(args.bids, bids, subjects[:-1])
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    rows = []
    for label, add in (("first audit", False), ("nothing changed", False), (f"sub-{subjects[-1]} added", True)):
        if add:
            _link_dataset(args.bids, bids, subjects)
        wall, peak, code, lines = _audit(bids, out, work, ["--skip-bids-validation", *extra])
        rows.append((label, wall, peak, code))
        print(f"\n{label}: {wall:.1f} s wall, peak {peak:.0f} MB, exit {code}")
        for line in lines:
            print("   ", line.split(" | ")[-1])
    print(f"\nload average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"re-run with nothing changed / first run: {rows[1][1] / rows[0][1]:.3f}")
    print(f"re-run with one participant added / first run: {rows[2][1] / rows[0][1]:.3f}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
