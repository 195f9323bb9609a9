"""Gymnasium API conformance, seeding and the pixel observations of every task."""

from __future__ import annotations

import warnings

import mujoco
import numpy as np
import pytest
from envs_helpers import blue_pixels, cached_env, green_pixels, red_pixels
from gymnasium.utils.env_checker import check_env

from robot_rl.envs import list_tasks, make_env
from robot_rl.errors import UserError

TASKS = list_tasks()


def _check(env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings
        # unbounded state vectors are deliberate (positions, velocities), as in Fetch itself
        warnings.filterwarnings("ignore", message=".*infinity.*")
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("obs", ["state", "pixels"])
@pytest.mark.parametrize("task", TASKS)
def test_check_env_passes(task: str, obs: str) -> None:
    _check(cached_env(task, obs))


def test_check_env_passes_with_both_observations() -> None:
    env = cached_env("push", "both")
    _check(env)
    assert set(env.observation_space.spaces) == {"state", "proprio", "pixels"}


def test_bad_arguments_are_user_errors() -> None:
    with pytest.raises(UserError, match="obs="):
        make_env("push", obs="depth")
    with pytest.raises(UserError, match="image_size"):
        make_env("push", obs="pixels", image_size=4)
    with pytest.raises(UserError, match="unknown task"):
        make_env("pusj")


# -- seeding --------------------------------------------------------------------------------
def _rollout(env, seed: int, actions: np.ndarray) -> list[dict[str, np.ndarray]]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, *_ = env.step(a)
        out.append(obs)
    return out


@pytest.mark.parametrize("obs", ["state", "pixels"])
@pytest.mark.parametrize("task", ["push", "slide", "drawer"])
def test_same_seed_same_trajectory(task: str, obs: str) -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, (15, 4)).astype(np.float32)
    env = cached_env(task, obs)
    a = _rollout(env, 7, actions)
    _rollout(env, 8, actions)  # something else in between: no state may leak across resets
    b = _rollout(cached_env(task, obs, max_episode_steps=60), 7, actions)  # a second instance
    for oa, ob in zip(a, b, strict=True):
        for k in oa:
            np.testing.assert_array_equal(oa[k], ob[k], err_msg=f"{task} {obs} {k}")


@pytest.mark.parametrize("task", TASKS)
def test_different_seeds_different_initial_states(task: str) -> None:
    env = cached_env(task, "state")
    starts = [env.reset(seed=s)[0]["state"] for s in range(4)]
    for i in range(1, 4):
        assert not np.array_equal(starts[0], starts[i]), f"{task}: seeds 0 and {i} start alike"


@pytest.mark.parametrize("obs", ["state", "pixels"])
def test_same_seed_same_initial_obs_for_every_task(obs: str) -> None:
    for task in TASKS:
        env = cached_env(task, obs)
        first = env.reset(seed=3)[0]
        env.reset(seed=4)
        again = env.reset(seed=3)[0]
        for k in first:
            np.testing.assert_array_equal(first[k], again[k], err_msg=f"{task} {k}")


# -- pixels ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 48])
def test_pixels_shape_and_dtype(size: int) -> None:
    env = cached_env("pick_and_place", "pixels", image_size=size)
    obs, _ = env.reset(seed=0)
    assert obs["pixels"].shape == (size, size, 3) and obs["pixels"].dtype == np.uint8
    assert env.observation_space["pixels"].shape == (size, size, 3)
    assert obs["proprio"].dtype == np.float32
    obs, *_ = env.step(env.action_space.sample())
    assert obs["pixels"].shape == (size, size, 3)
    assert obs["pixels"].std() > 5  # a real picture, not a blank frame


def _block_onto_goal(env, offset: float = 0.0) -> None:
    """Teleport the object so the achieved goal equals the goal (plus an xy offset)."""
    u = env.unwrapped
    adr = u.model.jnt_qposadr[u.model.joint("object0:joint").id]
    u.data.qpos[adr : adr + 3] = u.sim.goal
    u.data.qpos[adr : adr + 2] += offset
    mujoco.mj_forward(u.model, u.data)


