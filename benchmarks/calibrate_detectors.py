"""Calibrate the face detectors on the renders of real runs: hits on originals, false alarms on defaces.

Reads the PNG renders that every ``face_qa`` node leaves in nipype's work folder
(``original_yaw-*.png`` and ``defaced_yaw-*.png``), runs each detector on its own and
prints, per detector and confidence threshold, how many images had a face found on at
least one original view (sensitivity: the check can see) and how many defaced views
still had one (false alarms, when the deface is known to be correct):

    .venv/bin/python benchmarks/calibrate_detectors.py WORK_DIR [WORK_DIR ...]

``WORK_DIR``: the ``-w`` folder of a participant run (the shared heads, the demo).
Profile renders (yaw 90) are counted apart: the frontal detectors are not made for them.
Asserts nothing; the table goes to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from bids_deface.methods.qa.faces import available_detectors, detect_faces
from bids_deface.methods.qa.skin import faces_left, untouched_skin

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)
PROFILE = "yaw-090"


def renders(work_dirs: list[Path]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """image (the face_qa node's parent folder) -> role -> view -> picture."""
    found: dict = defaultdict(lambda: {"original": {}, "defaced": {}})
    for work in work_dirs:
        for png in sorted(work.rglob("face_qa/*_yaw-*.png")):
            role, view = png.stem.split("_", 1)
            found[png.parent.parent.name][role][view] = np.asarray(Image.open(png).convert("L"))
    return dict(found)


def confidences(pictures, detector: str) -> dict[str, dict[str, float]]:
    """role -> view -> best confidence of one detector; role ``skin``: of the faces left on untouched skin."""
    out: dict[str, dict[str, float]] = {"original": {}, "defaced": {}, "skin": {}}
    for view, original in pictures["original"].items():
        defaced = pictures["defaced"][view]
        dets = {role: detect_faces(p, (detector,)) for role, p in (("original", original), ("defaced", defaced))}
        for role, found in dets.items():
            out[role][view] = max((d.confidence for d in found), default=0.0)
        left = faces_left(dets["defaced"], untouched_skin(original, defaced))
        out["skin"][view] = max((d.confidence for d, _ in left), default=0.0)
    return out


def table(all_renders, detectors) -> list[str]:
    rows = [
        "| detector | threshold | images seen on an original (front to 45 deg) | original views hit "
        "| false alarms, defaced views (front to 45 deg) | false alarms, defaced profiles "
        "| false alarms on untouched skin (face_skin rule), all views |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for detector in detectors:
        scores = {image: confidences(pictures, detector) for image, pictures in all_renders.items()}
        for threshold in THRESHOLDS:
            seen = hits = views = alarms = n_def = profile_alarms = n_prof = skin_alarms = 0
            for per_role in scores.values():
                original = {v: c for v, c in per_role["original"].items() if v != PROFILE}
                seen += any(c >= threshold for c in original.values())
                hits += sum(c >= threshold for c in original.values())
                views += len(original)
                for view, c in per_role["defaced"].items():
                    if view == PROFILE:
                        n_prof += 1
                        profile_alarms += c >= threshold
                    else:
                        n_def += 1
                        alarms += c >= threshold
                skin_alarms += sum(c >= threshold for c in per_role["skin"].values())
            rows.append(
                f"| {detector} | {threshold:g} | {seen}/{len(scores)} | {hits}/{views} | {alarms}/{n_def} "
                f"| {profile_alarms}/{n_prof} | {skin_alarms}/{n_def + n_prof} |"
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    found = renders(args.work_dirs)
    if not found:
        print("no face_qa renders found under", *args.work_dirs, file=sys.stderr)
        return 1
    print(f"{len(found)} image(s): {', '.join(sorted(found))}")
    print("\n".join(table(found, available_detectors())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
