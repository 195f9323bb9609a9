"""The preference reward kind (PEBBLE/B-Pref): answered segment pairs -> a Bradley-Terry reward
ensemble scoring (state, action); it never ends an episode, and rewards are fixed only up to a
constant."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.data import Dataset
from robot_rl.data.labels import PREFS_FILE, LabelStore, PreferencePair, pair_key
from robot_rl.errors import UserError
from robot_rl.networks.modes import eval_mode
from robot_rl.rewards.metrics import step_agreement
from robot_rl.rewards.pebble import PreferenceUpdater
from robot_rl.rewards.preference import (
    PreferenceConfig,
    PreferenceModel,
    episode_rewards,
    train_preference,
)
from robot_rl.rewards.query import choose_pairs
from robot_rl.rewards.scorer import ModelScorer
from robot_rl.rewards.segments import EpisodeCache, SegmentPairs, load_segments, sample_segments
from robot_rl.rewards.teachers import (
    RewardsFn,
    Teacher,
    dense_step_rewards,
    label_pairs,
    teacher_config,
    teacher_reward,
)
from robot_rl.rewards.updates import PreferenceUpdateConfig
from robot_rl.types import ObsSpec


# ------------------------------------------------------------------------------ preference labels
def preference_pairs(
    dataset_root: str | Path, cfg: PreferenceConfig, cache: EpisodeCache | None = None
) -> SegmentPairs:
    """Answered preference pairs from labels/preferences.json as padded segment arrays."""
    cache = cache or EpisodeCache(dataset_root)
    answered = [p for p in LabelStore(cache.dataset.root).preferences() if p.preference is not None]
    keys = tuple(cfg.obs_keys)
    nxt, length = cfg.scores_next, cfg.segment_length
    a = load_segments(cache, [p.a for p in answered], keys, length, next_state=nxt)
    b = load_segments(cache, [p.b for p in answered], keys, length, next_state=nxt)
    return SegmentPairs(a, b, np.array([p.preference for p in answered], np.float32))


def default_preference_config(spec: ObsSpec, **fields: Any) -> PreferenceConfig:
    """PreferenceConfig on state if the dataset has it (cheap, as in B-Pref), else on every
    observation key; ``fields`` override the rest."""
    keys = ("state",) if "state" in spec else tuple(sorted(spec))
    return PreferenceConfig(**{"obs_keys": keys, **fields})


def synthetic_preferences(
    dataset_root: str | Path,
    n_queries: int = 200,
    teacher: str = "oracle",
    method: str = "uniform",
    rounds: int = 4,
    cfg: PreferenceConfig | None = None,
    seed: int = 0,
    rewards_fn: RewardsFn = dense_step_rewards,
) -> dict[str, Any]:
    """Ask a B-Pref teacher until labels/preferences.json holds ``n_queries`` pairs, in
    ``rounds`` (active methods retrain the ensemble between rounds to pick the next queries).

    The budget counts what is stored: pairs already there (answered or skipped, by anyone) use
    it up and are never asked again, so a run killed part-way and run again tops up to
    ``n_queries``. Each round is written at once. Returns the stored totals (``asked``,
    ``answered``), what this call ``added`` and the teacher.
    """
    cache = EpisodeCache(dataset_root)
    cfg = cfg or default_preference_config(cache.dataset.meta.obs_spec)
    rng = np.random.default_rng(seed)
    tcfg = teacher_config(teacher, _segment_returns(cache, cfg.segment_length, rng, rewards_fn))
    store = LabelStore(cache.dataset.root)
    stored = store.preferences()
    start = len(stored)
    if start:  # resumed: draw other pairs and answers than the run that began from this seed
        rng = np.random.default_rng([seed, start])
    t = Teacher(tcfg, [seed, start] if start else seed)
    per_round = -(-n_queries // max(1, rounds))
    while (n := min(per_round, n_queries - len(stored))) > 0:
        model = _query_model(method, cfg, cache, stored, seed)
        asked = {pair_key(p.a, p.b) for p in stored}
        pairs = choose_pairs(cache, n, cfg.segment_length, rng, method, model, exclude=asked)
        if not pairs:  # a tiny dataset: every distinct pair has been asked
            break
        store.add_preferences(label_pairs(cache, pairs, t, rewards_fn, by=f"teacher:{teacher}"))
        stored = store.preferences()
    return {
        "asked": len(stored),
        "answered": sum(p.preference is not None for p in stored),
        "added": len(stored) - start,
        "teacher": dataclasses.asdict(tcfg),
    }


def _segment_returns(
    cache: EpisodeCache, length: int, rng: np.random.Generator, rewards_fn: RewardsFn
) -> np.ndarray:
    """Returns of 200 random segments: the scale of the teacher's skip / equal thresholds."""
    sample = sample_segments(cache, 200, length, rng)
    return np.array([float(np.sum(rewards_fn(cache[s.episode], s))) for s in sample])


