"""`robot-rl train-reward kind=classifier|preference dataset=DIR`: a reward model from labels."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from robot_rl.cli.hydra_app import run_stage
from robot_rl.rewards.classifier import ClassifierConfig
from robot_rl.rewards.preference import PreferenceConfig


@dataclass
class TrainRewardConfig:
    kind: str = "classifier"  # classifier | preference
    dataset: str = "???"
    out: str = "runs/reward-${kind}"
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    preference: PreferenceConfig = field(default_factory=PreferenceConfig)


def run(cfg: TrainRewardConfig) -> dict:
    from robot_rl.rewards.kinds import REWARD_KINDS
    from robot_rl.rewards.train import train_reward
    from robot_rl.training.device import resolve_device

    # The kind's model config is the field named after it; an unknown kind fails in train_reward.
    sub = getattr(cfg, cfg.kind) if cfg.kind in REWARD_KINDS else None
    device = str(resolve_device(cfg.device))
    metrics = train_reward(
        cfg.kind, cfg.dataset, cfg.out, sub, seed=cfg.seed, progress=cfg.progress, device=device
    )
    print(json.dumps({"out": cfg.out, **metrics}, indent=1))
    return metrics


def main(argv: list[str]) -> None:
    run_stage("train_reward", argv, TrainRewardConfig, run)
