"""Brain extraction and tissue classes of the impact check's structural mini-pipeline.

Steps 4 and 5 of :mod:`bids_deface.methods.impact.pipeline`: the template brain mask
carried onto the image, refined; three tissue classes inside it, named by their intensity
order for the contrast.
"""

from __future__ import annotations

import numpy as np

from ..volume import fill_all_but_largest_background

#: Order of the three tissue classes (darkest first) per contrast.
TISSUE_ORDER: dict[str, tuple[str, str, str]] = {
    "T1w": ("csf", "gm", "wm"),
    "T2w": ("wm", "gm", "csf"),
    "PDw": ("wm", "gm", "csf"),
    "FLAIR": ("csf", "wm", "gm"),
}


def brain_mask(image, warped_brain) -> np.ndarray:
    """Refine a template brain mask carried onto ``image`` (both ANTs images).

    Voxels of the warped mask (probability > 0.5) darker than 10 % of the 98th
    percentile of intensities inside it are dropped; the largest connected component is
    kept and its holes filled.
    """
    import ants

    carried = warped_brain.numpy() > 0.5
    if not carried.any():
        raise RuntimeError("the template brain mask maps outside the image")
    values = image.numpy()
    threshold = 0.1 * float(np.percentile(values[carried], 98))
    refined = image.new_image_like((carried & (values > threshold)).astype(np.float32))
    refined = ants.iMath(refined, "GetLargestComponent")
    return fill_all_but_largest_background(refined.numpy() > 0.5)


def kmeans_1d(values: np.ndarray, k: int = 3, max_iter: int = 100) -> np.ndarray:
    """Deterministic 1D k-means (Lloyd) of intensities; labels 0..k-1, darkest first.

    Centres start at the quantiles ``(2i + 1) / 2k`` of the values, so the result depends
    on the data only (no random initialisation).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < k:
        raise ValueError(f"k-means needs at least {k} values; got {values.size}")
    centres = np.quantile(values, (2 * np.arange(k) + 1) / (2 * k))
    labels = np.zeros(values.size, dtype=np.int16)
    for _ in range(max_iter):
        bounds = (centres[1:] + centres[:-1]) / 2  # centres stay sorted
        labels = np.searchsorted(bounds, values).astype(np.int16)
        new = np.array([values[labels == j].mean() if np.any(labels == j) else centres[j] for j in range(k)])
        if np.allclose(new, centres, rtol=0, atol=1e-9):
            break
        centres = new
    return labels


def segment(image, brain: np.ndarray, contrast: str, mode: str) -> dict[str, np.ndarray]:
    """Three tissue classes inside ``brain``, named by intensity order for ``contrast``.

    "fast": deterministic 1D k-means of the intensities; "full": Atropos (k-means
    initialisation, MRF smoothing 0.1, constant random seed ``-r 0``).
    """
    import ants

    labels = np.zeros(brain.shape, dtype=np.int16)
    if mode == "full":
        mask = image.new_image_like(brain.astype(np.float32))
        result = ants.atropos(a=image, x=mask, i="Kmeans[3]", m="[0.1,1x1x1]", c="[3,0]", r=0)
        labels = result["segmentation"].numpy().round().astype(np.int16)
    else:
        labels[brain] = kmeans_1d(image.numpy()[brain], 3) + 1
    names = TISSUE_ORDER[contrast]
    return {name: labels == index + 1 for index, name in enumerate(names)}
