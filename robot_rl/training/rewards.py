"""Where the online loop's reward comes from: the simulator, or a learned reward model.

With a learned reward the simulator's success never reaches training: the env does not end
episodes on success; a goal classifier ends them when it fires (SERL-style), a preference
model never does. A classifier can keep learning during fine-tuning with the states the policy
visits as negatives (VICE) and a capped number of labeller queries about its highest-scoring
visited states (RAQ; in simulation the labeller reads the success flag); after each update the
stored transitions are relabelled with the new model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from robot_rl.rewards.kinds import OnlineUpdater, Scorer

ENV_COLUMN = "reward.env"


class OnlineReward:
    """Simulator reward (``model is None``) or a learned one; see `build`."""

    def __init__(
        self,
        model: Scorer | None = None,
        column: str = ENV_COLUMN,
        updater: OnlineUpdater | None = None,
        cfg: Any = None,
        device: torch.device | None = None,
        ends_episodes: bool = False,
    ):
        self.model = model
        self.column = column
        self.updater = updater
        self.cfg = cfg  # the kind's update config (``every`` env steps)
        self.device = device
        self.obs_keys: tuple[str, ...] = tuple(model.obs_keys) if model is not None else ()
        self.last_metrics: dict[str, Any] = {}
        self._last_update = 0
        # A goal classifier ends episodes where it fires; relabelling moves those ends with it.
        self.ends_episodes = ends_episodes

    @property
    def image_size(self) -> int | None:
        """Pixel size the model was trained on, if it looks at images."""
        spec = self.model.obs_spec if self.model is not None else {}
        return int(spec["pixels"].shape[0]) if "pixels" in spec else None

    @property
    def uses_env_termination(self) -> bool:
        return self.model is None

    @staticmethod
    def build(cfg: Any, device: torch.device) -> OnlineReward:
        if cfg.reward == "env":
            return OnlineReward()
        from robot_rl.rewards.kinds import REWARD_KINDS
        from robot_rl.rewards.model_io import load_reward_model
        from robot_rl.rewards.relabel import default_column_name

        kind, module = load_reward_model(cfg.reward, device=device)
        model = kind.scorer(module, Path(cfg.reward).name)
        column = f"reward.{default_column_name(cfg.reward)}"
        for name in REWARD_KINDS:
            update_cfg = getattr(cfg, name)  # FinetuneConfig: one update config per kind
            if update_cfg.every > 0:
                doc, model_cfg = _updatable(cfg.reward, name, f"{name}.every > 0")
                updater = kind.online(module, model_cfg, doc, update_cfg, cfg.seed)
                return OnlineReward(
                    model, column, updater, update_cfg, device, kind.terminates_episodes
                )
        return OnlineReward(model, column)

    def _tensors(self, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {
            k: torch.as_tensor(np.asarray(obs[k])[None], device=self.device) for k in self.obs_keys
        }

    @torch.no_grad()
    def step(self, obs, action, next_obs, env_reward: float, terminated: bool):
        """Reward of one transition and whether it ends the episode."""
        if self.model is None:
            return env_reward, terminated
        o, n = self._tensors(obs), self._tensors(next_obs)
        a = torch.as_tensor(np.asarray(action, np.float32)[None], device=self.device)
        r, done = self.model.reward_and_done(o, a, n)
        return float(r[0]), bool(done[0])

    def observe_episode(self, episode: Any) -> None:
        """The policy's episode, for a reward model that keeps learning (e.g. VICE negatives,
        RAQ candidates, PEBBLE query segments)."""
        if self.updater is not None:
            self.updater.observe_episode(episode)

    def maybe_update(self, step: int, buffers: list[Any]) -> bool:
        """Every ``cfg.every`` env steps: update the model and, if it changed, relabel the
        buffers with it (stored rewards follow the updated model)."""
        if self.updater is None or step - self._last_update < self.cfg.every:
            return False
        self._last_update = step
        metrics = self.updater.update()
        if metrics is None:
            return False
        assert self.model is not None  # an updater comes with a model
        fn = self.model.reward_and_done if self.ends_episodes else self.model.reward
        for buf in buffers:
            buf.relabel(fn, moves_ends=self.ends_episodes)
        self.last_metrics = metrics
        return True

    def state_dict(self) -> dict[str, Any] | None:
        if self.updater is None:
            return None
        return {"updater": self.updater.state_dict(), "last_update": self._last_update}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state and self.updater is not None:
            self.updater.load_state_dict(state["updater"])
            self._last_update = state["last_update"]


def _updatable(path: str, kind: str, why: str) -> tuple[dict[str, Any], Any]:
    """(config document, model config) of reward checkpoint ``path``, which must be a ``kind``
    model because ``why``; a UserError otherwise."""
    from robot_rl.errors import UserError
    from robot_rl.rewards.model_io import load_reward_config, read_reward_config

    doc = read_reward_config(path)
    if doc["kind"] != kind:
        raise UserError(f"{path}: {why} needs a {kind} model, this is a {doc['kind']} model")
    return doc, load_reward_config(path)
