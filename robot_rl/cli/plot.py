"""`robot-rl plot RUN [RUN ...]`: aggregate runs (seeds) into IQM curves with bootstrap CIs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robot_rl.errors import UserError


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="robot-rl plot", description=__doc__)
    p.add_argument("runs", nargs="+", help="run directories (or folders of them, e.g. multirun/x)")
    p.add_argument("--metric", default="eval/success_rate")
    p.add_argument("--out", default="plots/curves.png")
    p.add_argument(
        "--group-by",
        default="method,agent_name,task",
        help="run_config fields that name a group (seeds are pooled)",
    )
    args = p.parse_args(argv)
    runs: list[Path] = []
    for r in map(Path, args.runs):
        found = [d.parent for d in r.rglob("eval.csv")] if r.is_dir() else []
        if not found:
            print(f"robot-rl: error: {r}: no run with an eval.csv found", file=sys.stderr)
            sys.exit(2)
        runs += found
    from robot_rl.analysis import plot_runs

    try:
        table = plot_runs(
            sorted(set(runs)), Path(args.out), args.metric, tuple(args.group_by.split(","))
        )
    except UserError as e:
        print(f"robot-rl: error: {e}", file=sys.stderr)
        sys.exit(2)
    width = max(len(row["group"]) for row in table)
    print(f"{'group':<{width}}  runs  final IQM  mean   95% CI")
    for row in table:
        lo, hi = row["ci95"]
        print(
            f"{row['group']:<{width}}  {row['runs']:>4}  {row['final_iqm']:>9.3f}  "
            f"{row['final_mean']:.3f}  [{lo:.3f}, {hi:.3f}]"
        )
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')}")
