"""The science: pure functions on arrays and nibabel images, one room per stage.

Nothing in this package imports nipype, reads the configuration or writes outside the
paths it is given. Interfaces in :mod:`bids_deface.interfaces` wrap these functions.

Rooms (each may import the shared modules below, never another room, except ``qa``
and ``impact`` reading what ``deface`` produced through its public functions):

``deface``
    template registration, face/ear removal masks, their application (remove or reface).
``qa``
    head renders, face detection, facial-feature and re-identification checks.
``impact``
    what defacing does to downstream processing (brain extraction, segmentation,
    registration, FreeSurfer).
``metadata``
    scrubbing policy for sidecars, headers, tables and free text; the release copy.

Shared by all rooms: ``io`` (loading, checking and writing NIfTI atomically),
``volume`` (float volumes, intensity thresholds), ``overlap`` (Dice and friends),
``errors`` (the exceptions that become ``error`` records) and ``record`` (the verdict
of one image).
"""
