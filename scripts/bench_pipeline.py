"""The main job, measured: wall-clock of `robot-rl pipeline` (defaults) on this machine and the
simulator's success of its final policy; then the same pipeline on the simulator's reward, for
the success gap of learning the reward.

    python scripts/bench_pipeline.py            # defaults (targets: <= 20 min, >= 80%, +30 pts)
    python scripts/bench_pipeline.py --quick    # tiny budgets: exercises the same code

Each variant runs `robot-rl pipeline` in a subprocess, in a fresh directory (a benchmark must
not reuse artifacts), and the figures are read from the run's summary.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info, print_table, write_json  # noqa: E402

QUICK = [
    "episodes=16",
    "positives=20",
    "negatives=60",
    "classifier_steps=30",
    "workers=2",
    "pretrain_steps=200",
    "env_steps=400",
    "warmup_steps=100",
    "eval_episodes=3",
    "eval_every=200",
    "classifier_every=200",  # online reward-model rounds (VICE/RAQ, PEBBLE) run in quick too
]


def run(out: Path, overrides: list[str], fresh: bool = True) -> dict:
    """One `robot-rl pipeline` in a subprocess; ``fresh=False`` keeps a previous run's finished
    stages (the pipeline skips what is up to date), so an interrupted benchmark resumes."""
    if fresh and out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "robot_rl.cli.main",
            "pipeline",
            f"out={out}",
            "progress=false",
            *overrides,
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"pipeline failed ({out}):\n{p.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    stages = json.loads((out / "stages.json").read_text())
    return {
        "wall_clock_s": round(wall, 1),
        **summary,
        "stage_seconds": {k: v.get("seconds") for k, v in stages.items()},
        **classifier_updates(out),
    }


def classifier_updates(out: Path) -> dict:
    """What the online classifier did in a run (from fine-tuning's train.csv): per update the
    true-positive rate on the successes the policy visited (judged by the simulator), the
    held-out positive rate the guard checks, and how many updates it undid; {} without them."""
    import csv

    logs = sorted(out.glob("finetune-*/train.csv"))
    if not logs or not (out / "reward-classifier").is_dir():
        return {}
    with logs[0].open() as f:
        logged = [r for r in csv.DictReader(f) if r.get("classifier/positive_rate")]
    # a log row repeats the last update's figures until the next update: one row per update
    key = lambda r: tuple(v for k, v in r.items() if k.startswith("classifier/"))  # noqa: E731
    rows = [r for i, r in enumerate(logged) if i == 0 or key(r) != key(logged[i - 1])]
    visited = visited_states(logs[0].parent, out / "reward-classifier", bool(rows))
    if not rows:
        return {"classifier": {"updates_logged": 0, **visited}}
    col = lambda k: [float(r[k]) for r in rows if r.get(k) not in (None, "")]  # noqa: E731
    tpr, pos = col("classifier/visited_success_tpr"), col("classifier/positive_rate")
    return {
        "classifier": {
            "updates_logged": len(rows),
            "visited_success_tpr": {
                "min": min(tpr, default=None), "final": tpr[-1] if tpr else None,
                "rows_below_0.9": sum(t < 0.9 for t in tpr),
            },
            "heldout_positive_rate_min": min(pos),
            "updates_undone": int(sum(col("classifier/rolled_back"))),
            "queries": col("classifier/queries")[-1],
            **visited,
        }
    }  # fmt: skip


def visited_states(run: Path, ckpt: Path, updated: bool) -> dict:
    """The run's final classifier (as the online updates left it, or the frozen one) on every
    state the policy visited: false- and true-positive rates against the simulator, and how
    many online episodes it ended that the simulator says failed."""
    from bench_classifier import visited_stats

    stats = visited_stats(run, ckpt, "updated" if updated else "frozen")
    return {k: stats[k] for k in ("episodes", "classifier_ended", "ended_without_success",
                                  "train_success_rate", "visited_fpr", "visited_tpr")}  # fmt: skip


def measured(out: Path, overrides: list[str], fresh: bool) -> dict:
    """One variant's figures: measured now, or read back from an earlier measurement with the
    same overrides (saved as each variant finishes, so a killed benchmark loses nothing)."""
    saved = out.parent / f"{out.name}.result.json"
    if not fresh and saved.exists():
        doc = json.loads(saved.read_text())
        if doc.get("overrides") == overrides:
            print(f"{out.name}: measured before ({saved}); --fresh to measure again")
            return {**doc["result"], **classifier_updates(out)}  # read from the same run
    result = run(out, overrides)
    write_result(saved, {"overrides": overrides, "result": result})
    return result


def write_result(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="runs/bench_pipeline")
    ap.add_argument("--skip-env-reward", action="store_true", help="only the learned reward")
    ap.add_argument("--tag", default="", help="write bench_pipeline_<tag>.json (a variant)")
    ap.add_argument(
        "--fresh", action="store_true", help="re-measure variants already measured under --out"
    )
    ap.add_argument("overrides", nargs="*", help="extra pipeline overrides, e.g. task=zone")
    args = ap.parse_args()
    extra = (QUICK if args.quick else []) + args.overrides
    root = Path(args.out) / ("quick" if args.quick else "full")
    variants = {"learned": extra, "env": [*extra, "reward=env"]}
    if args.skip_env_reward:
        del variants["env"]
    results = {name: measured(root / name, o, args.fresh) for name, o in variants.items()}
    rows = []
    for name, r in results.items():
        rows.append(
            [
                name,
                r["task"],
                f"{r['wall_clock_s'] / 60:.1f}",
                f"{r['success_pretrained']:.2f}",
                f"{r['success_finetuned']:.2f}",
            ]
        )
    print_table(
        "robot-rl pipeline" + (" (--quick)" if args.quick else ""),
        ["reward", "task", "minutes", "success pre-trained", "success fine-tuned"],
        rows,
    )
    for name, r in results.items():
        if c := r.get("classifier"):
            print(
                f"{name}: final classifier on the {c['episodes']} training episodes' states: "
                f"FPR {c['visited_fpr']:.3f}, TPR {c['visited_tpr']:.2f}; it ended "
                f"{c['classifier_ended']} episodes, {c['ended_without_success']} of them failed"
            )
        if c and c["updates_logged"]:
            t = c["visited_success_tpr"]
            print(f"{name}: online classifier, {c['updates_logged']} updates "
                  f"({c['updates_undone']} undone by the guard), TPR on visited successes "
                  f"min {t['min']} final "
                  f"{t['final']} ({t['rows_below_0.9']} updates below 0.9)")  # fmt: skip
    gap = None
    if "env" in results:
        gap = results["env"]["success_finetuned"] - results["learned"]["success_finetuned"]
        print(f"success gap (simulator reward - learned reward): {gap:+.2f}")
    learned = results["learned"]
    rise = learned["success_finetuned"] - learned["success_pretrained"]
    print(
        f"targets: wall-clock <= 20 min (got {learned['wall_clock_s'] / 60:.1f}), "
        f"final success >= 0.80 (got {learned['success_finetuned']:.2f}), "
        f"fine-tuning lifts success >= 0.30 over the pre-trained policy (got {rise:+.2f})"
    )
    write_json(
        "pipeline" + (f"_{args.tag}" if args.tag else "") + ("_quick" if args.quick else ""),
        {
            "quick": args.quick,
            "overrides": extra,
            "results": results,
            "success_gap": gap,
            "rise_over_pretrained": rise,
            "machine": machine_info(),
            "targets": {"minutes": 20, "success": 0.8, "rise": 0.3},
        },
    )


if __name__ == "__main__":
    main()
