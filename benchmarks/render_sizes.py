"""Face detection on head renders at several sizes: hits on originals, detections on defaces, cost.

    python benchmarks/render_sizes.py 512,384,320 ORIGINAL DEFACED [ORIGINAL DEFACED ...]

ORIGINAL, DEFACED: an image and its defaced copy (e.g. the ``deface`` node's output in a
participant run's work folder). Every QA view of both is rendered at each size and run
through each detector on its own; prints per size the mean seconds per picture of each
detector, the original views each detector hits (confidence >= 0.5), the views with a face
per image, and any face left on untouched skin. Asserts nothing: the renders' size may only
shrink where no original view is lost.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_deface.methods.qa.check import FOUND, QA_VIEWS
from bids_deface.methods.qa.faces import DETECTORS, detect_faces
from bids_deface.methods.qa.render import _render, surface_volume, view_axes, view_frame
from bids_deface.methods.qa.skin import faces_left, untouched_skin


def main(argv: list[str]) -> int:
    sizes = [int(s) for s in argv[0].split(",")]
    best, seconds = {}, {}
    for original_path, defaced_path in zip(argv[1::2], argv[2::2]):
        original, defaced = nib.load(original_path), nib.load(defaced_path)
        name = Path(original_path).name
        surfaces = {"original": surface_volume(original), "defaced": surface_volume(defaced)}
        for view, yaw in QA_VIEWS.items():
            toward, right, up = view_axes(yaw, 0.0, None)
            centre, fov = view_frame(surfaces["original"].points, toward, right, up)
            for size in sizes:
                pictures = {
                    role: _render(surface, original.affine, yaw, 0.0, None, size, centre, fov)
                    for role, surface in surfaces.items()
                }
                found = {role: [] for role in pictures}
                for role, picture in pictures.items():
                    for detector in DETECTORS:
                        start = time.perf_counter()
                        dets = detect_faces(picture, (detector,))
                        seconds.setdefault((size, detector), []).append(time.perf_counter() - start)
                        best[name, view, size, role, detector] = max((d.confidence for d in dets), default=0.0)
                        found[role] += dets
                kept = untouched_skin(pictures["original"], pictures["defaced"])
                left = faces_left([d for d in found["defaced"] if d.confidence >= FOUND], kept)
                best[name, view, size, "skin", "all"] = max((d.confidence for d, _ in left), default=0.0)
        print(f"{name} done", flush=True)
    for size in sizes:
        print(f"size {size}: " + ", ".join(f"{d} {np.mean(seconds[size, d]):.3f} s" for d in DETECTORS))
        for detector in DETECTORS:
            hits = {
                (n, v)
                for (n, v, s, r, d), c in best.items()
                if (s, r, d) == (size, "original", detector) and c >= FOUND
            }
            print(f"   {detector}: {len(hits)} original views, {len({n for n, _ in hits})} images")
        views: dict[str, set] = {}
        for (n, v, s, r, _), c in best.items():
            if s == size and r == "original" and c >= FOUND:
                views.setdefault(n, set()).add(v)
        print("   original views with a face, per image:", {n: len(v) for n, v in sorted(views.items())})
        skin = [(n, v, round(c, 3)) for (n, v, s, r, _), c in best.items() if s == size and r == "skin" and c > 0]
        print("   faces on untouched skin:", skin or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
