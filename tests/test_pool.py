"""The local scheduler: which ready steps start first."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import sparse

from bids_deface.cli.pool import EXPECTED_S, MultiProcPlugin, critical_paths

#: One session of two images (sub-chris): the T1w is the reference, the PDw is co-registered.
STEPS = [
    "register_template",  # 0
    "independent_brain",  # 1
    "coregister",  # 2 (PDw)
    "look_at_original",  # 3 (T1w)
    "look_at_original",  # 4 (PDw)
    "deface",  # 5 (T1w)
    "deface",  # 6 (PDw)
    "face_qa",  # 7 (T1w)
    "face_qa",  # 8 (PDw)
    "ds_defaced",  # 9 (T1w), a step not listed
]
EDGES = [(0, 5), (1, 5), (0, 6), (1, 6), (2, 6), (3, 7), (5, 7), (4, 8), (6, 8), (5, 9)]


def _plugin() -> MultiProcPlugin:
    plugin = MultiProcPlugin.__new__(MultiProcPlugin)  # no pool: only the ordering is asked
    plugin.procs = [SimpleNamespace(name=name) for name in STEPS]
    refidx = sparse.lil_matrix((len(STEPS), len(STEPS)), dtype=int)
    for a, b in EDGES:
        refidx[a, b] = 1
    plugin.refidx = refidx
    return plugin


def test_critical_paths_add_the_longest_chain_below_each_step():
    successors = [[b for a, b in EDGES if a == i] for i in range(len(STEPS))]
    remaining = critical_paths(_plugin().procs, successors)
    assert remaining[7] == EXPECTED_S["face_qa"] + 0.0
    assert remaining[5] == EXPECTED_S["deface"] + EXPECTED_S["face_qa"]
    assert remaining[0] == EXPECTED_S["register_template"] + remaining[5]
    assert remaining[9] == 0.1 + 0.0  # a step not listed


def test_the_longest_chains_start_first():
    plugin = _plugin()
    ready = np.array([0, 1, 2, 3, 4])  # at the start of the run
    order = [STEPS[j] for j in plugin._sort_jobs(ready)]
    assert order[0] == "register_template"
    assert order.index("coregister") < order.index("look_at_original")
    # once the registration is running, a render of the original still waits for the brain core
    assert list(plugin._sort_jobs(np.array([1, 3, 4])))[0] == 1


def test_a_process_whose_named_parent_is_gone_ends_at_once():
    """A worker still starting when the run was killed: its parent is not the one it was forked by."""
    import subprocess
    import sys

    code = "from bids_deface.cli.deathsig import die_with_parent; die_with_parent({}); print('alive')"
    gone = subprocess.run([sys.executable, "-c", code.format(2**22 + 7)], capture_output=True, text=True, check=False)
    assert gone.returncode == 1 and "alive" not in gone.stdout
    here = subprocess.run([sys.executable, "-c", code.format("None")], capture_output=True, text=True, check=False)
    assert here.returncode == 0 and "alive" in here.stdout
