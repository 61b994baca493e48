"""Keep TemplateFlow offline and cheap unless the user chose a TemplateFlow home.

niworkflows asks TemplateFlow for its template list when imported; TemplateFlow then
populates ``~/.cache/templateflow`` with a skeleton of every template and indexes it
with pybids, which costs 10-30 s per process and would download on first use.
bids_deface's own template ships in the ``pydeface`` wheel, so unless the user has set
``TEMPLATEFLOW_HOME`` (a populated TemplateFlow they want used), TemplateFlow gets a
tiny local home of its own.
"""

from __future__ import annotations

import os
from pathlib import Path


def isolate_templateflow() -> str:
    """Set ``TEMPLATEFLOW_HOME`` to a stub folder if the user has not set it; return it."""
    if os.environ.get("TEMPLATEFLOW_HOME"):
        return os.environ["TEMPLATEFLOW_HOME"]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    stub = cache / "bids_deface" / "templateflow-stub"
    try:
        stub.mkdir(parents=True, exist_ok=True)
        readme = stub / "README"
        if not readme.exists():
            readme.write_text("Empty TemplateFlow home used by bids_deface; set TEMPLATEFLOW_HOME to use yours.\n")
    except OSError:  # read-only home (containers): a temporary folder does as well
        import tempfile

        stub = Path(tempfile.mkdtemp(prefix="bids_deface_tf_"))
        (stub / "README").write_text("Empty TemplateFlow home used by bids_deface.\n")
    os.environ["TEMPLATEFLOW_HOME"] = str(stub)
    os.environ.setdefault("TEMPLATEFLOW_AUTOUPDATE", "0")
    return str(stub)
