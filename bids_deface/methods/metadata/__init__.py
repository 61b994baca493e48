"""Metadata and release: what identifies a person outside the voxels, and the shareable copy.

This room owns the scrubbing policy (``policy``: levels, the field and column tables in
``bids_deface/data``, the BIDS schema terms in ``schema``), its application to JSON
sidecars (``sidecar``), NIfTI headers and gzip headers (``nifti``), TSV tables
(``tabular``) and free text (``freetext``, ``dates``), the release copy of a dataset
(``release``) and the search of a release for what was removed (``leftovers``).

It imports nothing of the other rooms of :mod:`bids_deface.methods` except the shared
NIfTI writers of :mod:`bids_deface.methods.io`; functions report field names and
file paths, never the identifying values themselves.
"""
