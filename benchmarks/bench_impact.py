"""Benchmark the defacing impact check (bids_deface.methods.impact.metrics).

For every T1w image of ``--heads`` (default ``../shared/data/heads``; the pydeface
template itself when absent) the image is defaced, then ``impact_metrics`` runs in
"fast" and "full" mode, each in a fresh subprocess so that the peak resident memory
(``ru_maxrss``) is that of one impact check. Printed per image and mode: wall and CPU
time, peak memory, brain Dice, tissue IoU, displacement, raw intensity change in the
brain, and the verdict of ``evaluate_impact``.

Defacing: a ``*_desc-defaced_T1w.nii.gz`` found under ``--defaced-dir`` for the same
source name is used when given; otherwise the pydeface face mask is carried onto the
image by a quick ANTs affine registration of the pydeface head and its face region is
set to 0.

Template: the pydeface head, with ``bids_deface/data/tpl-pydeface`` brain mask when it
exists, else nilearn's MNI152 brain affinely registered to the head (as in the tests).

Usage::

    python benchmarks/bench_impact.py [--heads DIR] [--defaced-dir DIR]
        [--modes fast full] [--resolution 2.0] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEADS = ROOT.parent / "shared" / "data" / "heads"
PYDEFACE = Path(str(files("pydeface"))) / "data"
PACKAGED_BRAIN = ROOT / "bids_deface" / "data" / "tpl-pydeface" / "tpl-pydeface_desc-brain_mask.nii.gz"
MNI = Path(str(files("nilearn"))) / "datasets" / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def template_brain_mask(work: Path) -> Path:
    """The packaged pydeface brain mask, else one derived from nilearn's MNI152 brain."""
    if PACKAGED_BRAIN.exists():
        return PACKAGED_BRAIN
    import ants

    from bids_deface.methods.ants_bridge import ants_seed

    out = work / "tpl-pydeface_desc-brain_mask.nii.gz"
    head = ants.resample_image(ants.image_read(str(PYDEFACE / "mean_reg2mean.nii.gz")), (2, 2, 2), False, 0)
    mni = ants.resample_image(ants.image_read(str(MNI)), (2, 2, 2), False, 0)
    brain = (mni > 0.05 * float(mni.max())).astype("float32")
    region = ants.iMath(ants.resample_image_to_target(brain, head, "linear") > 0.5, "MD", 3)
    with ants_seed(1):
        reg = ants.registration(head, mni, "Affine", mask=region, mask_all_stages=True, initial_transform="Identity")
    warped = ants.apply_transforms(head, brain, reg["fwdtransforms"], "linear") > 0.5
    ants.image_write(warped.astype("uint8"), str(out))
    return out


def deface_with_pydeface_mask(t1: Path, out: Path) -> Path:
    """Zero the pydeface face region carried onto ``t1`` by a quick affine registration."""
    import ants

    from bids_deface.methods.ants_bridge import nifti_to_ants

    img = nib.load(str(t1))
    fixed = ants.resample_image(nifti_to_ants(img), (3, 3, 3), False, 0)
    moving = ants.image_read(str(PYDEFACE / "mean_reg2mean.nii.gz"))
    reg = ants.registration(
        fixed,
        moving,
        "Affine",
        aff_metric="mattes",
        aff_iterations=(200, 100, 20),
        aff_shrink_factors=(4, 2, 1),
        aff_smoothing_sigmas=(2, 1, 0),
    )
    keep = (
        ants.apply_transforms(
            nifti_to_ants(img),
            ants.image_read(str(PYDEFACE / "facemask.nii.gz")),
            reg["fwdtransforms"],
            "nearestNeighbor",
        ).numpy()
        > 0.5
    )
    data = np.asanyarray(img.dataobj)
    defaced = np.where(keep, data, 0).astype(data.dtype)
    nib.save(nib.Nifti1Image(defaced, img.affine, img.header), str(out))
    return out


def run_one(original: str, defaced: str, brain: str, mode: str, resolution: float) -> dict:
    """One impact check (called in a child process): metrics, timings, peak memory."""
    from bids_deface.methods.impact.metrics import ImpactThresholds, evaluate_impact, impact_metrics

    start, cpu = time.perf_counter(), time.process_time()
    metrics = impact_metrics(
        nib.load(original),
        nib.load(defaced),
        template_head=nib.load(str(PYDEFACE / "mean_reg2mean.nii.gz")),
        template_brain_mask=nib.load(brain),
        mode=mode,
        resolution_mm=resolution,
    )
    ok, reasons = evaluate_impact(metrics, ImpactThresholds())
    return {
        "metrics": metrics,
        "passed": ok,
        "reasons": reasons,
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def find_pairs(heads: Path, defaced_dir: Path | None, work: Path) -> list[tuple[str, Path, Path]]:
    """(label, original, defaced) for every T1w under ``heads`` (or the pydeface head)."""
    originals = sorted(heads.rglob("*_T1w.nii.gz")) if heads.is_dir() else []
    if not originals:
        print(f"no T1w under {heads}: using the pydeface template", file=sys.stderr)
        originals = [PYDEFACE / "mean_reg2mean.nii.gz"]
    pairs = []
    for t1 in originals:
        label = t1.name.replace(".nii.gz", "")
        found = None
        if defaced_dir is not None:
            candidates = sorted(defaced_dir.rglob(label.replace("_T1w", "") + "*desc-defaced*_T1w.nii.gz"))
            found = candidates[0] if candidates else None
        pairs.append((label, t1, found or deface_with_pydeface_mask(t1, work / f"{label}_defaced.nii.gz")))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=Path, default=HEADS)
    parser.add_argument("--defaced-dir", type=Path)
    parser.add_argument("--modes", nargs="+", default=["fast", "full"], choices=["fast", "full"])
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--out", type=Path, help="write all results as JSON")
    parser.add_argument("--one", nargs=4, metavar=("ORIG", "DEFACED", "BRAIN", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*args.one, resolution=args.resolution)))
        return 0

    print(
        f"ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS={os.environ.get('ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS', '(unset)')}"
        f"  cores={os.cpu_count()}  load={os.getloadavg()[0]:.1f}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_impact_") as tmp:
        work = Path(tmp)
        brain = template_brain_mask(work)
        pairs = find_pairs(args.heads, args.defaced_dir, work)
        header = (
            f"{'image':<28} {'mode':<5} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} "
            f"{'dice':>6} {'iou csf/gm/wm':>17} {'disp mm':>8} {'dI':>5} pass"
        )
        print(header)
        for label, original, defaced in pairs:
            for mode in args.modes:
                child = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--resolution",
                        str(args.resolution),
                        "--one",
                        str(original),
                        str(defaced),
                        str(brain),
                        mode,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                res = json.loads(child.stdout.strip().splitlines()[-1])
                m = res["metrics"]
                res.update(image=label, mode=mode)
                results.append(res)
                print(
                    f"{label:<28} {mode:<5} {res['wall_s']:7.1f} {res['cpu_s']:7.1f} "
                    f"{res['peak_rss_mb']:8.0f} {m['brain_dice']:6.4f} "
                    f"{m['csf_iou']:5.3f}/{m['gm_iou']:5.3f}/{m['wm_iou']:5.3f} "
                    f"{m['displacement_mean_mm']:8.3f} {m['intensity_change_in_brain']:5.0f} "
                    f"{'yes' if res['passed'] else 'NO: ' + '; '.join(res['reasons'])}"
                )
                stages = {k: round(v, 2) for k, v in m.items() if k.startswith("time_")}
                print(f"    stages: {stages}")
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} (timings are inflated when > cores)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