OBJECT_TASKS = ["push", "pick_and_place", "slide", "zone", "zone_random"]
SEEDS = (0, 2)  # goals the camera sees unoccluded at reset


@pytest.mark.parametrize("task", OBJECT_TASKS)
def test_goal_sphere_is_invisible_and_marker_visible(task: str) -> None:
    env = cached_env(task, "pixels", image_size=64)
    u = env.unwrapped
    marker = blue_pixels if u.info.pixel_success_only else green_pixels
    for seed in SEEDS:
        env.reset(seed=seed)
        _block_onto_goal(env)
        assert u._progress()[0], "teleporting the block onto the goal must count as success"
        img = u.render_pixels(64)
        assert red_pixels(img) == 0, f"{task} seed {seed}: red goal sphere visible at success"
        assert marker(img) > 0, f"{task} seed {seed}: the flat goal marker is not visible"
        _block_onto_goal(env, offset=0.1)
        assert red_pixels(u.render_pixels(64)) == 0, f"{task} seed {seed}: red sphere visible"


@pytest.mark.parametrize("task", ["push", "reach"])
def test_red_detector_fires_when_the_sphere_is_shown(task: str) -> None:
    """Control for the test above: with the site's alpha at 1 the detector must see it."""
    env = make_env(task, obs="pixels", image_size=64)  # own instance: the model gets edited
    u = env.unwrapped
    site = u.model.site("target0").id
    u.model.site_rgba[site, 3] = 1.0
    seen = 0
    for seed in SEEDS:
        env.reset(seed=seed)
        if task != "reach":
            _block_onto_goal(env, offset=0.1)  # at the goal the block would hide the sphere
        u.sim._render_callback()  # Fetch moves its goal site only here
        mujoco.mj_forward(u.model, u.data)
        seen += red_pixels(u.render_pixels(64)) > 0
    env.close()
    assert seen == len(SEEDS)


def test_push_marker_moves_with_the_goal() -> None:
    env = cached_env("push", "pixels", image_size=64)
    env.reset(seed=0)
    a = env.unwrapped.render_pixels(64)
    env.reset(seed=2)
    b = env.unwrapped.render_pixels(64)
    ga, gb = (np.argwhere((x[..., 1] > 120) & (x[..., 0] < 100)).mean(0) for x in (a, b))
    assert np.abs(ga - gb).max() > 2  # the disc is drawn where each episode's goal is


@pytest.mark.parametrize("task", TASKS)
def test_fast_observation_equals_fetch_own(task: str) -> None:
    """The env builds Fetch's observation from cached ids; it must match Fetch's `_get_obs`."""
    env = cached_env(task, "state")
    env.reset(seed=5)
    for a in np.random.default_rng(1).uniform(-1, 1, (8, 4)):
        env.step(a)
        ours, theirs = env.unwrapped.fetch_obs(), env.unwrapped.sim._get_obs()
        for k in ("observation", "achieved_goal", "desired_goal"):
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-7, atol=1e-10, err_msg=k)


def test_hidden_robot_parts_change_no_pixel_of_the_task_cameras() -> None:
    """Parts hidden from the renderer for speed must be out of view (a control shows them)."""
    env = make_env("push", obs="pixels", image_size=64)  # own instance: the model gets edited
    u = env.unwrapped
    env.reset(seed=0)
    hidden = u.model.geom_group == 5
    assert hidden.sum() > 0
    a = u.render_pixels(64)
    u.model.geom_group[hidden] = 0
    b = u.render_pixels(64)
    base = u.model.geom_bodyid == u.model.body("robot0:base_link").id
    u.model.geom_group[base] = 5  # control: hiding a part in view does change pixels
    c = u.render_pixels(64)
    env.close()
    assert int((a != b).any(-1).sum()) <= 2
    assert int((b != c).any(-1).sum()) > 20
