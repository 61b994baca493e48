"""bids_deface.data."""
