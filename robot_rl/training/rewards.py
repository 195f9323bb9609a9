"""Where the online loop's reward comes from: the simulator, or a learned `RewardModel`.

With a learned reward the simulator's success never reaches training: the env does not end
episodes on success, and termination (if any) comes from the model's own success decision.
A goal classifier can keep learning during fine-tuning with the states the policy visits as
negatives (VICE/RAQ), after which the online buffer is relabelled with the updated model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ENV_COLUMN = "reward.env"


class OnlineReward:
    """Simulator reward (default) or a learned one; see `build`."""

    def __init__(self, model: Any = None, updater: Any = None, cfg: Any = None, device=None):
        self.model = model
        self.updater = updater
        self.cfg = cfg
        self.device = device
        self.column = ENV_COLUMN if model is None else f"reward.{model.name}"
        self.last_metrics: dict[str, torch.Tensor] = {}
        self._last_update = 0

    @property
    def uses_env_termination(self) -> bool:
        return self.model is None

    @staticmethod
    def build(cfg: Any, task: str, device: torch.device) -> OnlineReward:
        if cfg.reward == "env":
            return OnlineReward()
        from robot_rl.rewards.model_io import load_reward_model

        model = load_reward_model(cfg.reward, device)
        updater = None
        if cfg.classifier.every > 0:
            updater = model.make_updater(max_queries=cfg.classifier.max_queries)
        return OnlineReward(model, updater, cfg.classifier, device)

    def _tensors(self, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(np.asarray(v)[None], device=self.device)
                for k, v in obs.items() if k in self.model.obs_keys}  # fmt: skip

    @torch.no_grad()
    def step(self, obs, action, next_obs, env_reward: float, terminated: bool, info: dict):
        """Reward of one transition and whether it ends the episode."""
        if self.model is None:
            return env_reward, terminated
        o, n = self._tensors(obs), self._tensors(next_obs)
        a = torch.as_tensor(np.asarray(action, np.float32)[None], device=self.device)
        r = float(self.model.reward(o, a, n)[0])
        done = bool(self.model.success(n)[0]) if hasattr(self.model, "success") else False
        return r, done

    def observe_episode(self, episode: Any) -> None:
        """Policy-visited states become classifier negatives (VICE)."""
        if self.updater is not None:
            self.updater.add_visited(episode)

    def maybe_update(self, step: int, online: Any) -> bool:
        if self.updater is None or step - self._last_update < self.cfg.every:
            return False
        self._last_update = step
        self.last_metrics = self.updater.update(self.cfg.steps, self.cfg.queries_per_update)
        online.relabel(self.model.reward)  # rewards of stored transitions follow the new model
        return True

    def state_dict(self) -> dict[str, Any] | None:
        if self.updater is None:
            return None
        return {"updater": self.updater.state_dict(), "last_update": self._last_update}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state and self.updater is not None:
            self.updater.load_state_dict(state["updater"])
            self._last_update = state["last_update"]
