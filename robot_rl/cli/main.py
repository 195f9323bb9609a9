"""`robot-rl`: one command per pipeline stage."""

from __future__ import annotations

import importlib
import sys

STAGES = {
    "collect": ("collect", "collect episodes with scripted or learned policies into a dataset"),
    "show": ("show", "write an mp4 and a PNG contact sheet of chosen episodes"),
    "dataset": ("dataset", "dataset tools: check DIR | export-minari | import-minari"),
    "label": ("label", "label goal frames or preference pairs in a local web app"),
    "train-reward": ("train_reward", "train a goal classifier or a preference reward model"),
    "relabel": ("relabel", "add a learned reward column to a dataset"),
    "pretrain": ("pretrain", "offline pre-training: bc, filtered_bc, iql, cql, calql"),
    "finetune": ("finetune", "online fine-tuning: rlpd, wsrl, sac, calql, iql, cql"),
    "evaluate": ("evaluate", "evaluate a checkpoint in the simulator (success rate, video)"),
    "pipeline": ("pipeline", "the whole chain on a default task, resumable, with a report"),
    "plot": ("plot", "aggregate runs into curves (IQM, bootstrap CIs) and tables"),
}

USAGE = """usage: robot-rl <stage> [key=value ...]   (Hydra overrides; `robot-rl <stage> --help`)

Stages, in pipeline order:
{stages}

Examples:
  robot-rl collect task=push episodes=200 mixture=expert:0.3+noisy0.3:0.4+play:0.3
  robot-rl pretrain agent=calql dataset=data/push
  robot-rl finetune method=wsrl init=runs/pretrain-calql-s0
  robot-rl pipeline                       # everything, on the default task
"""


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        width = max(map(len, STAGES))
        print(USAGE.format(stages="\n".join(f"  {k:<{width}}  {v[1]}" for k, v in STAGES.items())))
        return
    if argv[0] in ("-V", "--version"):
        from robot_rl import __version__

        print(f"robot-rl {__version__}")
        return
    stage = argv[0]
    if stage not in STAGES:
        print(
            f"robot-rl: error: unknown stage {stage!r}; stages: {', '.join(STAGES)}",
            file=sys.stderr,
        )
        sys.exit(2)
    module = importlib.import_module(f"robot_rl.cli.{STAGES[stage][0]}")
    module.main(argv[1:])


if __name__ == "__main__":
    main()
