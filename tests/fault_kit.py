"""Shared by the fault, adversary and bad-input suites: a small real head, runs as subprocesses,
kills, and a reader that opens every output file the way a user's tool would.

A "small real head" is ``sub-pet`` of ../shared/data/heads (whole face, 1 mm) block-averaged
to 4 mm voxels (52 x 64 x 64, int16): a real face and brain, and a participant run of about
half a minute with ``--impact none``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEAD = Path("heads") / "sub-pet" / "anat" / "sub-pet_T1w.nii.gz"


def small_head(shared_data: Path, factor: int = 4) -> nib.Nifti1Image:
    """sub-pet's T1w block-averaged by ``factor`` (voxel size and extent consistent), int16, RAS."""
    src = nib.load(shared_data / HEAD)
    data = np.asanyarray(src.dataobj, dtype=np.float32)
    shape = np.asarray(data.shape[:3]) // factor
    cropped = data[: shape[0] * factor, : shape[1] * factor, : shape[2] * factor]
    small = cropped.reshape(shape[0], factor, shape[1], factor, shape[2], factor).mean(axis=(1, 3, 5))
    affine = src.affine.copy()
    affine[:3, :3] *= factor
    centre = src.affine @ np.r_[(np.asarray(data.shape[:3]) - 1) / 2.0, 1.0]
    affine[:3, 3] = centre[:3] - affine[:3, :3] @ ((shape - 1) / 2.0)
    img = nib.Nifti1Image(np.rint(small).astype(np.int16), affine)
    img.header.set_xyzt_units("mm", "sec")
    return img


def make_bids(root: Path, head: nib.Nifti1Image, subjects=("01",), name: str = "faults") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": name, "BIDSVersion": "1.10.0"}))
    for subject in subjects:
        (root / f"sub-{subject}" / "anat").mkdir(parents=True, exist_ok=True)
        head.to_filename(root / f"sub-{subject}" / "anat" / f"sub-{subject}_T1w.nii.gz")
    return root


def add_big_bold(bids: Path, subject: str = "01", mb: int = 40) -> Path:
    """A func image of about ``mb`` MB of noise with text in its header: the release rewrites it
    (header scrubbed, recompressed), which takes seconds: long enough to kill or to fill a disk."""
    frames = max(1, mb * 1024 * 1024 // (128 * 128 * 40 * 2))
    data = np.random.default_rng(0).integers(0, 1000, (128, 128, 40, frames)).astype(np.int16)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    img.header["descrip"] = b"TE=30;Time=102231.000"
    path = bids / f"sub-{subject}" / "func" / f"sub-{subject}_task-rest_bold.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    img.to_filename(path)
    path.with_suffix("").with_suffix(".json").write_text(json.dumps({"RepetitionTime": 2.0, "TaskName": "rest"}))
    return path


# -- every output file, opened as a reader would --


class _Html(HTMLParser):
    pass


def _check_file(path: Path) -> None:
    """Raise when ``path`` does not load completely as what its name says."""
    name = path.name
    if name.endswith((".nii", ".nii.gz")):
        img = nib.load(path)
        np.asanyarray(img.dataobj)  # reads to the end: gzip's CRC and length catch a truncated file
    elif name.endswith(".gz"):
        gzip.decompress(path.read_bytes())
    elif name.endswith(".json"):
        json.loads(path.read_text(encoding="utf-8"))
    elif name.endswith(".tsv"):
        text = path.read_text(encoding="utf-8")
        rows = text.splitlines()
        if not text.endswith("\n") or len({len(r.split("\t")) for r in rows}) != 1:
            raise ValueError("ragged or unterminated table")
    elif name.endswith(".html"):
        text = path.read_text(encoding="utf-8")
        _Html().feed(text)
        if text.lstrip().lower().startswith(("<!doctype", "<html")) and "</html>" not in text[-200:].lower():
            raise ValueError("HTML document without its end")
    elif name.endswith(".svg"):
        ET.parse(path)
    elif name.endswith(".png"):
        from PIL import Image

        with Image.open(path) as im:
            im.load()
    else:
        path.read_bytes().decode("utf-8")


HIDDEN_OK = re.compile(r"^(\.bidsignore|\.bids_deface_release\.json|sub-\w+\.lock|group\.lock)$")
TEMPORARY = re.compile(r"^\..*\.tmp")


def audit_files(root: Path) -> dict:
    """Every file under ``root``: ``checked`` (visible files that loaded), ``broken`` (visible files that
    did not, with why), ``temporaries`` (hidden temporary names a reader cannot take for outputs)."""
    checked, broken, temporaries = [], [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if any(part.startswith(".") for part in parts):
            if TEMPORARY.match(parts[-1]) or ".staging" in parts[:-1] or HIDDEN_OK.match(parts[-1]):
                if not HIDDEN_OK.match(parts[-1]):
                    temporaries.append(rel)
                continue
            broken.append(f"{rel}: hidden file of unknown kind")
            continue
        if "logs" in parts[:1]:
            try:  # logs and crash files grow line by line: a killed run may end them mid-line
                path.read_bytes().decode("utf-8")
                checked.append(rel)
            except UnicodeDecodeError as err:
                broken.append(f"{rel}: {err}")
            continue
        try:
            _check_file(path)
            checked.append(rel)
        except Exception as err:  # noqa: BLE001 - any failure to load is what this looks for
            broken.append(f"{rel}: {type(err).__name__}: {err}")
    return {"checked": checked, "broken": broken, "temporaries": temporaries}


# -- runs as subprocesses, killed for real --


def start(argv: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    handle = open(log, "w")  # noqa: SIM115 - closed by finish()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bids_deface.cli.run", *map(str, argv)],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log = handle
    return proc


def finish(proc: subprocess.Popen, timeout: float = 300.0) -> str:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own run's process group
        proc.wait()
        raise AssertionError(f"the run hung for {timeout:.0f} s") from None
    finally:
        proc.log.close()
    return Path(proc.log.name).read_text()


def family(pid: int) -> list[int]:
    """``pid`` and every process descended from it (Linux /proc)."""
    ppids = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppids[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [pid], [pid]
    while todo:
        parent = todo.pop()
        children = [p for p, pp in ppids.items() if pp == parent]
        found += children
        todo += children
    return found


def kill_when(proc: subprocess.Popen, seen, timeout: float = 240.0, every: float = 0.01) -> str | None:
    """SIGKILL the run's whole process group as soon as ``seen(cwds)`` returns a description
    (``cwds``: the working folders of the run's processes; nipype runs a node in its folder).
    Returns the description, or None when the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        cwds = []
        for pid in family(proc.pid):
            try:
                cwds.append(os.readlink(f"/proc/{pid}/cwd"))
            except OSError:
                continue
        what = seen(cwds)
        if what:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return what
        time.sleep(every)
    return None


def node_running(prefix: str):
    """A ``seen`` for :func:`kill_when`: a process works in a node folder whose name starts with ``prefix``."""

    def seen(cwds):
        for cwd in cwds:
            if Path(cwd).name.startswith(prefix):
                return Path(cwd).name
        return None

    return seen
