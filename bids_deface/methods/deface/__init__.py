"""Defacing: one template registration per session, removal masks, their application.

``register`` finds the template-to-image transform (ANTs, seeded) and judges it;
``masks`` carries the template's face, ear and brain masks to the image grid;
``shear`` is pydeface's face-plane cut in the template frame; ``removal`` applies a
mask to the stored voxels (keeping dtype and scaling); ``reface`` fills the removed
region with the template's face instead of zeros.

May import the shared modules of :mod:`bids_deface.methods` only.
"""
