"""The science: pure functions on arrays and nibabel images.

Nothing in this package imports nipype, reads the configuration or writes outside the
paths it is given. Interfaces in :mod:`bids_deface.interfaces` wrap these functions.
"""
