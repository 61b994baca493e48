"""Wall time and peak memory per participant, and time per stage per image, next to a peer.

    python benchmarks/bench_participant.py ../shared/data/heads [--impact none] [--nprocs 2]
    python benchmarks/bench_participant.py --demo
    python benchmarks/bench_participant.py ../shared/data/heads --no-peer

Each participant runs in its own process (as one container per participant would), so
its peak memory (the summed resident memory of its process tree, nipype's workers
included, sampled from /proc) is its own.

The peer, in the same run and on the same images (right after each participant, so under
the same load): FSL's BET as reimplemented by ``brainextractor``, then ``quickshear``
(``pip install -e ".[bench]"``), each image in its own processes, as their command-line
tools run. It does no checks at all: the ratio says what the checks cost over a bare deface.
"""

from __future__ import annotations

import argparse
import json
import os
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


_TICK = os.sysconf("SC_CLK_TCK")


def _tree_sample(pid: int, cpu: dict[int, float]) -> tuple[float, float]:
    """Resident and proportional memory of ``pid`` and all its descendants, MB (0 where /proc is missing).

    The summed resident memory counts a page shared by several processes (the modules the
    forkserver loaded before forking the workers) once per process; the proportional set
    size counts it once in all: the figure a container's memory limit is charged.

    ``cpu`` collects each process's CPU seconds so far (user + system), by process id.
    """
    total, pss, todo, seen = 0, 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu[current] = max(cpu.get(current, 0.0), (int(fields[11]) + int(fields[12])) / _TICK)
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        try:  # proportional: a page shared by n processes (the forkserver's modules) counts 1/n in each
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            pss += next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
        except OSError:
            pass
        todo += _children(current)
    return total / 1024.0, pss / 1024.0


def _measure(*commands: list[str], env: dict | None = None) -> tuple[float, float, int, float, float]:
    """Run commands one after the other: wall time, peak resident memory, exit code, CPU time, peak PSS.

    The nipype workers are grandchildren (a forkserver's children), which getrusage does not
    see: the tree's resident memory and CPU time are sampled from /proc every 0.2 s instead
    (the memory is the figure a container's memory limit has to cover; the CPU seconds, which
    the other jobs of a shared machine inflate far less than the wall time, miss at most the
    last 0.2 s of each process).
    """
    start, peak, peak_pss, code, cpu = time.monotonic(), 0.0, 0.0, 0, {}
    for command in commands:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        while proc.poll() is None:
            rss, pss = _tree_sample(proc.pid, cpu)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(0.2)
        code = proc.returncode
        if code:
            break
    return time.monotonic() - start, peak, code, sum(cpu.values()), peak_pss


def _run_one(bids: Path, out: Path, work: Path, label: str, extra: list[str]) -> tuple[float, float, int, float, float]:
    """Run one participant in its own process (see :func:`_measure`)."""
    command = [sys.executable, "-m", "bids_deface", str(bids), str(out), "participant"]
    command += ["--participant-label", label, "-w", str(work), "--skip-bids-validation", *extra]
    return _measure(command)


def _peer_tools() -> tuple[str, str] | None:
    """The ``brainextractor`` and ``quickshear`` commands next to this Python, or None."""
    folder = Path(sys.executable).parent
    tools = (folder / "brainextractor", folder / "quickshear")
    return tuple(str(t) for t in tools) if all(t.is_file() for t in tools) else None


def _run_peer(image: Path, work: Path, tools: tuple[str, str]) -> tuple[float, float, int, float, float]:
    """BET (brainextractor) then quickshear on one image (see :func:`_measure`)."""
    work.mkdir(parents=True, exist_ok=True)
    mask, defaced = work / "brain_mask.nii.gz", work / "defaced.nii.gz"
    return _measure([tools[0], str(image), str(mask)], [tools[1], str(image), str(mask), str(defaced)])


def _records(out: Path, label: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"sub-{label}/**/*_desc-deface_metrics.json"))]


def _ratio(app: float | None, peer: float | None) -> str:
    return f"{app / peer:>8.2f}" if app and peer else f"{'-':>8}"


STAGES = (
    ("reg s", "time_registration_s"),
    ("brain s", "time_brain_independent_s"),
    ("coreg s", "time_coregistration_s"),
    ("deface s", "time_deface_s"),
    ("qa s", "time_qa_s"),
    ("impact s", "time_impact_s"),
    ("total s", "time_total_s"),
)
#: The stages that do what the peer does (register, then cut), without the checks.
DEFACING_STAGES = ("time_registration_s", "time_coregistration_s", "time_deface_s")
#: Stages run once per session, whose time every image record of the session repeats.
SESSION_STAGES = ("time_registration_s", "time_brain_independent_s")


def _session(rec: dict) -> str:
    """The session folder of a record's image (``sub-01/ses-a``, or ``sub-01`` without sessions)."""
    return str(Path(rec["source_file"]).parent.parent)


