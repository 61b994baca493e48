"""bids_deface.cli."""
