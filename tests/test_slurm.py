"""Cluster execution on a real scheduler: a single-node SLURM started for this module.

The fixture starts munged (private key and socket), slurmctld and slurmd (Debian's
slurm-wlm) in the foreground with a slurm.conf in a temporary folder, checks that a batch
job runs, and stops exactly the daemons it started. It skips when they cannot start (not
root, slurm-wlm or munge not installed); ``.ci/test-tools.sh`` installs them in CI.

The pipeline test runs a two-participant demo dataset (``--impact none``) with
``--plugin SLURM`` and with ``--plugin MultiProc``, and checks that the SLURM run's nodes went through the scheduler
(every batch script submitted, a SLURM log per job, every job COMPLETED in the scheduler's
job-completion log) and that both runs wrote the same files with the same headers, and
images and metrics that match within the pipeline's own run-to-run noise (see the test).
Wall times of both runs are written to ``slurm_timings.json`` in the test's temporary
folder and printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm]

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
#: Share of voxels that may differ between two runs (registration noise, see the test).
MAX_DIFFERENT_VOXELS = 0.001
TIMING_KEYS = re.compile(r"^time_|_time_s$|_seconds$|^timings?$")


def _missing_tools() -> list[str]:
    return [
        tool for tool in DAEMONS if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.8)
    return 2048


def _which(tool: str) -> str:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def slurm_conf(root: Path, *, cpus: int, memory_mb: int, ctld_port: int, slurmd_port: int, munge_socket: Path) -> str:
    """A single-node slurm.conf whose state, spool, logs and pid files are all under ``root``."""
    return "\n".join(
        [
            "ClusterName=bidsdefacetest",
            "SlurmctldHost=localhost",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={munge_socket}",
            "CredType=cred/munge",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            f"DefMemPerCPU={max(256, memory_mb // (2 * cpus))}",
            "SchedulerType=sched/builtin",
            "MpiDefault=none",
            "ReturnToService=2",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "MinJobAge=300",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={root / 'log' / 'jobcomp.txt'}",
            f"NodeName=localhost NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs={cpus} "
            f"RealMemory={memory_mb} State=UNKNOWN",
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


class SlurmCluster:
    """Handles to a running single-node cluster."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = env

    @property
    def jobcomp(self) -> Path:
        return self.root / "log" / "jobcomp.txt"

    def completed_jobs(self) -> dict[int, str]:
        """Job id -> final state, from the scheduler's job-completion log."""
        jobs = {}
        if self.jobcomp.is_file():
            for line in self.jobcomp.read_text().splitlines():
                fields = dict(re.findall(r"(\w+)=(\S*)", line))
                if "JobId" in fields:
                    jobs[int(fields["JobId"])] = fields.get("JobState", "")
        return jobs

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Start munged, slurmctld and slurmd for this module; stop them afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a private SLURM needs root here (slurmd runs jobs as their user)")
    missing = _missing_tools()
    if missing:
        pytest.skip(f"SLURM/munge not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge)")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "log", "munge"):
        (root / sub).mkdir()
    os.chmod(root / "munge", 0o700)
    munge_socket = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    cpus = max(1, min(os.cpu_count() or 1, 4))
    conf.write_text(
        slurm_conf(
            root,
            cpus=cpus,
            memory_mb=_memory_mb(),
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            munge_socket=munge_socket,
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf), "LOGNAME": os.environ.get("LOGNAME", "root")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}:/usr/sbin:/sbin"

    procs: list[subprocess.Popen] = []
    logs = []
    try:
        key = root / "munge" / "munge.key"
        subprocess.run([_which("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        commands = [
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={munge_socket}",
                f"--key-file={key}",
                f"--pid-file={root / 'munge' / 'munged.pid'}",
                f"--log-file={root / 'log' / 'munged.log'}",
                f"--seed-file={root / 'munge' / 'munged.seed'}",
            ],
            [_which("slurmctld"), "-D", "-i", "-f", str(conf)],
            [_which("slurmd"), "-D", "-f", str(conf), "-N", "localhost"],
        ]
        for command in commands:
            log = open(root / "log" / f"{Path(command[0]).name}.stdout", "w")  # noqa: SIM115
            logs.append(log)
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
            if command[0].endswith("munged"):
                _wait_for(munge_socket.exists, 20, "munged did not create its socket")
        cluster = SlurmCluster(root, env)

        def node_idle() -> bool:
            dead = [p.args[0] for p in procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited")
            out = cluster.run(_which("scontrol"), "show", "node", "localhost", timeout=10).stdout
            return "State=IDLE" in out

        try:
            _wait_for(node_idle, 60, "the SLURM node did not come up")
        except (TimeoutError, RuntimeError) as err:
            text = "\n".join(p.read_text()[-2000:] for p in (root / "log").glob("*") if p.is_file())
            pytest.skip(f"SLURM could not start: {err}\n{text}")
        yield cluster
    finally:
        if procs:
            subprocess.run([_which("scontrol"), "shutdown"], env=env, capture_output=True, timeout=30)
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        for log in logs:
            log.close()


def test_sbatch_job_goes_through_the_scheduler(slurm, tmp_path):
    out = tmp_path / "job-%j.out"
    proc = slurm.run(
        "sbatch",
        "--parsable",
        "--wait",
        "-o",
        str(out),
        "--wrap",
        "echo ran on $(hostname) as $SLURM_JOB_ID",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip().split(";")[0])
    log = tmp_path / f"job-{job_id}.out"
    assert log.read_text().strip().endswith(f"as {job_id}")
    _wait_for(lambda: job_id in slurm.completed_jobs(), 20, "job missing from the job-completion log")
    assert slurm.completed_jobs()[job_id] == "COMPLETED"


# --- the pipeline through SLURM vs MultiProc --------------------------------------------------


def _run_bids_deface(env, bids: Path, out: Path, work: Path, *extra: str) -> tuple[int, float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bids_deface",
            str(bids),
            str(out),
            "participant",
            "-w",
            str(work),
            "--participant-label",
            "01",
            "03",
            "--skip-bids-validation",
            "--impact",
            "none",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return proc.returncode, time.perf_counter() - start, proc.stderr[-6000:]


def _output_files(out: Path) -> set[str]:
    """Output files that must match between runs (logs and reports hold run ids and times)."""
    return {
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).parts[0] != "logs" and p.suffix not in (".html", ".log")
    }


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if not TIMING_KEYS.search(k)}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_participants_slurm_matches_multiproc(slurm, tmp_path):
    import nibabel as nib
    import numpy as np

    bids = tmp_path / "bids"
    made = subprocess.run(
        [sys.executable, "-m", "bids_deface.data.demo", str(bids)],
        capture_output=True,
        text=True,
        env=slurm.env,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr

    out_mp, out_slurm = tmp_path / "out_multiproc", tmp_path / "out_slurm"
    code_mp, time_mp, err_mp = _run_bids_deface(
        slurm.env, bids, out_mp, tmp_path / "work_mp", "--plugin", "MultiProc", "--nprocs", "2"
    )
    plugin_args = {"sbatch_args": "--cpus-per-task=1 --mem=3G", "max_jobs": 4, "retry_timeout": 2}
    code_slurm, time_slurm, err_slurm = _run_bids_deface(
        slurm.env,
        bids,
        out_slurm,
        tmp_path / "work_slurm",
        "--plugin",
        "SLURM",
        "--plugin-args",
        json.dumps(plugin_args),
        "--nprocs",
        "2",
    )
    timings = {
        "multiproc_s": round(time_mp, 1),
        "slurm_s": round(time_slurm, 1),
        "participants": ["01", "03"],
        "cpus": os.cpu_count(),
    }
    (tmp_path / "slurm_timings.json").write_text(json.dumps(timings, indent=2))
    print(f"\ntwo-participant run: MultiProc {time_mp:.1f} s, SLURM {time_slurm:.1f} s")  # noqa: T201 - the timing figures, shown with -s

    assert code_mp in (0, 1), f"MultiProc run crashed (exit {code_mp}):\n{err_mp}"
    # exit codes may differ while the checks' verdicts ride on registration noise (see below)
    assert code_slurm in (0, 1), f"SLURM run crashed (exit {code_slurm}):\n{err_slurm}"

    # the nodes went through the scheduler
    batch_dirs = list((tmp_path / "work_slurm").rglob("batch"))
    assert batch_dirs, "no nipype batch folder: nothing was submitted"
    scripts = [p for d in batch_dirs for p in d.glob("batchscript_*.sh")]
    job_logs = {
        int(m.group(1)): p
        for d in batch_dirs
        for p in d.glob("slurm-*.out")
        if (m := re.match(r"slurm-(\d+)\.out", p.name))
    }
    assert scripts and len(job_logs) >= len(scripts), f"{len(scripts)} batch scripts but {len(job_logs)} SLURM logs"
    completed = slurm.completed_jobs()
    states = {job: completed.get(job, "MISSING") for job in job_logs}
    assert all(state == "COMPLETED" for state in states.values()), f"jobs not completed in SLURM: {states}"

    # the same outputs. The pipeline is not bit-reproducible yet: two MultiProc runs of the
    # same data differ too (ANTs registration: a few hundred voxels of the removal mask, and
    # the impact registrations), so images are compared with a tolerance and the metrics
    # that depend on registration noise (impact_*, face_*) are left out. Headers, file
    # names, data types and shapes must match exactly.
    files = _output_files(out_mp)
    assert files == _output_files(out_slurm)
    images = sorted(f for f in files if f.endswith(".nii.gz"))
    assert any("_desc-defaced_" in f for f in images), f"no defaced image among {sorted(files)}"
    for rel in images:
        a, b = nib.load(out_mp / rel), nib.load(out_slurm / rel)
        assert a.header.binaryblock == b.header.binaryblock, f"{rel}: headers differ"
        da, db = np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)
        differ = int((da != db).sum())
        print(f"{rel}: {differ} voxels differ ({100 * differ / da.size:.3f} %)")  # noqa: T201
        assert differ <= MAX_DIFFERENT_VOXELS * da.size, f"{rel}: {differ} voxels differ"
    for rel in sorted(f for f in files if f.endswith("_metrics.json")):
        a = _strip_timings(json.loads((out_mp / rel).read_text()))
        b = _strip_timings(json.loads((out_slurm / rel).read_text()))
        assert set(a) == set(b), f"{rel}: different metric keys"
        for key in sorted(a):
            if key.startswith(
                (
                    "impact_",
                    "face_",
                    "check_impact",
                    "check_face",
                    "reason",
                    "status",
                    "failed_checks",
                    "landmark_",
                    "feature_",
                )
            ):
                continue
            if isinstance(a[key], float):
                assert abs(a[key] - b[key]) <= 0.01 * max(1.0, abs(a[key])), f"{rel}: {key} {a[key]} != {b[key]}"
            elif key == "voxels_removed":  # within 1 % of each other
                assert abs(a[key] - b[key]) <= 0.01 * max(a[key], 1), f"{rel}: {key} {a[key]} != {b[key]}"
            else:
                assert a[key] == b[key], f"{rel}: {key} {a[key]!r} != {b[key]!r}"
