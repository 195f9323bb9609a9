"""`robot-rl pretrain`: offline pre-training (see configs/pretrain.yaml)."""

from __future__ import annotations

from robot_rl.cli.hydra_app import register_agents, run_stage
from robot_rl.training.offline import PretrainConfig, pretrain


def main(argv: list[str]) -> None:
    run_stage("pretrain", argv, PretrainConfig, pretrain, register_agents, {"agent": "agent_name"})
