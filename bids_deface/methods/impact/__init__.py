"""Impact of defacing on downstream processing.

``metrics`` runs the same small antspyx pipeline (N4, template registration, brain
extraction, tissue segmentation) on the original and the defaced image and compares
them; ``freesurfer`` does the same with recon-all where FreeSurfer is installed.

May import the shared modules of :mod:`bids_deface.methods` only.
"""
