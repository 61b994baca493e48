"""Compare the per-image records of two participant-level runs (a refactoring must not change them).

    python benchmarks/compare_records.py BEFORE_OUT AFTER_OUT [--rtol 1e-6]

Status, failed checks, reasons and every non-timing value must be equal; numbers may differ
by float noise (``--rtol``, relative, and ``--atol``, absolute). Prints one line per
difference and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def _records(out: Path) -> dict[str, dict]:
    return {
        str(p.relative_to(out)): json.loads(p.read_text())
        for p in sorted(out.glob("sub-*/**/*_desc-deface_metrics.json"))
    }


def differences(before: dict, after: dict, *, rtol: float, atol: float) -> list[str]:
    """One line per key whose value differs beyond float noise; timings (``time_*``) are ignored."""
    found = []
    for key in sorted(set(before) | set(after)):
        if key.startswith("time_"):
            continue
        a, b = before.get(key, "<absent>"), after.get(key, "<absent>")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        if numbers and math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
            continue
        if a != b:
            found.append(f"{key}: {a!r} -> {b!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--atol", type=float, default=1e-9)
    opts = parser.parse_args(argv)
    before, after = _records(opts.before), _records(opts.after)
    n_diff = 0
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            print(f"{name}: only in {'after' if name in after else 'before'}")
            n_diff += 1
            continue
        lines = differences(before[name], after[name], rtol=opts.rtol, atol=opts.atol)
        n_diff += len(lines)
        status = f"{before[name].get('status')} -> {after[name].get('status')}"
        print(f"{name}: {status}, {'identical' if not lines else f'{len(lines)} difference(s)'}")
        for line in lines:
            print(f"    {line}")
    print(f"{len(before)} record(s) before, {len(after)} after, {n_diff} difference(s)")
    return 1 if n_diff else 0


if __name__ == "__main__":
    sys.exit(main())
