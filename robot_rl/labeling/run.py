"""Labelling a dataset: goal frames or preference pairs, by a human in the local web app or by a
synthetic labeller that reads the simulator (so the pipeline runs with nobody at the keyboard).
`robot-rl label` and the pipeline both call `label`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robot_rl.errors import UserError


@dataclass
class LabelConfig:
    dataset: str = "???"
    mode: str = "goals"  # goals | preferences
    labeller: str = "web"  # web (a human in the browser) | synthetic
    # web app
    port: int = 8765
    host: str = "127.0.0.1"
    open_browser: bool = True
    pairs_file: str | None = None  # preference queries to ask (from query selection)
    segment_length: int = 25
    # goals mode: the one folder outside the dataset the page may import goal images from
    goals_from: str | None = None
    # synthetic labeller
    positives: int = 200  # goal frames labelled success (HIL-SERL: ~200)
    negatives: int = 600  # and 3x as many others
    label_noise: float = 0.0  # probability a synthetic goal label is flipped
    queries: int = 200  # preference pairs labels/preferences.json should hold (web: the queue)
    teacher: str = "oracle"  # oracle | noisy | mistake | skip | equal | myopic (B-Pref) | goal
    query_method: str = "uniform"  # uniform | disagreement | entropy
    model_steps: int = 500  # disagreement / entropy: ensemble training steps per query round
    seed: int = 0


def label(cfg: LabelConfig) -> dict[str, Any] | None:
    """Label ``cfg.dataset``; the synthetic labeller returns what the label files now hold."""
    if cfg.mode not in ("goals", "preferences"):
        raise UserError(f"mode={cfg.mode!r}: must be goals or preferences")
    if cfg.labeller == "web":
        from robot_rl.labeling.server import serve

        serve(
            cfg.dataset,
            cfg.mode,
            cfg.host,
            cfg.port,
            cfg.open_browser,
            "human",
            cfg.pairs_file,
            segment_length=cfg.segment_length,
            num_pairs=cfg.queries,
            seed=cfg.seed,
            goals_from=cfg.goals_from,
        )
        return None
    if cfg.labeller != "synthetic":
        raise UserError(f"labeller={cfg.labeller!r}: must be web or synthetic")
    from robot_rl.data import Dataset
    from robot_rl.rewards.train import (
        default_preference_config,
        synthetic_goal_labels,
        synthetic_preferences,
    )

    if cfg.mode == "goals":
        out = synthetic_goal_labels(
            cfg.dataset, cfg.positives, cfg.negatives, cfg.label_noise, cfg.seed
        )
    else:
        spec = Dataset(cfg.dataset).meta.obs_spec
        model = default_preference_config(
            spec, segment_length=cfg.segment_length, steps=cfg.model_steps
        )
        out = synthetic_preferences(
            cfg.dataset, cfg.queries, cfg.teacher, cfg.query_method, cfg=model, seed=cfg.seed
        )
    print(f"labelled {cfg.dataset}: {out}")
    return out
