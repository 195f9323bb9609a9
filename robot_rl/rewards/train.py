"""The core of ``robot-rl train-reward``: labels on disk -> a trained reward checkpoint, plus the
synthetic labellers the pipeline uses when no human labels exist. What differs between reward
kinds lives in the kind's own file (`robot_rl.rewards.kinds`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robot_rl.data import Dataset
from robot_rl.rewards.kinds import get_kind
from robot_rl.rewards.kinds.classifier import goal_frames, read_goal_image, synthetic_goal_labels
from robot_rl.rewards.kinds.preference import (
    default_preference_config,
    preference_pairs,
    synthetic_preferences,
)
from robot_rl.rewards.model_io import save_reward

# Where they were defined before the kinds registry; imported from here by stages and scripts.
__all__ = [
    "default_preference_config",
    "goal_frames",
    "preference_pairs",
    "read_goal_image",
    "synthetic_goal_labels",
    "synthetic_label",
    "synthetic_preferences",
    "train_reward",
]


def train_reward(
    kind: str,
    dataset_root: str | Path,
    out_dir: str | Path,
    cfg: Any = None,
    seed: int = 0,
    progress: bool = True,
    device: str = "cpu",
) -> dict[str, float]:
    """Train a reward model of ``kind`` on the dataset's labels and save it to ``out_dir``."""
    ds = Dataset(dataset_root)
    prov: dict[str, Any] = {"dataset": str(ds.root.resolve()), "seed": seed, "task": ds.meta.task}
    model, model_cfg, metrics, more = get_kind(kind).train(ds, cfg, seed, progress, device)
    prov |= more
    save_reward(out_dir, kind, model, model_cfg, ds.meta.action_spec.dim, metrics, prov)
    return metrics


def synthetic_label(kind: str, dataset_root: str | Path, seed: int = 0, **kwargs: Any) -> dict:
    """Label a dataset without a human: goal frames (classifier) or preference pairs."""
    return get_kind(kind).synthetic_labels(dataset_root, seed=seed, **kwargs)
