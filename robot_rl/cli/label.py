"""`robot-rl label`: goal frames or preference pairs, by a human in the local web app or by a
synthetic labeller that reads the simulator (see `robot_rl.labeling.run`)."""

from __future__ import annotations

from robot_rl.cli.hydra_app import run_stage
from robot_rl.labeling.run import LabelConfig, label


def main(argv: list[str]) -> None:
    run_stage("label", argv, LabelConfig, label)
