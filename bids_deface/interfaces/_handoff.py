"""What one step hands the next: a Python object pickled in the first step's folder.

The original's half of a check (its renders and detections, its impact run) is made by one
step and finished by another, perhaps in another process or on another machine of a cluster.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from nipype.interfaces.base import isdefined


def hand_over(obj, folder: str | os.PathLike, name: str) -> str:
    """Pickle ``obj`` to ``folder/name`` atomically; the path, for the step's output."""
    from ..methods.io import atomic_path

    out = Path(folder) / name
    with atomic_path(out) as tmp:
        tmp.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    return str(out)


def take_over(path):
    """The object :func:`hand_over` wrote at ``path``, or None when the input is undefined."""
    return pickle.loads(Path(path).read_bytes()) if isdefined(path) else None
