"""Deface time per image (registration, masks, removal, write) and peak memory.

    python benchmarks/bench_deface.py [BIDS_DIR]     (default ../shared/data/heads, else the demo)

Measures the science without nipype: what one image costs on this machine. Target:
<= 10 s wall for a 1 mm T1w on 2 cores (pydeface 2-10 min, mri_deface ~4 min).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "2")


def main(argv=None) -> int:

    from bids_deface.interfaces.deface import load_template
    from bids_deface.methods.deface.masks import image_masks
    from bids_deface.methods.deface.register import register_rigid, register_to_template
    from bids_deface.methods.deface.removal import apply_removal
    from bids_deface.methods.io import load_image, write_raw

    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "shared" / "data" / "heads"
    if not root.is_dir():
        from bids_deface.data.demo import make_demo_dataset

        root = make_demo_dataset(Path(tempfile.mkdtemp()) / "demo")
    _, head, masks = load_template("pydeface")
    out = Path(tempfile.mkdtemp(prefix="bench_deface_"))
    print(f"dataset {root}; ITK threads {os.environ['ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS']}\n")
    print(
        f"{'image':<36}{'shape':>16}{'load':>7}{'reg':>7}{'coreg':>7}{'masks':>7}{'apply':>7}{'write':>7}{'total':>8}"
    )
    references: dict[Path, tuple] = {}
    for path in sorted(root.glob("sub-*/**/anat/*.nii*")):
        t0 = time.perf_counter()
        img = load_image(path)
        t1 = time.perf_counter()
        session = path.parent
        coreg = 0.0
        if session in references:
            ref_img, matrix = references[session]
            c0 = time.perf_counter()
            matrix = matrix @ register_rigid(img, ref_img)
            coreg = time.perf_counter() - c0
            reg = 0.0
        else:
            reg_result = register_to_template(img, head, source=path)
            matrix = reg_result.image_to_template
            references[session] = (img, matrix)
            reg = time.perf_counter() - t1
        t2 = time.perf_counter()
        result = image_masks(img, masks, matrix)
        t3 = time.perf_counter()
        defaced = apply_removal(img, result.removal)
        t4 = time.perf_counter()
        write_raw(out / path.name, defaced.header, defaced.raw)
        t5 = time.perf_counter()
        print(
            f"{path.name:<36}{'x'.join(map(str, img.shape)):>16}{t1 - t0:>7.1f}{reg:>7.1f}{coreg:>7.1f}"
            f"{t3 - t2:>7.1f}{t4 - t3:>7.1f}{t5 - t4:>7.1f}{t5 - t0:>8.1f}",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
