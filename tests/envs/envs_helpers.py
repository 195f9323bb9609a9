"""Helpers of the environment tests: a per-session env cache, an episode runner, colour counts."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco
os.environ.setdefault("LP_NUM_THREADS", "1")

from typing import Any

import numpy as np

from robot_rl.envs import make_env

_ENVS: dict[tuple, Any] = {}


def cached_env(task: str, obs: str = "state", image_size: int = 32, **kw: Any):
    """One env per (task, obs, size, options) for the whole session: creation costs ~0.5 s."""
    key = (task, obs, image_size, tuple(sorted(kw.items())))
    if key not in _ENVS:
        _ENVS[key] = make_env(task, obs=obs, image_size=image_size, **kw)
    return _ENVS[key]


def run_episode(env: Any, policy: Any, seed: int) -> dict[str, Any]:
    """Roll out one episode with a scripted policy; returns flags and the per-step records."""
    env.reset(seed=seed)
    policy.reset(env)
    steps, successes = 0, []
    terminated = truncated = False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(policy.act(env))
        assert reward == float(info["success"])
        successes.append(info["success"])
        steps += 1
    return {
        "steps": steps,
        "terminated": terminated,
        "truncated": truncated,
        "success": any(successes),
        "success_at_end": successes[-1],
    }


def close_all() -> None:
    for env in _ENVS.values():
        env.close()
    _ENVS.clear()


def red_pixels(img: np.ndarray) -> int:
    """Strongly red pixels: what Fetch's goal sphere (rgba 1 0 0) looks like."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((r > 150) & (g < 60) & (b < 60)).sum())


def green_pixels(img: np.ndarray) -> int:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((g > 120) & (r < 100) & (b < 100)).sum())


def blue_pixels(img: np.ndarray) -> int:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((b > 150) & (r < 100) & (g < 150)).sum())
