"""Recording online episodes in the dataset format, one step at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.envs import env_obs_spec  # noqa: F401  (re-exported for the loops)


class EpisodeRecorder:
    """Accumulates one episode; `finish` returns it as an `Episode` and writes it if asked.

    Rewards are stored under ``reward.env`` always, and under the learned column too when the
    loop trains on a learned reward (``train_column``).
    """

    def __init__(self, out: Path | None, task: str, env: Any, obs_keys, train_column: str):
        self.obs_keys = tuple(obs_keys)
        self.train_column = train_column
        self.next_id = 0
        self.writer = None
        if out is not None:
            from robot_rl.data import DatasetMeta, DatasetWriter
            from robot_rl.envs import control_freq_of
            from robot_rl.types import ActionSpec

            spec = env_obs_spec(env)
            meta = DatasetMeta(
                task=task,
                control_freq=control_freq_of(task, env),
                obs_spec={k: spec[k] for k in self.obs_keys},
                action_spec=ActionSpec(int(env.action_space.shape[0])),
                provenance={"source": "robot-rl finetune"},
            )
            self.writer = DatasetWriter(out, meta)

    def start(self, obs: dict[str, np.ndarray]) -> None:
        self.obs: dict[str, list[np.ndarray]] = {k: [obs[k]] for k in self.obs_keys}
        self.action: list[np.ndarray] = []
        self.env_reward: list[float] = []
        self.learned: list[float] = []
        self.dense: list[float] = []
        self.success: list[bool] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []

    def add(self, action, next_obs, env_reward, reward, terminated, truncated, info) -> None:
        for k in self.obs_keys:
            self.obs[k].append(next_obs[k])
        self.action.append(np.asarray(action, np.float32))
        self.env_reward.append(float(env_reward))
        self.learned.append(float(reward))
        self.dense.append(float(info.get("dense_reward", np.nan)))
        self.success.append(bool(info.get("success", False)))

    def finish(self, terminated: bool, truncated: bool):
        from robot_rl.data import Episode

        T = len(self.action)
        term = np.zeros(T, bool)
        trunc = np.zeros(T, bool)
        term[-1], trunc[-1] = bool(terminated), bool(truncated) and not terminated
        rewards = {"reward.env": np.asarray(self.env_reward, np.float32)}
        if np.isfinite(self.dense).all():  # the simulator's progress signal, as collect stores
            rewards["reward.dense"] = np.asarray(self.dense, np.float32)
        if self.train_column != "reward.env":
            rewards[self.train_column] = np.asarray(self.learned, np.float32)
        ep = Episode(
            obs={k: np.stack(v) for k, v in self.obs.items()},
            action=np.stack(self.action),
            rewards=rewards,
            terminated=term,
            truncated=trunc,
            success=np.asarray(self.success, bool),
            info={"source": "finetune", "episode": self.next_id},
        )
        if self.writer is not None:
            self.writer.write(ep, self.next_id)
        self.next_id += 1
        return ep
