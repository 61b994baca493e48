"""bids_deface.interfaces."""
