"""Impact of defacing on downstream processing.

``pipeline`` is a small antspyx structural pipeline (N4, template registration, brain
extraction, tissue segmentation) run identically on the original and the defaced image;
``metrics`` compares the two runs and checks the comparison; ``freesurfer`` does the same
with recon-all's outputs where FreeSurfer is installed.

May import the shared modules of :mod:`bids_deface.methods` only.
"""
