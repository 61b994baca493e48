"""Time and memory of the QA science: head renders, face detection, descriptors.

    python benchmarks/bench_qa.py                      # ../shared/data/heads, else the pydeface template
    python benchmarks/bench_qa.py IMAGE.nii.gz ...     # any images
    python benchmarks/bench_qa.py --png /tmp/qa         # also write the renders

Prints, per image: head mask + surface preparation time, render time per view, detection
time per view and detector, the best confidence per view and detector (a face must be
found on every view of a whole, original face), the descriptor time, and the process's
peak memory (max RSS from getrusage) at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bids_deface.methods.qa import (  # noqa: E402 - after the sys.path line
    faces,
    reid,
    render,  # noqa: E402
)


def _images(args: list[str]) -> list[Path]:
    if args:
        return [Path(a) for a in args]
    heads = ROOT.parent / "shared" / "data" / "heads"
    found = sorted(heads.glob("sub-*/**/anat/*.nii.gz"))
    if found:
        return found
    import pydeface

    return [Path(pydeface.__file__).parent / "data" / "mean_reg2mean.nii.gz"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_image(path: Path, detectors: tuple[str, ...], png: Path | None) -> dict:
    img = nib.load(path)
    t0 = time.perf_counter()
    surface = render.surface_volume(img)
    t_prep = time.perf_counter() - t0
    rows, found = [], 0
    for name, yaw in render.VIEWS.items():
        t0 = time.perf_counter()
        pic = render._render(surface, img.affine, yaw, 0.0, None, 512, None, None)
        t_render = time.perf_counter() - t0
        per_det = {}
        for det in detectors:
            t0 = time.perf_counter()
            dets = faces.detect_faces(pic, (det,), landmarks=False)
            per_det[det] = (time.perf_counter() - t0, faces.max_confidence(dets))
        found += any(c > 0 for _, c in per_det.values())
        rows.append((name, t_render, per_det))
        if png is not None:
            from PIL import Image

            Image.fromarray(pic).save(png / f"{path.name.split('.')[0]}_{name}.png")
    t0 = time.perf_counter()
    reid.descriptor(pic)
    t_desc = time.perf_counter() - t0
    print(f"\n{path.name}  shape {img.shape}  zooms {tuple(round(float(z), 2) for z in img.header.get_zooms()[:3])}")
    print(f"  head mask + surface volume: {t_prep:.2f} s")
    header = "  view      render_s  " + "  ".join(f"{d}_s  {d}_conf" for d in detectors)
    print(header)
    for name, t_render, per_det in rows:
        cells = "  ".join(f"{per_det[d][0]:{len(d) + 2}.2f}  {per_det[d][1]:{len(d) + 5}.2f}" for d in detectors)
        print(f"  {name:<9} {t_render:8.2f}  {cells}")
    print(
        f"  face found (any detector) in {found}/{len(rows)} views; descriptor {t_desc:.2f} s; "
        f"peak RSS so far {_peak_mb():.0f} MB"
    )
    return {"prep": t_prep, "render": [r[1] for r in rows], "found": found}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*")
    parser.add_argument("--png", type=Path, help="write the renders to this folder")
    parser.add_argument("--detectors", nargs="+", default=list(faces.available_detectors()))
    opts = parser.parse_args(argv)
    if opts.png:
        opts.png.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = [bench_image(p, tuple(opts.detectors), opts.png) for p in _images(opts.images)]
    renders = np.concatenate([r["render"] for r in results])
    print(
        f"\n{len(results)} images: mean render {renders.mean():.2f} s/view, "
        f"mean preparation {np.mean([r['prep'] for r in results]):.2f} s/image, "
        f"total {time.perf_counter() - t0:.1f} s, peak RSS {_peak_mb():.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
