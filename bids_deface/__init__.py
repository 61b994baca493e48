"""bids_deface: deface structural MRI in BIDS datasets, and prove that it worked."""

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - source tree without a build
    __version__ = "0.1.0.dev0"

__all__ = ["__version__"]
