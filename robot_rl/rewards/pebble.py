"""PEBBLE-style online preference learning (Lee et al. 2021): every K env steps of fine-tuning,
ask a (synthetic) teacher about segment pairs from the policy's recent episodes, chosen by
ensemble disagreement (or uniformly / by entropy), retrain the reward ensemble on every answer so
far, and let the loop relabel its replay buffers with the updated model."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from robot_rl.rewards.preference import PreferenceConfig, PreferenceModel, train_preference
from robot_rl.rewards.query import QueryBudget, choose_pairs
from robot_rl.rewards.segments import EpisodeMemory, SegmentPairs, Segments, load_segments
from robot_rl.rewards.teachers import Teacher, label_pairs, teacher_config
from robot_rl.rewards.updates import PreferenceUpdateConfig


def concat_pairs(a: SegmentPairs | None, b: SegmentPairs) -> SegmentPairs:
    if a is None:
        return b

    def cat(x: Segments, y: Segments) -> Segments:
        return Segments(
            {k: np.concatenate([x.obs[k], y.obs[k]]) for k in x.obs},
            np.concatenate([x.action, y.action]),
            np.concatenate([x.mask, y.mask]),
        )

    return SegmentPairs(cat(a.a, b.a), cat(a.b, b.b), np.concatenate([a.preference, b.preference]))


class PreferenceUpdater:
    """Holds the labelled pairs, the query budget and the recent episodes of one online run."""

    def __init__(
        self,
        model: PreferenceModel,
        model_cfg: PreferenceConfig,
        cfg: PreferenceUpdateConfig,
        seed: int = 0,
        pairs: SegmentPairs | None = None,
    ):
        """``pairs``: the answered pairs the model learned from before; every retraining keeps
        them beside the new answers (retraining on the new ones alone forgets them)."""
        cfg.validate()
        self.model, self.cfg, self.seed = model, cfg, seed
        self.model_cfg = dataclasses.replace(model_cfg, steps=cfg.steps)
        self.memory = EpisodeMemory(model.obs_spec, model.action_dim, cfg.window)
        self.teacher = Teacher(teacher_config(cfg.teacher), seed)
        self.budget = QueryBudget(cfg.max_queries)
        self.rng = np.random.default_rng(seed)
        self.pairs: SegmentPairs | None = pairs if pairs is not None and len(pairs) else None
        self.rounds = 0

    def add_episode(self, episode: Any) -> None:
        keys = self.model.obs_keys
        self.memory.add(dataclasses.replace(episode, obs={k: episode.obs[k] for k in keys}))

    def update(self) -> tuple[bool, dict[str, float]]:
        """One query round and a retraining: (whether the model was retrained, metrics). Not
        retrained when the budget is spent, nothing was seen, or no answer has come yet."""
        if len(self.memory) == 0 or self.budget.remaining == 0:
            return False, {}
        length = self.model_cfg.segment_length
        asked = choose_pairs(
            self.memory, self.cfg.queries_per_update, length, self.rng, self.cfg.method,
            self.model, budget=self.budget,
        )  # fmt: skip
        # Skipped answers (teacher "skip") used their query but give no pair.
        labelled = [
            p for p in label_pairs(self.memory, asked, self.teacher) if p.preference is not None
        ]
        metrics = {"preference/queries": float(self.budget.used)}
        if labelled:
            keys, nxt = self.model.obs_keys, self.model.scores_next
            new = SegmentPairs(
                load_segments(self.memory, [p.a for p in labelled], keys, length, next_state=nxt),
                load_segments(self.memory, [p.b for p in labelled], keys, length, next_state=nxt),
                np.array([p.preference for p in labelled], np.float32),
            )
            self.pairs = concat_pairs(self.pairs, new)
        if self.pairs is None:
            return False, metrics
        self.rounds += 1
        _, m = train_preference(
            self.model_cfg, self.pairs, self.model.obs_spec, self.model.action_dim,
            seed=self.seed + self.rounds, model=self.model,
        )  # fmt: skip
        metrics.update({f"preference/{k.replace('/', '_')}": v for k, v in m.items()})
        return True, metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "pairs": None if self.pairs is None else self.pairs.to_dict(),
            "used": self.budget.used,
            "rounds": self.rounds,
            "rng": self.rng.bit_generator.state,
            "teacher_rng": self.teacher.rng.bit_generator.state,
            "memory": self.memory.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        pairs = state["pairs"]
        self.pairs = None if pairs is None else SegmentPairs.from_dict(pairs)
        self.budget.used, self.rounds = state["used"], state["rounds"]
        self.rng.bit_generator.state = state["rng"]
        self.teacher.rng.bit_generator.state = state["teacher_rng"]
        self.memory.load_state_dict(state["memory"])
