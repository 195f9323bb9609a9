"""Where the online loop's reward comes from: the simulator, or a learned reward model.

With a learned reward the simulator's success never reaches training: the env does not end
episodes on success; a goal classifier ends them when it fires (SERL-style), a preference
model never does. A classifier can keep learning during fine-tuning with the states the policy
visits as negatives (VICE) and a capped number of labeller queries about its highest-scoring
visited states (RAQ; in simulation the labeller reads the success flag); after each update the
stored transitions are relabelled with the new model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ENV_COLUMN = "reward.env"


class OnlineReward:
    """Simulator reward (``model is None``) or a learned one; see `build`."""

    def __init__(
        self,
        model: Any = None,
        column: str = ENV_COLUMN,
        updater: Any = None,
        cfg: Any = None,
        device: torch.device | None = None,
    ):
        self.model = model
        self.column = column
        self.updater = updater
        self.cfg = cfg
        self.device = device
        self.obs_keys: tuple[str, ...] = tuple(model.obs_keys) if model is not None else ()
        self.is_classifier = model is not None and hasattr(model.model, "threshold")
        self.last_metrics: dict[str, Any] = {}
        self._last_update = 0
        self._candidates: list[dict[str, np.ndarray]] = []  # visited frames since last update

    @property
    def image_size(self) -> int | None:
        """Pixel size the model was trained on, if it looks at images."""
        spec = self.model.model.obs_spec if self.model is not None else {}
        return int(spec["pixels"].shape[0]) if "pixels" in spec else None

    @property
    def uses_env_termination(self) -> bool:
        return self.model is None

    @staticmethod
    def build(cfg: Any, device: torch.device) -> OnlineReward:
        if cfg.reward == "env":
            return OnlineReward()
        from robot_rl.rewards.model_io import load_reward
        from robot_rl.rewards.relabel import default_column_name

        model = load_reward(cfg.reward, device=device)
        column = f"reward.{default_column_name(cfg.reward)}"
        if cfg.classifier.every > 0:
            from robot_rl.rewards.classifier import ClassifierUpdater, GoalClassifier
            from robot_rl.rewards.train import goal_frames

            doc, ccfg = _updatable(cfg.reward, "classifier", "classifier.every > 0")
            assert isinstance(model.model, GoalClassifier)  # _updatable checked the kind
            pos, neg = goal_frames(doc["provenance"]["dataset"], model.obs_keys)
            model.model.train()
            classifier_updater = ClassifierUpdater(model.model, ccfg, pos, neg, seed=cfg.seed)
            return OnlineReward(model, column, classifier_updater, cfg.classifier, device)
        if cfg.preference.every > 0:
            from robot_rl.rewards.pebble import PreferenceUpdater
            from robot_rl.rewards.preference import PreferenceModel

            _, pcfg = _updatable(cfg.reward, "preference", "preference.every > 0")
            assert isinstance(model.model, PreferenceModel)  # _updatable checked the kind
            model.model.train()
            pref_updater = PreferenceUpdater(model.model, pcfg, cfg.preference, seed=cfg.seed)
            return OnlineReward(model, column, pref_updater, cfg.preference, device)
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
        was_training = self.model.model.training
        self.model.model.eval()
        o, n = self._tensors(obs), self._tensors(next_obs)
        a = torch.as_tensor(np.asarray(action, np.float32)[None], device=self.device)
        done = False
        if self.is_classifier:  # one forward pass: the reward and the classifier's own success
            r_t, success = self.model.model.score_and_success(n)
            r, done = float(r_t[0]), bool(success[0])
        else:
            r = float(self.model.reward(o, a, n)[0])
        self.model.model.train(was_training)
        return r, done

    def observe_episode(self, episode: Any) -> None:
        """Policy-visited states become classifier negatives (VICE) and RAQ candidates; or the
        episode joins the ones preference queries are drawn from (PEBBLE)."""
        if self.updater is None:
            return
        if not self.is_classifier:
            self.updater.add_episode(episode)
            return
        visited = {k: episode.obs[k][1:] for k in self.obs_keys}
        self.updater.add_negatives(visited)
        self._candidates.append({**visited, "success": np.asarray(episode.success, bool)})

    def maybe_update(self, step: int, buffers: list[Any]) -> bool:
        """Every ``cfg.every`` env steps: RAQ queries, classifier steps, relabel the buffers."""
        if self.updater is None or step - self._last_update < self.cfg.every:
            return False
        self._last_update = step
        metrics: dict[str, Any] = {}
        if not self.is_classifier:  # PEBBLE: query, retrain, relabel
            retrained, metrics = self.updater.update()
            if not retrained:  # budget spent, or nothing answered yet: the model did not change
                return False
            self.model.model.eval()
            for buf in buffers:
                buf.relabel(self.model.reward)
            self.last_metrics = metrics
            return True
        if self.cfg.max_queries > 0 and self._candidates:
            cands = {
                k: np.concatenate([c[k] for c in self._candidates]) for k in self._candidates[0]
            }
            self.updater.cfg.query_budget = self.cfg.max_queries
            q = self.updater.query(cands, lambda c: c["success"], self.cfg.queries_per_update)
            metrics["classifier/queries"] = float(self.updater.queries_used)
            metrics["classifier/query_positive"] = float(q["positive"])
        self._candidates.clear()
        metrics.update(self.updater.update(self.cfg.steps))
        self.model.model.eval()
        for buf in buffers:
            buf.relabel(self.model.reward)  # stored rewards follow the updated classifier
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
