"""`robot-rl evaluate ckpt=RUN_DIR`: success rate and return of a checkpoint, with a video."""

from __future__ import annotations

from dataclasses import dataclass

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
    from robot_rl.training.evaluate import evaluate_checkpoint

    return evaluate_checkpoint(
        cfg.ckpt, cfg.episodes, cfg.seed, cfg.task, cfg.video, cfg.video_size, cfg.device
    )


def main(argv: list[str]) -> None:
    run_stage("evaluate", argv, EvaluateConfig, run)
