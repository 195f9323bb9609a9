"""Any registered Gymnasium environment as a task: ``task=gym:FetchPush-v4``.

`GymTaskEnv` shows the environment with robot_rl's observation keys (a GoalEnv dictionary
becomes ``state`` = observation then desired_goal, plus ``achieved_goal``, as in
`robot_rl.data.goal_obs`; a vector observation becomes ``state``), actions in [-1, 1], and
``info["success"]`` from the environment's own ``info["is_success"]`` where it reports one. It
keeps the environment's reward, termination and time limit: nothing is judged by robot_rl.
"""

from __future__ import annotations

import contextlib
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl.data.goal_obs import goal_state_obs, goal_state_spec, is_goal_dict
from robot_rl.errors import UserError
from robot_rl.types import GYM_PREFIX, STATE, ArraySpec


def gym_env_id(task: str) -> str | None:
    """``FetchPush-v4`` for ``gym:FetchPush-v4``; None for a robot_rl task."""
    return task[len(GYM_PREFIX) :] if task.startswith(GYM_PREFIX) else None


def registered_spec(env_id: str) -> Any:
    """The EnvSpec of a registered id (Gymnasium-Robotics' registered on demand)."""
    if env_id not in gym.registry:
        with contextlib.suppress(ImportError):
            import gymnasium_robotics

            gym.register_envs(gymnasium_robotics)
    if env_id not in gym.registry:
        raise UserError(
            f"task={GYM_PREFIX}{env_id}: {env_id!r} is not a registered Gymnasium environment "
            f"(e.g. {GYM_PREFIX}FetchPush-v4; import the package that registers it)"
        )
    return gym.registry[env_id]


def _check_actions(space: Any, task: str) -> None:
    ok = isinstance(space, gym.spaces.Box) and len(space.shape) == 1
    if not ok or not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise UserError(f"task={task}: the action space is {space}; robot_rl needs a bounded Box")


def _size(box: Any) -> int:
    return int(box.shape[0])


def _state_space(space: Any, task: str) -> dict[str, ArraySpec]:
    def vector(s: Any) -> bool:
        return isinstance(s, gym.spaces.Box) and len(s.shape) == 1 and s.dtype != np.uint8

    if isinstance(space, gym.spaces.Dict) and is_goal_dict(space.spaces):
        if all(vector(s) for s in space.spaces.values()):
            shapes = {k: ArraySpec((_size(s),), "float32") for k, s in space.spaces.items()}
            return goal_state_spec(shapes)
    elif vector(space):
        return {STATE: ArraySpec((_size(space),), "float32")}
    raise UserError(
        f"task={task}: observations {space} are neither a vector nor a GoalEnv dictionary of "
        "vectors (observation, achieved_goal, desired_goal)"
    )


class GymTaskEnv(gym.Wrapper):
    """A Gymnasium env with robot_rl's keys, actions in [-1, 1] and ``info["success"]``."""

    def __init__(self, env: gym.Env, task: str) -> None:
        _check_actions(env.action_space, task)
        spec = _state_space(env.observation_space, task)
        self._goal = isinstance(env.observation_space, gym.spaces.Dict)
        super().__init__(gym.wrappers.RescaleAction(env, np.float32(-1.0), np.float32(1.0)))
        self.task = task
        self.observation_space = gym.spaces.Dict(
            {k: gym.spaces.Box(-np.inf, np.inf, s.shape, np.float32) for k, s in spec.items()}
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, env.action_space.shape, np.float32)

    def _obs(self, obs: Any) -> dict[str, np.ndarray]:
        return goal_state_obs(obs) if self._goal else {STATE: np.asarray(obs, np.float32)}

    @staticmethod
    def _info(info: dict[str, Any]) -> dict[str, Any]:
        if "is_success" in info:
            return {**info, "success": bool(info["is_success"])}
        return info

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return self._obs(obs), self._info(info)

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._obs(obs), float(reward), terminated, truncated, self._info(info)

    def control_freq(self) -> float:
        """Steps per second: 1 / dt for MuJoCo envs, else the render rate, else 1."""
        dt = getattr(self.env.unwrapped, "dt", None)
        if dt:
            return float(1.0 / dt)
        return float(self.env.metadata.get("render_fps") or 1.0)


def make_gym_task(
    task: str, obs: str = "state", max_episode_steps: int | None = None, **kwargs: Any
) -> GymTaskEnv:
    """``task=gym:<id>``: the registered env with its own time limit (or ``max_episode_steps``);
    state observations only."""
    env_id = gym_env_id(task)
    assert env_id is not None
    if obs not in ("state", "auto"):
        raise UserError(f"task={task}: obs={obs} is not available; Gymnasium tasks give obs=state")
    spec = registered_spec(env_id)
    extra: dict[str, Any] = dict(kwargs)
    if "rgb_array" in _render_modes(spec):  # for evaluation videos
        extra["render_mode"] = "rgb_array"
    if max_episode_steps:
        extra["max_episode_steps"] = max_episode_steps
    try:
        env = gym.make(spec, disable_env_checker=True, **extra)
    except (gym.error.Error, TypeError, ImportError) as e:
        raise UserError(f"task={task}: could not make the environment ({e})") from None
    try:
        return GymTaskEnv(env, task)
    except UserError:
        env.close()
        raise


def _render_modes(spec: Any) -> list[str]:
    try:
        cls = gym.envs.registration.load_env_creator(spec.entry_point)
    except (ImportError, AttributeError, gym.error.Error):
        return []
    return list(getattr(cls, "metadata", {}).get("render_modes", []))
