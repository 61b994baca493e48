"""Sphinx configuration of the bids_deface documentation (``make docs``)."""

from __future__ import annotations

import datetime

from bids_deface import __version__

project = "bids_deface"
author = "The bids_deface developers"
copyright = f"{datetime.date.today().year}, {author}"  # noqa: A001 (Sphinx's name)
version = release = __version__

extensions = [
    "myst_parser",  # docs/scrubbing.md
    "sphinx.ext.intersphinx",
    "sphinxarg.ext",  # the CLI reference, generated from bids_deface.cli.parser.build_parser
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3
intersphinx_mapping = {}  # no network while building
nitpicky = False

html_theme = "alabaster"
html_title = f"bids_deface {__version__}"
html_theme_options = {"description": "Deface structural MRI, and prove it worked", "fixed_sidebar": True}
