"""Frames through another camera (envs.views): the identity shift is the task camera; a moved
camera, other light and size change the picture; rendered goal images of a moved camera score a
larger camera mismatch than the task camera's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from envs_helpers import cached_env

from robot_rl.envs.collect import Component, collect_episode
from robot_rl.envs.views import ViewShift, success_frames, write_goal_images
from robot_rl.errors import UserError
from robot_rl.rewards.camera_check import camera_mismatch

MOVED = ViewShift(azimuth=20.0, elevation=-8.0, distance=1.15, headlight=1.6,
                  light_offset=(0.5, -0.5, 0.0), size=96)  # fmt: skip


def test_identity_shift_is_the_task_camera_and_a_moved_one_is_not() -> None:
    env = cached_env("zone", obs="pixels", image_size=64)
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    assert np.array_equal(base.render_pixels(64, ViewShift()), obs["pixels"])
    for shift in (
        ViewShift(azimuth=20.0),
        ViewShift(headlight=0.5),
        ViewShift(light_offset=(1, 0, 0)),
    ):
        assert not np.array_equal(base.render_pixels(64, shift), obs["pixels"]), shift
    assert np.array_equal(base.render_pixels(64), obs["pixels"])  # the model's lights unchanged


def test_goal_images_are_written_at_the_shift_size(tmp_path) -> None:
    paths = write_goal_images("zone", tmp_path, MOVED, 3, range(3000, 3003))
    assert len(paths) == 3 and cv2.imread(str(paths[0])).shape == (96, 96, 3)
    assert "azimuth +20 deg" in MOVED.describe() and "96 px" in MOVED.describe()


def test_moved_camera_goal_images_give_a_larger_mismatch() -> None:
    eps = [collect_episode("zone", "pixels", 64, Component("expert", 0.0, 1.0), s, False)
           for s in range(3)]  # fmt: skip
    frames = np.concatenate([e.obs["pixels"] for e in eps])
    episode_of = np.concatenate([np.full(e.length + 1, i) for i, e in enumerate(eps)])
    task = success_frames("zone", ViewShift(), 6, range(3000, 3003))
    moved = success_frames("zone", MOVED, 6, range(3000, 3003))
    moved = np.stack([cv2.resize(m, (64, 64), interpolation=cv2.INTER_AREA) for m in moved])
    assert camera_mismatch(task, frames, episode_of) < camera_mismatch(moved, frames, episode_of)


def test_view_shift_validation() -> None:
    with pytest.raises(UserError, match="field 'size'"):
        ViewShift(size=8).validate()
    with pytest.raises(UserError, match="'distance' > 0"):
        ViewShift(distance=0.0).validate()
