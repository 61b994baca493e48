"""bids_deface.reports."""
