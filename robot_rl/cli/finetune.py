"""`robot-rl finetune`: online fine-tuning (see configs/finetune.yaml, configs/method/)."""

from __future__ import annotations

from robot_rl.cli.hydra_app import register_agents, run_stage
from robot_rl.training.online import FinetuneConfig, finetune


def main(argv: list[str]) -> None:
    run_stage(
        "finetune",
        argv,
        FinetuneConfig,
        finetune,
        register_agents,
        {"agent": "agent_name", "method": "method"},
    )
