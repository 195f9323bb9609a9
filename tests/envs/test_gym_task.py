"""task=gym:<id>: a registered Gymnasium env with robot_rl's keys, actions and success."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from robot_rl.envs import make_env
from robot_rl.errors import UserError

pytest.importorskip("gymnasium_robotics")


def test_fetch_goal_dict_becomes_state_and_success_is_the_envs() -> None:
    env = make_env("gym:FetchPush-v4", seed=0)
    try:
        assert set(env.observation_space.spaces) == {"state", "achieved_goal"}
        assert env.action_space.low.min() == -1.0 and env.action_space.high.max() == 1.0
        obs, _ = env.reset(seed=3)
        inner = env.unwrapped._get_obs()  # Fetch's own dictionary for the same state
        np.testing.assert_allclose(obs["state"][:25], inner["observation"], atol=1e-6)
        np.testing.assert_allclose(obs["state"][25:], inner["desired_goal"], atol=1e-6)
        steps, truncated = 0, False
        while not truncated:
            obs, reward, terminated, truncated, info = env.step(np.zeros(4, np.float32))
            steps += 1
            assert not terminated and info["success"] == bool(info["is_success"])
            assert reward == (0.0 if info["success"] else -1.0)
        assert steps == 50  # the env's own time limit
    finally:
        env.close()


class _Unbounded(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (3,))
    action_space = gym.spaces.Box(-np.inf, np.inf, (2,))


class _Grid(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (4, 4))
    action_space = gym.spaces.Box(-1, 1, (2,))


@pytest.fixture(scope="module", autouse=True)
def _registered():
    for name, cls in (("Unbounded", _Unbounded), ("Grid", _Grid)):
        gym.register(f"robot_rl_test/{name}-v0", entry_point=cls, max_episode_steps=5)
    yield
    for name in ("Unbounded", "Grid"):
        gym.registry.pop(f"robot_rl_test/{name}-v0", None)


@pytest.mark.parametrize(
    "task, obs, match",
    [
        ("gym:NoSuchEnv-v0", "state", "'NoSuchEnv-v0' is not a registered Gymnasium environment"),
        ("gym:robot_rl_test/Unbounded-v0", "state", "robot_rl needs a bounded Box"),
        ("gym:robot_rl_test/Grid-v0", "state", "neither a vector nor a GoalEnv dictionary"),
        ("gym:FetchPush-v4", "pixels", "Gymnasium tasks give obs=state"),
    ],
)
def test_bad_gym_tasks_are_one_line_errors(task: str, obs: str, match: str) -> None:
    with pytest.raises(UserError, match=match) as e:
        make_env(task, obs=obs)
    assert "\n" not in str(e.value)
