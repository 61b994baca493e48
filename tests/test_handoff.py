"""A step hands its half of a check to the next through a pickle in its own folder."""

from __future__ import annotations

import numpy as np
from nipype.interfaces.base import Undefined

from bids_deface.interfaces._handoff import hand_over, take_over


def test_an_object_handed_over_is_taken_over_whole(tmp_path):
    obj = {"mask": np.arange(6).reshape(2, 3) > 2, "seconds": 1.5}
    path = hand_over(obj, tmp_path, "half.pkl")
    assert path == str(tmp_path / "half.pkl")
    assert [p.name for p in tmp_path.iterdir()] == ["half.pkl"]  # no temporary file left beside it
    back = take_over(path)
    assert back["seconds"] == 1.5 and np.array_equal(back["mask"], obj["mask"])


def test_nothing_handed_over_is_none():
    assert take_over(Undefined) is None