def _image_seconds(rec: dict, keys, images_in_session: int) -> float:
    """The summed ``keys`` stage times of an image, a session stage counting its share only."""
    return sum((rec.get(key) or 0.0) / (images_in_session if key in SESSION_STAGES else 1) for key in keys)


def _image_table(rows: list[tuple[str, dict, tuple | None]]) -> None:
    """One line per image: the app's stage times, the peer's wall and peak, their ratio."""
    print(
        f"\n{'image':<34}"
        + "".join(f"{name:>9}" for name, _ in STAGES)
        + f"{'share s':>9}{'peer s':>8}{'peer MB':>8}{'ratio':>8}{'deface':>8}"
    )
    sessions = [_session(rec) for _, rec, _ in rows]
    for (_label, rec, peer), session in zip(rows, sessions):
        cols = [rec.get(key) for _, key in STAGES]
        n = sessions.count(session)
        # the image's own stages and its share of its session's (the registration, the second route)
        share = _image_seconds(rec, [key for _, key in STAGES if key != "time_total_s"], n)
        # the peer's own job: the registration(s) and the removal, no check
        defacing = _image_seconds(rec, DEFACING_STAGES, n)
        peer_wall, peer_peak = (peer[0], peer[1]) if peer and peer[2] == 0 else (None, None)
        print(
            f"{rec['source_file'].split('/')[-1][:33]:<34}"
            + "".join(f"{c:>9.1f}" if isinstance(c, (int, float)) else f"{'-':>9}" for c in cols)
            + f"{share:>9.1f}"
            + (
                f"{peer_wall:>8.1f}{peer_peak:>8.0f}"
                if peer_wall
                else f"{'failed' if peer else '-':>8}{'-':>8}"  # BET dies on some thick-slab images
            )
            + _ratio(share, peer_wall)
            + _ratio(defacing, peer_wall)
            + ("" if rec.get("status") == "pass" else f"  {rec.get('status')}: {rec.get('reason', '')}")
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bids_dir", nargs="?", type=Path)
    parser.add_argument("--demo", action="store_true", help="benchmark on the bundled demo dataset")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-peer", action="store_true", help="skip the BET + quickshear peer")
    args, extra = parser.parse_known_args(argv)
    tmp = Path(args.out or tempfile.mkdtemp(prefix="bids_deface_bench_"))
    if args.demo or args.bids_dir is None:
        from bids_deface.data.demo import make_demo_dataset

        bids = make_demo_dataset(tmp / "demo_bids")
    else:
        bids = args.bids_dir.absolute()
    out = tmp / "out"
    tools = None if args.no_peer else _peer_tools()
    if not args.no_peer and tools is None:
        print("peer: brainextractor or quickshear missing (pip install -e '.[bench]'): not measured")
    print(f"dataset: {bids}\noutputs: {out}\noptions: {' '.join(extra) or '(defaults)'}")
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}\n")
    print(
        f"{'participant':<14}{'wall s':>9}{'cpu s':>8}{'peak MB':>10}{'PSS MB':>9}{'exit':>6}"
        f"{'peer s':>9}{'peer cpu':>9}{'peer MB':>9}{'ratio':>8}{'cpu ratio':>10}"
    )
    images = []
    for label in _participants(bids):
        wall, peak, rc, cpu, pss = _run_one(bids, out, tmp / f"work_{label}", label, extra)
        peers = []
        for rec in _records(out, label):
            peer = None
            if tools:
                peer = _run_peer(bids / rec["source_file"], tmp / "peer" / rec["source_file"], tools)
                peers.append(peer)
            images.append((label, rec, peer))
        ok = peers and all(p[2] == 0 for p in peers)
        peer_wall = sum(p[0] for p in peers) if ok else None
        peer_cpu = sum(p[3] for p in peers) if ok else None
        peer_peak = max((p[1] for p in peers), default=0.0)
        print(
            f"sub-{label:<10}{wall:>9.1f}{cpu:>8.1f}{peak:>10.0f}{pss:>9.0f}{rc:>6}"
            + (
                f"{peer_wall:>9.1f}{peer_cpu:>9.1f}{peer_peak:>9.0f}"
                if ok
                else f"{'failed' if peers else '-':>9}{'-':>18}"
            )
            + _ratio(wall, peer_wall)
            + f"{_ratio(cpu, peer_cpu):>10}",
            flush=True,
        )
    _image_table(images)
    print(
        "\nratio: the app over the peer (participant: wall, or CPU seconds, over the peer's summed over its"
        " images; image: its share, the image's stage times with the session's registration and second"
        " route shared by the session's images (each record repeats them in time_total_s), over the peer's wall on it;"
        " deface: the same for the registration, co-registration and removal stages alone, the peer's own job)"
    )
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
