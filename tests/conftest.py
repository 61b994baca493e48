"""Shared fixtures. Real data (../shared/data) is optional: tests that need it skip."""

from __future__ import annotations

import hashlib
import json
import os

# ANTs' multithreaded metric sampling is not reproducible; ITK reads this once per process
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
from importlib.resources import files
from pathlib import Path

import nibabel as nib
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if (SHARED_DATA / "heads").is_dir():
        return
    skip = pytest.mark.skip(reason=f"real heads not found at {SHARED_DATA / 'heads'}")
    for item in items:
        if "heads" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "heads").is_dir():
        pytest.skip(f"real heads not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def template_head() -> nib.Nifti1Image:
    """The pydeface mean head (a real face), shipped by the pydeface wheel."""
    return nib.load(str(files("pydeface") / "data" / "mean_reg2mean.nii.gz"))


@pytest.fixture(scope="session")
def demo_bids(tmp_path_factory) -> Path:
    from bids_deface.data.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "bids")


def _hash_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def hash_tree():
    """SHA-256 of every file under a folder (to prove the input is never written)."""
    return _hash_tree


@pytest.fixture(scope="session")
def heads_run(shared_data, tmp_path_factory):
    """One participant-level run on ../shared/data/heads, shared by every test that needs it."""
    from bids_deface.cli.run import main

    root = tmp_path_factory.mktemp("heads_run")
    bids = shared_data / "heads"
    before = _hash_tree(bids)
    code = main([str(bids), str(root / "out"), "participant", "-w", str(root / "work"), "--nprocs", "2"])
    return {
        "bids": bids,
        "out": root / "out",
        "code": code,
        "before": before,
        "after": _hash_tree(bids),
        "truth": shared_data / "truth",
    }


@pytest.fixture(scope="session")
def heads_release(heads_run, tmp_path_factory):
    """The release copy of :func:`heads_run` (group level with ``--release-dir``), shared by its tests."""
    from bids_deface.cli.run import main

    release = tmp_path_factory.mktemp("heads_release") / "release"
    code = main([str(heads_run["bids"]), str(heads_run["out"]), "group", "--release-dir", str(release)])
    return {"release": release, "code": code}


@pytest.fixture
def tiny_bids(tmp_path):
    """A BIDS dataset with one empty participant folder: enough for the parser's checks."""
    root = tmp_path / "bids"
    (root / "sub-01" / "anat").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.10.0"}))
    return root
