"""Load: indexing and the group level over many participants; participant-level memory vs count.

    python benchmarks/bench_load.py [--participants 200] [--memory 4 16] [--keep DIR]

Every participant is the same small real head (sub-pet of ../shared/data/heads block-averaged
to 4 mm, as the fault suite uses; tests/fault_kit.py), so figures scale with the number of
participants only. It prints:

* indexing: pybids indexing of the N-participant dataset (a fresh database), then the cached
  reuse, then planning the sessions;
* the group level over N participants: the participant outputs of one real run are copied to
  N participants (records, face descriptors, figures, defaced images), then the group level
  runs once without and once with ``--release-dir`` (table, summary, re-identification audit
  over N x N renders, group report, release copy and its leftover search);
* participant-level peak memory (the run's whole process tree, nipype's workers included,
  sampled from /proc every 0.2 s) and wall time for ``--memory`` counts of participants in one
  run (``--impact none --nprocs 2``): it must not grow with the number of participants.

Nothing is asserted (the suite has no timed asserts): run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_participant import _measure  # noqa: E402
from fault_kit import make_bids, small_head  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _run(argv: list[str]) -> tuple[float, float, int]:
    """Wall time (s), peak memory of the process tree (MB), exit code of one bids-deface run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    wall, peak, code, _, _ = _measure([sys.executable, "-m", "bids_deface", *map(str, argv)], env=env)
    return wall, peak, code


def _labels(n: int) -> list[str]:
    return [f"{i:03d}" for i in range(1, n + 1)]


def bench_indexing(bids: Path, work: Path) -> dict:
    from bids_deface.layout import collect_sessions, index_dataset

    start = time.monotonic()
    index_dataset(bids, database_path=work / "db", validate=False)
    fresh = time.monotonic() - start
    start = time.monotonic()
    layout = index_dataset(bids, database_path=work / "db", validate=False)
    cached = time.monotonic() - start
    start = time.monotonic()
    plans = collect_sessions(layout)
    planned = time.monotonic() - start
    return {"index_fresh_s": fresh, "index_cached_s": cached, "plan_s": planned, "sessions": len(plans)}


def _replicate(one: Path, out: Path, labels: list[str]) -> None:
    """Copy the outputs of participant 001 to every label (names and records rewritten)."""
    for label in labels[1:]:
        for path in (one / "sub-001").rglob("*"):
            if not path.is_file():
                continue
            target = (
                out / f"sub-{label}" / path.relative_to(one / "sub-001").as_posix().replace("sub-001", f"sub-{label}")
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.name.endswith("_metrics.json"):
                record = json.loads(path.read_text())
                record = json.loads(json.dumps(record).replace("sub-001", f"sub-{label}"))
                record["subject"] = label
                target.write_text(json.dumps(record))
            else:
                shutil.copyfile(path, target)
        html = one / "sub-001.html"
        if html.is_file():
            shutil.copyfile(html, out / f"sub-{label}.html")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--memory", type=int, nargs="*", default=[4, 16])
    parser.add_argument("--keep", type=Path, help="keep the datasets and outputs here")
    args = parser.parse_args()
    if not (SHARED / "heads").is_dir():
        sys.exit(f"needs the real heads at {SHARED / 'heads'}")
    top = args.keep or Path(tempfile.mkdtemp(prefix="bench_load_"))
    head = small_head(SHARED)
    labels = _labels(args.participants)

    bids = make_bids(top / "bids", head, labels, name="load")
    indexing = bench_indexing(bids, top / "work_index")
    print(f"\nindexing {args.participants} participants (pybids, no validation)")
    print(f"  fresh index      {indexing['index_fresh_s']:8.1f} s")
    print(f"  cached index     {indexing['index_cached_s']:8.1f} s")
    print(f"  plan sessions    {indexing['plan_s']:8.1f} s   ({indexing['sessions']} sessions)")

    out = top / "out"
    one = [bids, out, "participant", "--participant-label", "001", "--impact", "none", "--nprocs", "2"]
    seconds, peak, code = _run([*one, "--skip-bids-validation", "-w", top / "work_one"])
    print(f"\none participant run to copy from: {seconds:.1f} s, peak {peak:.0f} MB, exit {code}")
    _replicate(out, out, labels)
    group = [bids, out, "group", "--skip-bids-validation", "-w", top / "work_group"]
    print(f"\ngroup level over {args.participants} participants")
    for name, argv in (("group", group), ("group + release", [*group, "--release-dir", top / "release"])):
        seconds, peak, code = _run(argv)
        print(f"  {name:16s} {seconds:8.1f} s   peak {peak:6.0f} MB   exit {code}")

    print("\nparticipant level, one run over n participants (--impact none --nprocs 2)")
    print(f"  {'n':>3}  {'wall s':>8}  {'s/participant':>13}  {'peak MB':>8}  exit")
    for n in args.memory:
        sub = make_bids(top / f"bids_{n}", head, _labels(n), name=f"memory {n}")
        seconds, peak, code = _run(
            [
                sub,
                top / f"out_{n}",
                "participant",
                "--impact",
                "none",
                "--nprocs",
                "2",
                "--skip-bids-validation",
                "-w",
                top / f"work_{n}",
            ]
        )
        print(f"  {n:>3}  {seconds:8.1f}  {seconds / n:13.1f}  {peak:8.0f}  {code}")
    if not args.keep:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
