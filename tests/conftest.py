"""Shared fixtures. Real data (../shared/data) is optional: tests that need it skip."""

from __future__ import annotations

import hashlib
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


def hash_tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (to prove the input is never written)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
