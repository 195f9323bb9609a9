"""A tiny Minari dataset shaped like Minari's DataCollector over FetchPush-v4 (GoalEnv
dictionary observations, Fetch's -1/0 reward, no infos, no termination, the env recorded),
built from buffers: DataCollector itself needs jax, which the project does not depend on."""

from __future__ import annotations

import warnings

import numpy as np

THRESHOLD = 0.05  # Fetch's distance_threshold


def fetch_like_episode(i: int, rng: np.random.Generator, n: int, succeed: bool, infos: bool):
    from minari.data_collector import EpisodeBuffer

    goal = rng.uniform(-0.1, 0.1, 3) + [1.3, 0.75, 0.42]
    start = goal + [0.2, 0.0, 0.0]
    end = goal if succeed else start
    achieved = np.linspace(start, end, n + 1)  # reaches the goal on the last step only
    obs = {
        "observation": np.concatenate([rng.normal(size=(n + 1, 3)), achieved,
                                       rng.normal(size=(n + 1, 19))], 1),
        "achieved_goal": achieved,
        "desired_goal": np.tile(goal, (n + 1, 1)),
    }  # fmt: skip
    dist = np.linalg.norm(achieved[1:] - goal, axis=1)
    reward = -(dist > THRESHOLD).astype(np.float64)
    extra = {"infos": {"is_success": np.r_[0.0, reward + 1.0]}} if infos else {}
    return EpisodeBuffer(
        id=i,
        observations=obs,
        actions=rng.uniform(-1, 1, size=(n, 4)).astype(np.float32),
        rewards=reward,
        terminations=np.zeros(n, bool),
        truncations=np.r_[np.zeros(n - 1, bool), True],
        **extra,
    )


def make_fetch_minari(dataset_id: str, episodes: int = 4, n: int = 10, infos: bool = False):
    """Episodes alternate success and failure; returns the Minari dataset."""
    import gymnasium as gym
    import gymnasium_robotics
    import minari

    gym.register_envs(gymnasium_robotics)
    rng = np.random.default_rng(0)
    bufs = [fetch_like_episode(i, rng, n, i % 2 == 0, infos) for i in range(episodes)]
    env = gym.make("FetchPush-v4")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return minari.create_dataset_from_buffers(
                dataset_id=dataset_id, buffer=bufs, env=env, algorithm_name="test"
            )
    finally:
        env.close()
