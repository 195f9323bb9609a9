"""Benchmark (issue 4): sample efficiency of online fine-tuning, WSRL / RLPD / SAC / Cal-QL.

FetchPush (and FetchPickAndPlace with --tasks), state observations, the simulator's sparse
reward. Offline data: a small noisy mixture (MIXTURE, --episodes episodes) from `robot-rl
collect`. Per seed, Cal-QL is pre-trained on it (`robot-rl pretrain agent=calql`), then:

- wsrl:  init from that Cal-QL checkpoint, frozen-policy warm-up, no offline data kept;
- rlpd:  from scratch, 50/50 offline/online batches;
- sac:   from scratch, online data only;
- calql: init from the checkpoint, Cal-QL's own losses, offline data kept (50/50).

Every run is `robot-rl finetune method=...` in a subprocess (the real CLI and presets), with
this machine's compute budget applied to the SAC-based methods (--num-qs critics, min over 2,
UTD --utd, batch 256). Success is evaluated every --eval-every env steps; the table gives the
final success, the first step at 90% success, the wall-clock to it, and WSRL's dip (the
pre-trained policy's success minus the lowest success in the first quarter of fine-tuning).
The plot shows IQM and 95% bootstrap bands over seeds (`robot_rl.analysis.plot_runs`).

    python scripts/bench_finetune.py --quick           # ~3 minutes: same code, tiny budgets
    python scripts/bench_finetune.py --jobs 2          # the benchmark (hours on 2 cores)
    python scripts/bench_finetune.py --pixels          # one 64 px run of --pixel-method
    python scripts/bench_finetune.py --tasks drawer --methods rlpd,sac \
        --set agent.init_temperature=1.0 --tag temperature1   # a control arm, kept apart

Finished runs are kept: a re-run after a kill skips them (and `robot-rl finetune` itself resumes
an interrupted run from its checkpoint).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

MIXTURE = "expert:0.2+noisy0.3:0.5+play:0.3"
METHODS = ("wsrl", "rlpd", "sac", "calql")
FULL = {
    "episodes": 40, "pretrain_steps": 3000, "env_steps": 20_000, "eval_every": 1000,
    "eval_episodes": 20, "warmup": 2000, "seeds": 3, "num_qs": 4, "utd": 2,
    "pixel_batch": 128,
}  # fmt: skip
QUICK = {
    "episodes": 8, "pretrain_steps": 100, "env_steps": 300, "eval_every": 150,
    "eval_episodes": 3, "warmup": 100, "seeds": 1, "num_qs": 4, "utd": 2,
    "pixel_batch": 32,
}  # fmt: skip


def read_csv_rows(path: Path) -> list[dict[str, float]]:
    with open(path) as f:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def read_eval(run: Path) -> list[dict[str, float]]:
    return read_csv_rows(run / "eval.csv")


def init_dir(u: dict[str, Any]) -> Path:
    return Path(u["root"]) / "pretrain" / f"{u['task']}-{u['obs']}-calql-s{u['seed']}"


def pretrain_unit(u: dict[str, Any]) -> dict[str, Any]:
    """Cal-QL pre-training for one (task, obs, seed): the init of wsrl and calql. Re-running a
    finished one is cheap: `robot-rl pretrain` sees the complete checkpoint and stops."""
    b, out = u["budget"], init_dir(u)
    try:
        bc.cli(
            [
                # LayerNorm critics: WSRL's SAC critics have it, so its init must too.
                "pretrain", "agent=calql", "agent.layer_norm=true", f"dataset={u['dataset']}",
                f"out={out}",
                f"steps={b['pretrain_steps']}", f"seed={u['seed']}", "progress=false",
                f"eval.episodes={b['eval_episodes']}", "eval.every=0", "eval.video=false",
                f"checkpoint_every={b['pretrain_steps']}",
            ],
            u["threads"], Path(u["root"]) / "logs" / f"{out.name}.log",
        )  # fmt: skip
        success = read_eval(out)[-1]["eval/success_rate"]
        return {"summary": f"pre-trained Cal-QL success {success:.2f}", "success": success}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def run_unit(u: dict[str, Any]) -> dict[str, Any]:
    """One fine-tuning run."""
    b = u["budget"]
    try:
        init = init_dir(u)
        args = [
            "finetune", f"method={u['method']}", f"out={u['out']}", f"seed={u['seed']}",
            f"task={u['task']}", f"obs={u['obs']}", f"env_steps={b['env_steps']}",
            f"eval.every={b['eval_every']}", f"eval.episodes={b['eval_episodes']}",
            "eval.video=false", "progress=false", "save_episodes=false",
            f"checkpoint_every={b['env_steps'] // 2}",
            f"log_every={min(500, max(1, b['env_steps'] // 4))}",
        ]  # fmt: skip
        if u.get("retry"):
            args.append("overwrite=true")
        if u["method"] in ("wsrl", "calql"):
            args.append(f"init={init}")
        if u["method"] in ("rlpd", "calql"):
            args.append(f"dataset={u['dataset']}")
        if u["method"] == "wsrl":
            args.append(f"warmup_steps={b['warmup']}")
        if u["method"] != "calql":  # the SAC-based methods: this machine's compute budget
            args += [f"agent.num_qs={b['num_qs']}", f"agent.utd_ratio={b['utd']}"]
        if u["obs"] == "pixels":  # ~1 pixel update/s per core at batch 256: smaller, UTD 1
            args += ["agent.utd_ratio=1", f"agent.batch_size={b['pixel_batch']}"]
        args += u["set"]  # --set: last, so it overrides the budget's settings
        t0 = time.perf_counter()
        bc.cli(args, u["threads"], Path(u["root"]) / "logs" / f"{u['name']}.log")
        rows = read_eval(Path(u["out"]))
        train_csv = Path(u["out"]) / "train.csv"
        last_train = read_csv_rows(train_csv)[-1] if train_csv.exists() else {}
        result = {
            "curve": [(int(r["step"]), r["eval/success_rate"]) for r in rows],
            "elapsed": [r.get("time/elapsed_s") for r in rows],
            "seconds": time.perf_counter() - t0,
            # Where the values went: a soft Q far above the 0/1 return is mostly entropy bonus.
            "final_q_mean": last_train.get("q/mean"),
            "final_entropy": last_train.get("actor/entropy"),
        }
        result["summary"] = f"final success {result['curve'][-1][1]:.2f}"
    except Exception as e:  # reported in the table, not fatal to the benchmark
        result = {"error": f"{type(e).__name__}: {e}"}
    bc.atomic_write_json(Path(u["result"]), {**u, **result})
    return result


def first_at(curve: list, elapsed: list, level: float) -> tuple[int | None, float | None]:
    for (step, v), t in zip(curve, elapsed):
        if v >= level:
            return step, t
    return None, None


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for r in results:
        g = groups.setdefault(f"{r['task']}/{r['obs']}/{r['method']}", {"runs": [], "errors": []})
        if "error" in r:
            g["errors"].append(r["error"][-300:])
            continue
        step90, t90 = first_at(r["curve"], r["elapsed"], 0.9)
        vals = [v for _, v in r["curve"]]
        quarter = [v for s, v in r["curve"] if 0 < s <= r["budget"]["env_steps"] // 4]
        g["runs"].append(
            {
                "seed": r["seed"], "final": vals[-1], "start": vals[0], "step_to_90": step90,
                "seconds_to_90": t90, "dip": vals[0] - min(quarter) if quarter else None,
                "run_seconds": r["seconds"], "final_q_mean": r.get("final_q_mean"),
                "final_entropy": r.get("final_entropy"),
            }
        )  # fmt: skip
    for g in groups.values():
        runs = g["runs"]
        g["final_mean"] = float(np.mean([x["final"] for x in runs])) if runs else None
        g["start_mean"] = float(np.mean([x["start"] for x in runs])) if runs else None
        hits = [x for x in runs if x["step_to_90"] is not None]
        g["reached_90"] = f"{len(hits)}/{len(runs)}"
        g["median_step_to_90"] = float(np.median([x["step_to_90"] for x in hits])) if hits else None
        g["median_minutes_to_90"] = (
            float(np.median([x["seconds_to_90"] for x in hits])) / 60 if hits else None
        )
        dips = [x["dip"] for x in runs if x["dip"] is not None]
        g["max_dip"] = float(max(dips)) if dips else None
        for key in ("final_q_mean", "final_entropy"):
            vals = [x[key] for x in runs if x.get(key) is not None]
            g[key] = float(np.mean(vals)) if vals else None
    return groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed (~3 min)")
    ap.add_argument("--tasks", default="push")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--env-steps", type=int)
    ap.add_argument("--warmup", type=int, help="WSRL's frozen-policy warm-up steps")
    ap.add_argument("--eval-every", type=int, help="env steps between evaluations")
    ap.add_argument("--num-qs", type=int, help="critics of the SAC-based methods")
    ap.add_argument("--utd", type=int, help="critic updates per env step (SAC-based methods)")
    ap.add_argument("--pixels", action="store_true", help="also one 64 px run of --pixel-method")
    ap.add_argument("--pixel-method", default="rlpd")
    ap.add_argument("--pixel-env-steps", type=int, default=3000)
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (one thread each if > 1)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra override for every fine-tuning run (repeatable)",
    )
    ap.add_argument(
        "--tag",
        default="",
        help="name of a variant (e.g. with --set): its runs "
        "and bench_finetune_<tag>.json are kept apart from the default's",
    )
    ap.add_argument("--out", default="runs/bench_finetune")
    args = ap.parse_args()

    b = dict(QUICK if args.quick else FULL)
    for key, val in (("seeds", args.seeds), ("env_steps", args.env_steps),
                     ("num_qs", args.num_qs), ("utd", args.utd), ("warmup", args.warmup),
                     ("eval_every", args.eval_every)):  # fmt: skip
        if val is not None:
            b[key] = val
    methods = [m for m in args.methods.split(",") if m]
    if set(methods) - set(METHODS):
        raise SystemExit(f"--methods: unknown {sorted(set(methods) - set(METHODS))}")
    bad = [kv for kv in args.set if "=" not in kv]
    if bad:
        raise SystemExit(f"--set: expected KEY=VALUE, got {bad}")
    if args.tag and not args.tag.replace("-", "").replace("_", "").isalnum():
        raise SystemExit(f"--tag {args.tag!r}: letters, digits, - and _ only")
    root = Path(args.out) / ("quick" if args.quick else "full") / (args.tag or "default")
    threads = 1 if args.jobs > 1 else bc.THREADS
    info = bc.machine_info()

    from robot_rl.envs.collect import collect

    units = []
    for task in [t for t in args.tasks.split(",") if t]:
        obs_modes = ["state"] + (["pixels"] if args.pixels else [])
        for obs in obs_modes:
            data = root / "data" / f"{task}-{obs}"
            collect(task, data, b["episodes"], MIXTURE, obs="state" if obs == "state" else "both",
                    workers=2, seed=0, progress=False)  # fmt: skip
            for seed in range(b["seeds"] if obs == "state" else 1):
                for method in methods if obs == "state" else [args.pixel_method]:
                    ub = dict(b)
                    if obs == "pixels":
                        ub["env_steps"] = 60 if args.quick else args.pixel_env_steps
                        ub["eval_every"] = ub["env_steps"] // (2 if args.quick else 5)
                    name = f"{task}-{obs}-{method}-s{seed}"
                    units.append({
                        "name": name, "task": task, "obs": obs, "method": method, "seed": seed,
                        "dataset": str(data), "root": str(root), "out": str(root / "runs" / name),
                        "result": str(root / "results" / f"{name}.json"), "budget": ub,
                        "threads": threads, "set": list(args.set),
                    })  # fmt: skip
    todo, results = [], []
    for u in units:
        p = Path(u["result"])
        if p.exists() and "error" not in json.loads(p.read_text()):
            results.append(json.loads(p.read_text()))
        else:  # a unit that failed before starts afresh; an interrupted one resumes
            todo.append({**u, "retry": p.exists()})
    todo.sort(key=lambda u: (u["method"] == "calql", u["obs"] == "pixels"))  # slowest last
    print(f"{len(units)} runs, {len(todo)} to do; budget {b}")
    inits = {init_dir(u): u for u in todo if u["method"] in ("wsrl", "calql")}
    pre = bc.run_units([{**u, "name": p.name} for p, u in inits.items()], pretrain_unit, args.jobs)
    results += bc.run_units(todo, run_unit, args.jobs)
    groups = summarize(results)

    rows = []
    for key, g in sorted(groups.items()):
        task, obs, method = key.split("/")
        err = f"{len(g['errors'])} failed: {g['errors'][0][:60]}" if g["errors"] else ""
        rows.append([
            task, obs, method, len(g["runs"]), bc.fmt(g["start_mean"], 2),
            bc.fmt(g["final_mean"], 2), g["reached_90"], bc.fmt(g["median_step_to_90"], 0),
            bc.fmt(g["median_minutes_to_90"], 1), bc.fmt(g["max_dip"], 2),
            bc.fmt(g["final_q_mean"], 2), bc.fmt(g["final_entropy"], 2), err,
        ])  # fmt: skip
    bc.print_table(
        f"Online fine-tuning, {b['env_steps']} env steps, {b['eval_episodes']} eval episodes",
        ["task", "obs", "method", "seeds", "start", "final", "reached 90%", "step to 90%",
         "min to 90%", "max dip", "Q mean", "entropy", "errors"],
        rows,
    )  # fmt: skip
    from robot_rl.analysis import plot_runs

    runs = [Path(r["out"]) for r in results if "error" not in r]
    name = "finetune" + (f"_{args.tag}" if args.tag else "") + ("_quick" if args.quick else "")
    plot_path = bc.RESULTS / f"bench_{name.replace('finetune', 'finetune_curves', 1)}.png"
    table = plot_runs(runs, plot_path, group_by=("method", "task", "obs")) if runs else []
    bc.write_json(
        name,
        {
            "quick": args.quick,
            "budget": b,
            "tasks": args.tasks,
            "overrides": args.set,
            "mixture": MIXTURE,
            "init": "Cal-QL pre-trained on the same data, per seed (wsrl, calql)",
            "pretrained_calql": {r["name"]: r.get("success", r.get("error")) for r in pre},
            "groups": groups,
            "iqm_table": table,
            "plot": str(plot_path),
            "machine": info,
        },
    )


if __name__ == "__main__":
    main()
