"""The local scheduler: which ready steps start first."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from bids_deface.cli.pool import FIRST, MultiProcPlugin


def _plugin(names: list[str]) -> MultiProcPlugin:
    plugin = MultiProcPlugin.__new__(MultiProcPlugin)  # no pool: only the ordering is asked
    plugin.procs = [SimpleNamespace(name=name) for name in names]
    return plugin


def test_the_chain_every_image_waits_on_starts_first():
    names = ["look_at_original", "look_at_original", "flicker_rpt", "coregister", "independent_brain", "deface"]
    order = _plugin(names)._sort_jobs(np.arange(len(names)))
    assert [names[j] for j in order] == [
        "independent_brain",
        "coregister",
        "deface",
        "look_at_original",
        "look_at_original",
        "flicker_rpt",
    ]
    assert list(order[-3:]) == [0, 1, 2]  # the others keep the graph's order


def test_first_lists_the_registrations_before_what_needs_them():
    assert FIRST.index("register_template") < FIRST.index("deface") < FIRST.index("impact")
    assert FIRST.index("independent_brain") < FIRST.index("coregister")  # every deface needs the brain core
