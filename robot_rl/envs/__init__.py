"""Tasks (registered Gymnasium environments), scripted experts, collection and video.

`make_env("push", obs="pixels")` -> dict observations {"pixels", "proprio"}; see `core.py`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from robot_rl.envs.tasks import TASKS, TaskInfo, get_task_info, list_tasks
from robot_rl.types import GYM_PREFIX, ArraySpec, ObsSpec

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede `import mujoco`
logging.getLogger("OpenGL").setLevel(logging.WARNING)  # "No OpenGL_accelerate" at INFO

__all__ = [
    "make_env", "list_tasks", "get_task_info", "make_scripted_policy", "TaskInfo", "gym_id",
    "env_obs_spec", "control_freq_of",
]  # fmt: skip


def env_obs_spec(env: Any) -> ObsSpec:
    """ObsSpec of an env's dict observation space."""
    import numpy as np

    return {
        k: ArraySpec(tuple(int(d) for d in s.shape), np.dtype(s.dtype).name)
        for k, s in env.observation_space.spaces.items()
    }


def gym_id(task: str) -> str:
    return "robot_rl/" + "".join(p.capitalize() for p in task.split("_")) + "-v0"


def _register() -> None:
    import gymnasium as gym

    for name, info in TASKS.items():
        if gym_id(name) not in gym.registry:
            gym.register(
                gym_id(name),
                entry_point="robot_rl.envs.core:RobotTaskEnv",
                kwargs={"task": name},
                max_episode_steps=info.max_episode_steps,
            )


def make_env(
    task: str,
    obs: str = "state",
    image_size: int = 64,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    terminate_on_success: bool = True,
    **kwargs: Any,
):
    """A registered task with a time limit (truncation), seeded if ``seed`` is given.

    ``task=gym:<id>`` is any registered Gymnasium environment (`gym_task.GymTaskEnv`): state
    observations, its own reward, termination and time limit (``terminate_on_success`` and
    ``image_size`` do not apply)."""
    if task.startswith(GYM_PREFIX):
        from robot_rl.envs.gym_task import make_gym_task

        env = make_gym_task(task, obs, max_episode_steps, **kwargs)
    else:
        env = _make_task(task, obs, image_size, max_episode_steps, terminate_on_success, **kwargs)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def _make_task(
    task: str,
    obs: str,
    image_size: int,
    max_episode_steps: int | None,
    terminate_on_success: bool,
    **kwargs: Any,
) -> Any:
    import gymnasium as gym

    info = get_task_info(task)
    _register()
    return gym.make(
        gym_id(task),
        obs=obs,
        image_size=image_size,
        terminate_on_success=terminate_on_success,
        max_episode_steps=max_episode_steps or info.max_episode_steps,
        disable_env_checker=True,
        **kwargs,
    )


def control_freq_of(task: str, env: Any) -> float:
    """Steps per second of ``task`` (its env ``env``, for a Gymnasium task)."""
    if task.startswith(GYM_PREFIX):
        return float(env.get_wrapper_attr("control_freq")())
    return get_task_info(task).control_freq


def make_scripted_policy(
    task: str, kind: str = "expert", noise: float = 0.0, gripper_noise: float = 0.0, seed: int = 0
):
    from robot_rl.envs.experts import make_scripted_policy as make

    return make(task, kind, noise, gripper_noise, seed)
