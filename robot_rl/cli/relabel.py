"""`robot-rl relabel dataset=DIR reward=CKPT`: add `reward.<name>`, leaving other columns alone."""

from __future__ import annotations

from dataclasses import dataclass

from robot_rl.cli.hydra_app import run_stage


@dataclass
class RelabelConfig:
    dataset: str = "???"
    reward: str = "???"  # a reward checkpoint directory (robot-rl train-reward)
    name: str | None = None  # column name; default: the checkpoint directory's name
    batch_size: int = 512
    device: str = "auto"
    progress: bool = True


def run(cfg: RelabelConfig) -> str:
    from robot_rl.rewards.relabel import relabel_dataset
    from robot_rl.training.device import resolve_device

    col = relabel_dataset(
        cfg.dataset, cfg.reward, cfg.name, cfg.batch_size, cfg.progress, resolve_device(cfg.device)
    )
    print(f"{cfg.dataset}: added column {col}")
    return col


def main(argv: list[str]) -> None:
    run_stage("relabel", argv, RelabelConfig, run)
