"""``python -m bids_deface``."""

import sys

from .cli.run import main

if __name__ == "__main__":
    sys.exit(main())
