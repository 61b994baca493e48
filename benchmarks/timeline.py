"""When each step of a run started and ended, from the result files nipype leaves in its work folder.

    python benchmarks/timeline.py WORK_DIR            # e.g. bench_participant.py's OUT/work_<label>

One line per step, in the order they started: start and end (seconds from the first start),
duration, the step. Shows the critical path of a participant and where a processor stood idle
(benchmarks/README.md, "Speed issue, second round").
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path


def steps(work_dir: Path) -> list[tuple[datetime, datetime, str]]:
    """(start, end, step name) of every step whose result file records its run time."""
    from nipype.utils.filemanip import loadpkl

    found = []
    for path in sorted(work_dir.rglob("result_*.pklz")):
        try:
            runtime = loadpkl(path).runtime
        except Exception:  # noqa: BLE001 - a result of another nipype version, or half written: skipped
            continue
        runtime = runtime[0] if isinstance(runtime, list) else runtime
        try:
            start, end = datetime.fromisoformat(runtime.startTime), datetime.fromisoformat(runtime.endTime)
        except (AttributeError, TypeError, ValueError):
            continue
        found.append((start, end, path.parent.name))
    return sorted(found)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    args = parser.parse_args(argv)
    found = steps(args.work_dir)
    if not found:
        print(f"no nipype result files with run times under {args.work_dir}")
        return 1
    first = found[0][0]
    busy = 0.0
    print(f"{'start':>7}{'end':>7}{'took':>7}  step")
    for start, end, name in found:
        took = (end - start).total_seconds()
        busy += took
        print(f"{(start - first).total_seconds():7.1f}{(end - first).total_seconds():7.1f}{took:7.1f}  {name}")
    span = (max(end for _, end, _ in found) - first).total_seconds()
    print(f"\n{len(found)} steps in {span:.1f} s; {busy:.1f} s of steps (processors busy {busy / span:.2f} on average)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
