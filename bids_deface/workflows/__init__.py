"""bids_deface.workflows."""
