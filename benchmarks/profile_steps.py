"""Re-run steps of a finished participant run under cProfile, one after the other, in one process.

    python benchmarks/profile_steps.py WORK_DIR register_template deface face_qa [--top 25] [--save DIR]

WORK_DIR is a run's nipype work folder (``-w``, or ``work_<label>`` of ``bench_participant.py
--out``); each name is a step's folder name in it (the first one found). Each step runs again
from the node and inputs nipype pickled there, in a temporary folder, so the work folder is
left as it was. Prints each step's wall and CPU time and its functions by cumulative time;
``--save`` keeps the ``.prof`` files (``python -m pstats``, snakeviz). The first step also pays
for importing what it needs (ANTs: about 1 s), as the first step of a worker does. ITK runs on
one thread, as in a run (``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS``, unless already set).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path


def profile_step(work_dir: Path, name: str, top: int, save: Path | None) -> None:
    from nipype.utils.filemanip import loadpkl

    found = next((p for p in sorted(work_dir.rglob("_node.pklz")) if p.parent.name == name), None)
    if found is None:
        raise SystemExit(f"{work_dir}: no step folder named {name!r} with a _node.pklz")
    interface = loadpkl(found).interface
    for key, value in loadpkl(found.parent / "_inputs.pklz").items():
        setattr(interface.inputs, key, value)
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix=f"profile_{name}_") as tmp:
        os.chdir(tmp)
        try:
            profiler = cProfile.Profile()
            wall, cpu = time.perf_counter(), time.process_time()
            profiler.runcall(interface.run, cwd=tmp)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            os.chdir(here)
    print(f"=== {name} ({found.parent}): wall {wall:.2f} s, CPU {cpu:.2f} s")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    print(text.getvalue())
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(save / f"{name}.prof")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("steps", nargs="+")
    parser.add_argument("--top", type=int, default=25, help="functions printed per step")
    parser.add_argument("--save", type=Path, help="folder for the .prof files")
    args = parser.parse_args(argv)
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")  # as run_workflow sets it
    for name in args.steps:
        profile_step(args.work_dir, name, args.top, args.save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