def _query_model(
    method: str,
    cfg: PreferenceConfig,
    cache: EpisodeCache,
    stored: list[PreferencePair],
    seed: int,
) -> PreferenceModel | None:
    """The ensemble an active method ranks candidates with, trained on every stored answer;
    None for uniform queries or before any answer."""
    if method == "uniform" or not any(p.preference is not None for p in stored):
        return None
    spec = cache.dataset.meta.obs_spec
    pairs = preference_pairs(cache.dataset.root, cfg, cache)
    model, _ = train_preference(cfg, pairs, spec, cache.dataset.meta.action_spec.dim, seed=seed)
    return model


def teacher_agreement(
    model: PreferenceModel, ds: Dataset, max_episodes: int = 50
) -> dict[str, float]:
    """Step-level agreement of the learned reward with the synthetic teacher's per-step reward
    (`teacher_reward`, when the dataset stores it) on up to ``max_episodes`` of the labelled
    dataset's episodes: label accuracy alone hides a model that tells episodes apart without
    learning progress."""
    eps = [ds.load(i) for i in ds.episode_ids[:max_episodes]]
    true = [teacher_reward(e) for e in eps]
    if not eps or any(t is None for t in true):
        return {}
    agree = step_agreement(episode_rewards(model, eps), true)  # type: ignore[arg-type]
    return {f"teacher/{k}": v for k, v in agree.items()}


# ------------------------------------------------------------------------------ the kind
class PreferenceReward(ModelScorer):
    """A preference ensemble as a reward: the ensemble-mean r(s, a) of the transition."""

    default_name = "preference"

    @torch.no_grad()
    def reward(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, next_obs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        states = next_obs if self.model.scores_next else obs
        return self.model.reward(states, action.float()).float()

    @torch.no_grad()
    def reward_and_done(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, next_obs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The reward; a preference model never ends an episode."""
        with eval_mode(self.model):
            r = self.reward(obs, action, next_obs)
        return r, torch.zeros(r.shape, dtype=torch.bool, device=r.device)


class PreferenceOnline:
    """PEBBLE: the policy's episodes are where queries come from; each update asks the teacher
    and retrains the ensemble on every answer so far."""

    def __init__(self, updater: PreferenceUpdater):
        self.updater = updater

    def observe_episode(self, episode: Any) -> None:
        self.updater.add_episode(episode)

    def update(self) -> dict[str, Any] | None:
        retrained, metrics = self.updater.update()
        if not retrained:  # budget spent, or nothing answered yet: the model did not change
            return None
        self.updater.model.eval()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return self.updater.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updater.load_state_dict(state)


class PreferenceKind:
    name = "preference"
    config: type = PreferenceConfig
    label_mode = "preferences"
    terminates_episodes = False
    up_to_constant = True
    sparse_fields: dict[str, Any] = {}

    def build(self, obs_spec: ObsSpec, action_dim: int, cfg: Any) -> PreferenceModel:
        return PreferenceModel(obs_spec, int(action_dim), cfg)

    def scorer(self, model: Any, name: str) -> PreferenceReward:
        return PreferenceReward(model, name)

    def threshold(self, model: Any) -> float | None:
        return None

    def default_config(self, obs_spec: ObsSpec, **fields: Any) -> PreferenceConfig:
        return default_preference_config(obs_spec, **fields)

    def train(
        self, ds: Dataset, cfg: Any, seed: int, progress: bool, device: str
    ) -> tuple[PreferenceModel, PreferenceConfig, dict[str, float], dict[str, Any]]:
        store, spec = LabelStore(ds.root), ds.meta.obs_spec
        pcfg = cfg if cfg is not None else default_preference_config(spec)
        if not isinstance(pcfg, PreferenceConfig):
            raise UserError("train_reward: kind 'preference' needs a PreferenceConfig")
        pairs = preference_pairs(ds.root, pcfg)
        if len(pairs) == 0:
            raise UserError(
                f"{store.root / PREFS_FILE}: no answered preference pairs; label "
                "some or run synthetic labelling first"
            )
        model, metrics = train_preference(
            pcfg, pairs, spec, ds.meta.action_spec.dim, seed=seed, progress=progress, device=device
        )
        metrics |= teacher_agreement(model, ds)
        return model, pcfg, metrics, {"pairs": len(pairs)}

    def synthetic_labels(self, dataset_root: str | Path, seed: int, **kwargs: Any) -> dict:
        return synthetic_preferences(dataset_root, seed=seed, **kwargs)

    def online(
        self,
        model: Any,
        model_cfg: Any,
        doc: dict[str, Any],
        update_cfg: PreferenceUpdateConfig,
        seed: int,
    ) -> PreferenceOnline:
        root = Path(doc["provenance"]["dataset"])
        if not (labels := LabelStore(root).root / PREFS_FILE).exists():
            raise UserError(
                f"{labels}: not found; preference.every > 0 keeps training the model "
                "on the pairs it learned from (the dataset recorded in its config.json)"
            )
        pairs = preference_pairs(root, model_cfg)
        model.train()
        return PreferenceOnline(
            PreferenceUpdater(model, model_cfg, update_cfg, seed=seed, pairs=pairs)
        )
