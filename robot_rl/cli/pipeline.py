"""`robot-rl pipeline`: the whole chain on a default task (see robot_rl/pipeline.py)."""

from __future__ import annotations

from robot_rl.cli.hydra_app import run_stage
from robot_rl.pipeline import PipelineConfig, run_pipeline


def main(argv: list[str]) -> None:
    run_stage("pipeline", argv, PipelineConfig, run_pipeline)
