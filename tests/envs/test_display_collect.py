"""collect display_size=: display frames beside the episodes, the training frames unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robot_rl.data import Dataset, check_dataset
from robot_rl.data.display import display_path, read_display
from robot_rl.data.format import load_npz
from robot_rl.envs.collect import collect
from robot_rl.errors import UserError


def test_display_frames_leave_the_training_episode_unchanged(tmp_path) -> None:
    plain, sharp = tmp_path / "plain", tmp_path / "sharp"
    collect("zone", plain, 2, obs="pixels", image_size=64, progress=False)
    collect("zone", sharp, 2, obs="pixels", image_size=64, progress=False, display_size=128)
    assert not (plain / "display").exists()
    assert json.loads((plain / "meta.json").read_text()) == json.loads(
        (sharp / "meta.json").read_text()
    )
    for i in (0, 1):
        a, b = load_npz(Dataset(plain).path(i)), load_npz(Dataset(sharp).path(i))
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
        frames = read_display(display_path(sharp, i), Dataset(sharp).episode_length(i) + 1)
        assert frames.size == 128 and len(frames) == len(a["obs.pixels"])
    assert check_dataset(sharp) == []


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"display_size": 64}, "larger than image_size=64"),
        ({"display_size": 32}, "larger than image_size=64"),
        ({"display_size": 1000}, "at most 480"),
        ({"display_size": -5}, "must be 0"),
        ({"display_size": 256, "obs": "state"}, "needs obs=pixels"),
    ],
)
def test_bad_display_size_is_one_line_before_any_work(tmp_path, kw, match) -> None:
    args = {"obs": "pixels", "image_size": 64, "progress": False, **kw}
    with pytest.raises(UserError, match=match) as e:
        collect("zone", tmp_path / "d", 1, **args)
    assert "\n" not in str(e.value) and "display_size=" in str(e.value)
    assert not (tmp_path / "d").exists()
