"""A real head stored with scaling round-trips through the participant level and the release.

sub-colin of ../shared/data/heads, stored as uint16 with scl_slope 2.5 and scl_inter 10:
every decoded value outside the removal mask must come out as it went in (a uint16 T1w
with this scaling once came out with slope and intercept NaN, every value changed).
"""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from bids_deface.cli.run import main

pytestmark = [pytest.mark.heads, pytest.mark.xdist_group("scaling")]
COLIN = "sub-colin/anat/sub-colin_T1w.nii.gz"


@pytest.fixture(scope="module")
def scaled_run(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("scaled")
    bids = root / "bids"
    (bids / "sub-colin" / "anat").mkdir(parents=True)
    heads = shared_data / "heads"
    shutil.copy(heads / "dataset_description.json", bids)
    source = nib.load(heads / COLIN)
    stored = np.asanyarray(source.dataobj).astype(np.uint16) * 3 + 7  # decoded: 7.5 x + 27.5
    img = nib.Nifti1Image(stored, source.affine, source.header.copy())
    img.header.set_data_dtype(np.uint16)
    img.header.set_slope_inter(2.5, 10.0)
    img.to_filename(bids / COLIN)
    shutil.copy(heads / COLIN.replace(".nii.gz", ".json"), bids / "sub-colin" / "anat")
    out, release = root / "out", root / "release"
    codes = (
        main([str(bids), str(out), "participant", "-w", str(root / "work"), "--impact", "none"]),
        main([str(bids), str(out), "group", "--release-dir", str(release)]),
    )
    return {"bids": bids, "out": out, "release": release, "codes": codes}


def test_scaled_head_keeps_its_values_outside_the_removal(scaled_run):
    assert scaled_run["codes"] == (0, 0)
    original = nib.load(scaled_run["bids"] / COLIN)
    mask = np.asanyarray(nib.load(next(scaled_run["out"].glob("sub-colin/anat/*_desc-deface_mask.nii.gz"))).dataobj) > 0
    assert 0 < (~mask).sum() < mask.size  # something was removed, not everything
    before = original.get_fdata()
    for path in (
        next(scaled_run["out"].glob("sub-colin/anat/*_desc-defaced_T1w.nii.gz")),
        scaled_run["release"] / COLIN,
    ):
        defaced = nib.load(path)
        assert defaced.get_data_dtype() == np.uint16
        assert (defaced.dataobj.slope, defaced.dataobj.inter) == (2.5, 10.0), path
        after = defaced.get_fdata()
        assert np.array_equal(after[mask], before[mask]), path
        assert np.all(after[~mask] == 10.0), path  # stored 0: the value closest to 0 a uint16 with inter 10 has
    record = json.loads(next(scaled_run["out"].glob("sub-colin/anat/*_desc-deface_metrics.json")).read_text())
    assert record["status"] == "pass"
