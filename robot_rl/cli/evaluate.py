"""`robot-rl evaluate ckpt=RUN_DIR`: success rate and return of a checkpoint, with a video."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from robot_rl.cli.hydra_app import run_stage


@dataclass
class EvaluateConfig:
    ckpt: str = "???"  # a run directory or its checkpoint/ directory
    episodes: int = 20
    seed: int = 0
    task: str | None = None  # default: the checkpoint's task
    video: bool = True
    video_size: int = 128
    device: str = "auto"


def run(cfg: EvaluateConfig) -> dict[str, float]:
    from robot_rl.training.checkpoint import load_agent
    from robot_rl.training.device import resolve_device
    from robot_rl.training.evaluate import evaluate
    from robot_rl.training.io import atomic_write_json

    agent, info = load_agent(cfg.ckpt, resolve_device(cfg.device))
    out = info.path.parent
    video = out / "videos" / "evaluate.mp4" if cfg.video else None
    m = evaluate(
        agent,
        cfg.task or info.task,
        info.obs_mode,
        info.image_size,
        cfg.episodes,
        cfg.seed,
        video,
        cfg.video_size,
    )
    atomic_write_json(out / "evaluation.json", {**m, "episodes": cfg.episodes, "seed": cfg.seed})
    print(json.dumps(m, indent=1))
    if video is not None:
        print(f"video: {Path(video)}")
    return m


def main(argv: list[str]) -> None:
    run_stage("evaluate", argv, EvaluateConfig, run)
