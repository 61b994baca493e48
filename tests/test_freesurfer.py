"""Tests of the FreeSurfer helpers (no FreeSurfer needed: stats files are text).

The ReconAllImage and FreeSurferImpact interfaces and their wiring are tested in test_freesurfer_wf.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_deface.interfaces.freesurfer import recon_all_interface
from bids_deface.methods.impact import freesurfer as fs

DATA = Path(__file__).parent / "data" / "freesurfer"
ORIG, DEFACED = DATA / "sub-01", DATA / "sub-01_defaced"


def test_parse_aseg_stats():
    stats = fs.parse_aseg_stats(ORIG / "stats" / "aseg.stats")
    assert stats["measures"]["BrainSegVol"] == pytest.approx(1154321.25)
    assert stats["measures"]["eTIV"] == pytest.approx(1536629.480221)
    assert stats["measures"]["BrainSegVol-to-eTIV"] == pytest.approx(0.751204)
    assert stats["measure_units"]["eTIV"] == "mm^3"
    assert stats["measure_units"]["SurfaceHoles"] == "unitless"
    assert len(stats["volumes_mm3"]) == 8
    assert stats["volumes_mm3"]["Left-Hippocampus"] == pytest.approx(4187.1)
    assert stats["volumes_mm3"]["Brain-Stem"] == pytest.approx(21244.0)
    assert stats["nvoxels"]["Left-Thalamus"] == 7544


def test_parse_aparc_stats():
    stats = fs.parse_aparc_stats(ORIG / "stats" / "lh.aparc.stats")
    assert stats["hemi"] == "lh"
    assert stats["measures"]["MeanThickness"] == pytest.approx(2.5122)
    assert stats["measures"]["NumVert"] == 131022
    assert stats["measure_units"]["WhiteSurfArea"] == "mm^2"
    assert stats["thickness_mm"]["superiorfrontal"] == pytest.approx(2.842)
    assert stats["regions"]["precentral"]["GrayVol"] == 13780
    assert len(stats["regions"]) == 7


def test_parse_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.stats"):
        fs.parse_aseg_stats(tmp_path / "nothere.stats")
    bad = tmp_path / "bad.stats"
    bad.write_text("# Measure BrainSeg, BrainSegVol, Brain Segmentation Volume, 10, mm^3\n")
    with pytest.raises(ValueError, match="ColHeaders"):
        fs.parse_aseg_stats(bad)
    bad.write_text("# ColHeaders Index SegId NVoxels Volume_mm3 StructName\n 1 4 10\n")
    with pytest.raises(ValueError, match="bad.stats"):
        fs.parse_aseg_stats(bad)


def test_compare_freesurfer_by_hand():
    m = fs.compare_freesurfer(ORIG, DEFACED)
    # Left-Thalamus 7402.6 -> 7550.7 mm3
    assert m["fs_aseg_Left_Thalamus_volume_change_pct"] == pytest.approx(100 * (7550.7 - 7402.6) / 7402.6)
    assert m["fs_aseg_Left_Hippocampus_volume_change_pct"] == 0.0
    assert m["fs_aseg_volume_change_abs_max_pct"] == pytest.approx(2.0006, abs=1e-3)
    assert m["fs_aseg_volume_change_abs_mean_pct"] == pytest.approx(2.0006 / 8, abs=1e-3)
    assert m["fs_BrainSegVol_change_pct"] == pytest.approx(-1.0)
    assert m["fs_eTIV_change_pct"] == 0.0
    # lh MeanThickness 2.51220 -> 2.48708 (-1 %); rh unchanged
    assert m["fs_lh_mean_thickness_change_pct"] == pytest.approx(-0.99992, abs=1e-4)
    assert m["fs_rh_mean_thickness_change_pct"] == 0.0
    assert m["fs_lh_mean_thickness_original_mm"] == pytest.approx(2.5122)
    # medialorbitofrontal 2.398 -> 2.278 (rounded to 3 decimals in the file)
    assert m["fs_lh_thickness_change_abs_max_pct"] == pytest.approx(100 * 0.120 / 2.398, abs=1e-3)
    assert not any(k.startswith("fs_cnr") for k in m)  # no CNR sources in the test data
    assert all(isinstance(v, float) for v in m.values())


def test_cnr_from_volumes_and_mri_cnr(tmp_path):
    aseg = np.array([3, 3, 2, 2, 0], dtype=np.int32)
    norm = np.array([1.0, 3.0, 10.0, 14.0, 99.0])
    assert fs.cnr_from_volumes(norm, aseg) == pytest.approx(20.0)
    assert fs.parse_mri_cnr("lh CNR = 1.2\nrh CNR = 1.4\ntotal CNR = 1.300\n") == 1.3
    with pytest.raises(ValueError):
        fs.parse_mri_cnr("nothing here")
    # compare_freesurfer picks CNR from mri/norm.mgz + mri/aseg.mgz, or stats/mri_cnr.txt
    orig, defc = tmp_path / "orig", tmp_path / "defc"
    shutil.copytree(ORIG, orig)
    shutil.copytree(DEFACED, defc)
    for subject, wm_value in ((orig, 14.0), (defc, 12.0)):
        (subject / "mri").mkdir()
        norm3 = np.array([1.0, 3.0, 10.0, wm_value], np.float32).reshape(2, 2, 1)
        nib.save(nib.MGHImage(norm3, np.eye(4)), subject / "mri" / "norm.mgz")
        nib.save(nib.MGHImage(aseg[:4].reshape(2, 2, 1), np.eye(4)), subject / "mri" / "aseg.mgz")
    m = fs.compare_freesurfer(orig, defc)
    # defaced: GM mean 2 var 1, WM mean 11 var 1 -> 81 / 2 = 40.5
    assert m["fs_cnr_original"] == pytest.approx(20.0)
    assert m["fs_cnr_defaced"] == pytest.approx(40.5)
    assert m["fs_cnr_change_pct"] == pytest.approx(102.5)
    for subject, value in ((orig, "2.000"), (defc, "1.900")):
        (subject / "stats" / "mri_cnr.txt").write_text(f"total CNR = {value}\n")
    assert fs.compare_freesurfer(orig, defc)["fs_cnr_change_pct"] == pytest.approx(-5.0)


def test_compare_requires_aseg(tmp_path):
    with pytest.raises(FileNotFoundError, match="aseg.stats"):
        fs.compare_freesurfer(tmp_path, DEFACED)


def test_licence_lookup(tmp_path, monkeypatch):
    monkeypatch.delenv("FS_LICENSE", raising=False)
    monkeypatch.delenv("FREESURFER_HOME", raising=False)
    assert fs.find_fs_license() is None
    licence = tmp_path / "license.txt"
    licence.write_text("someone@example.org\n")
    assert fs.find_fs_license(licence) == licence
    monkeypatch.setenv("FREESURFER_HOME", str(tmp_path))
    assert fs.find_fs_license() == licence
    other = tmp_path / "fs.lic"
    other.write_text("x")
    monkeypatch.setenv("FS_LICENSE", str(other))
    assert fs.find_fs_license() == other
    assert fs.find_fs_license(tmp_path / "missing.txt") == other


def test_recon_all_absent_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no recon-all here
    monkeypatch.delenv("FS_LICENSE", raising=False)
    monkeypatch.delenv("FREESURFER_HOME", raising=False)
    assert fs.recon_all_available() is False
    with pytest.raises(RuntimeError, match="needs recon-all on PATH and a FreeSurfer licence"):
        fs.require_recon_all()


def test_recon_all_available_with_fake_install(tmp_path, monkeypatch):
    script = tmp_path / "recon-all"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    licence = tmp_path / "license.txt"
    licence.write_text("x")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("FS_LICENSE", raising=False)
    monkeypatch.delenv("FREESURFER_HOME", raising=False)
    assert fs.recon_all_available() is False  # no licence yet
    assert fs.recon_all_available(licence) is True
    assert fs.require_recon_all(licence) == licence


def test_recon_all_interface_cmdline(tmp_path):
    t1 = tmp_path / "sub-01_T1w.nii.gz"
    t1.write_bytes(b"")
    recon = recon_all_interface("sub-01_desc-defaced", [t1], tmp_path / "fs", openmp=4, flags=["-norandomness"])
    cmd = recon.cmdline
    assert cmd.startswith("recon-all -all")
    assert f"-i {t1}" in cmd
    assert "-subjid sub-01_desc-defaced" in cmd
    assert f"-sd {tmp_path / 'fs'}" in cmd
    assert "-openmp 4" in cmd
    assert "-norandomness" in cmd
    assert (tmp_path / "fs").is_dir()
    recon1 = recon_all_interface("s", [t1], tmp_path / "fs", directive="autorecon1")
    assert recon1.cmdline.startswith("recon-all -autorecon1")
    assert "-openmp" not in recon1.cmdline
