"""Benchmark (issue 16): online fine-tuning on the hard tasks, from small mixed data.

Per task, one dataset of at most 50 episodes from a scripted mixture whose own success rate is
at most 40% (MIXTURES; the measured rate is in the JSON), state observations, the simulator's
sparse reward. Arms, side by side in one run, each `robot-rl pretrain` then `robot-rl finetune`
in a subprocess (the real CLI and presets), one thread a run:

- default: the recipe `robot-rl finetune` defaults to: RLPD (50% offline rows in every critic
           minibatch, LayerNorm critics, min of a random 2) at this CPU's budget, 4 critics, UTD 2;
- rlpd128: the default with 128-unit networks instead of 256 (about 45% cheaper updates);
- wsrl:    Cal-QL (LayerNorm critics, 4 sampled actions per sampler: the affordable Cal-QL) ->
           WSRL (frozen-policy warm-up, no offline data kept), the same 4 critics and UTD 2;
- iql:     the previous default, IQL -> IQL with the offline data kept, at its old budget;
- sb3:     what a user would pick first: Stable-Baselines3 SAC (+ HER on goal tasks) from
           scratch, no data, the same env steps (scripts/peer_sb3.py; SB3 is installed into
           .bench-deps/sb3 for the benchmark only, never into the project's environment).

Success is evaluated on 50 episodes every --eval-every env steps. The table gives the pre-trained
and final success, the first step and minute at 90%, and the deepest dip below the pre-trained
policy in the first quarter of fine-tuning. The plot shows IQM and 95% bootstrap bands over
seeds against env steps and against wall-clock.

    python scripts/bench_learning.py --quick            # ~3 minutes: same code, tiny budgets
    python scripts/bench_learning.py --jobs 2           # the benchmark (hours on 2 cores)
    python scripts/bench_learning.py --tasks zone --seeds 1 --arm-seeds default=3 --jobs 2

Finished runs are kept: a re-run after a kill skips them, and an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402
import bench_finetune as bf  # noqa: E402

# At most 40% of each mixture's episodes succeed (measured at collection, stored in the JSON).
MIXTURES = {
    "push": "expert:0.2+noisy0.3:0.2+play:0.6",
    "pick_and_place": "expert:0.2+noisy0.3:0.2+play:0.6",
    "zone": "expert:0.2+noisy0.3:0.2+play:0.6",
}
# arm -> (pre-training agent and its overrides, fine-tuning overrides)
ARMS: dict[str, tuple[str | None, list[str], list[str]]] = {
    "default": (None, [], ["method=rlpd"]),
    # The same recipe with networks of 128 units instead of 256 (~45% cheaper updates on this
    # CPU): whether the 20-minute budget is better spent on more steps than on wider layers.
    "rlpd128": (None, [], ["method=rlpd", "agent.hidden_dims=[128,128]"]),
    "wsrl": ("calql", ["agent.layer_norm=true", "agent.cql_n_actions=4"], ["method=wsrl"]),
    "iql": ("iql", ["agent.expectile=0.9", "agent.beta=10"], ["method=iql"]),
    "sb3": (None, [], []),
}
SB3 = ["stable-baselines3==2.9.2", "pandas", "pytz"]  # SB3's needs that the venv lacks
SB3_DIR = bc.ROOT / ".bench-deps" / "sb3"
FULL = {
    "episodes": 50, "env_steps": 24_000, "eval_every": 3000, "eval_episodes": 50, "seeds": 3,
    "pretrain_steps": 3000, "warmup": 2000, "num_qs": 4, "utd": 2, "old_env_steps": 3000,
}  # fmt: skip
QUICK = {
    "episodes": 8, "env_steps": 300, "eval_every": 150, "eval_episodes": 5, "seeds": 1,
    "pretrain_steps": 60, "warmup": 100, "num_qs": 4, "utd": 2, "old_env_steps": 150,
}  # fmt: skip


def data_success(path: Path) -> float:
    from robot_rl.data import Dataset

    ds = Dataset(path)
    return float(np.mean([ds.load(i).success.any() for i in ds.episode_ids]))


def pretrain(u: dict[str, Any], agent: str, extra: list[str]) -> Path:
    b, out = u["budget"], Path(u["root"]) / "pretrain" / f"{u['task']}-{u['arm']}-s{u['seed']}"
    if agent == "filtered_bc":  # keep the successful share of the episodes
        extra = [*extra, f"agent.top_fraction={max(u['data_success'], 0.05):.3f}"]
    bc.cli(
        ["pretrain", f"agent={agent}", f"dataset={u['dataset']}", f"out={out}",
         f"steps={b['pretrain_steps']}", f"seed={u['seed']}", "progress=false",
         "eval.episodes=0", "eval.video=false", f"checkpoint_every={b['pretrain_steps']}",
         *extra],
        u["threads"], Path(u["root"]) / "logs" / f"{out.name}-pretrain.log",
    )  # fmt: skip
    return out


def ensure_sb3() -> str:
    """Install SB3 into .bench-deps/sb3 (--no-deps: torch, gymnasium, numpy are ours)."""
    if not (SB3_DIR / "stable_baselines3").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(SB3_DIR), *SB3], check=True)  # fmt: skip
    return SB3[0]


def run_sb3(u: dict[str, Any]) -> None:
    b, log = u["budget"], Path(u["root"]) / "logs" / f"{u['name']}.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SB3_DIR)}
    cmd = [sys.executable, str(bc.ROOT / "scripts" / "peer_sb3.py"), "--task", u["task"],
           "--steps", str(b["env_steps"]), "--eval-every", str(b["eval_every"]),
           "--eval-episodes", str(b["eval_episodes"]), "--seed", str(u["seed"]),
           "--out", u["out"]]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        if subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode:
            raise RuntimeError(f"peer_sb3.py failed (log {log}):\n{log.read_text()[-1500:]}")


def run_unit(u: dict[str, Any]) -> dict[str, Any]:
    """Pre-training (if the arm has one) and fine-tuning of one (task, arm, seed)."""
    b, (agent, pre_extra, ft_extra) = u["budget"], ARMS[u["arm"]]
    try:
        t0 = time.perf_counter()
        if u["arm"] == "sb3":
            run_sb3(u)
            return finish(u, t0, 0.0)
        init = pretrain(u, agent, pre_extra) if agent else None
        pre_seconds = time.perf_counter() - t0
        steps = b["old_env_steps"] if u["arm"] == "iql" else b["env_steps"]
        args = [
            "finetune", *ft_extra, f"out={u['out']}", f"seed={u['seed']}", f"task={u['task']}",
            "obs=state", f"env_steps={steps}", f"eval.every={b['eval_every']}",
            f"eval.episodes={b['eval_episodes']}", "eval.video=false", "progress=false",
            "save_episodes=false", f"checkpoint_every={max(steps // 3, 1)}",
            f"log_every={min(500, max(1, steps // 4))}", f"dataset={u['dataset']}",
        ]  # fmt: skip
        if init is not None:
            args.append(f"init={init}")
        if u["arm"] == "wsrl":
            args.append(f"warmup_steps={b['warmup']}")
        if u["arm"] in (
            "default",
            "rlpd128",
            "wsrl",
        ):  # this CPU's ensemble and UTD, the same for both
            args += [f"agent.num_qs={b['num_qs']}", f"agent.utd_ratio={b['utd']}"]
        if u["arm"] == "iql":
            args.append(f"eval.every={max(steps // 3, 1)}")
        bc.cli(args + u["set"], u["threads"], Path(u["root"]) / "logs" / f"{u['name']}.log")
        return finish(u, t0, pre_seconds)
    except Exception as e:  # reported in the table, not fatal to the benchmark
        result = {"error": f"{type(e).__name__}: {e}"}
        bc.atomic_write_json(Path(u["result"]), {**u, **result})
        return result


def finish(u: dict[str, Any], t0: float, pre_seconds: float) -> dict[str, Any]:
    """The run's curve from its eval.csv, saved as the unit's result."""
    rows = bf.read_eval(Path(u["out"]))
    result: dict[str, Any] = {
        "curve": [(int(r["step"]), r["eval/success_rate"]) for r in rows],
        # wall-clock from the start of pre-training: what a user waits for
        "elapsed": [pre_seconds + (r.get("time/elapsed_s") or 0.0) for r in rows],
        "seconds": time.perf_counter() - t0,
        "pretrain_seconds": pre_seconds,
    }
    result["summary"] = (
        f"pre-trained {result['curve'][0][1]:.2f} -> final {result['curve'][-1][1]:.2f} "
        f"in {result['seconds'] / 60:.1f} min"
    )
    bc.atomic_write_json(Path(u["result"]), {**u, **result})
    return result


def step_profile(run: Path) -> dict[str, float]:
    """Milliseconds per env step of each part of the online loop (perf/*_ms in train.csv),
    averaged over the run's log rows; empty for a run without one (the SB3 peer)."""
    path = run / "train.csv"
    if not path.exists():
        return {}
    rows = bf.read_csv_rows(path)
    keys = sorted({k for r in rows for k in r if k.startswith("perf/") and k.endswith("_ms")})
    return {k[5:-3]: float(np.mean([r[k] for r in rows if k in r])) for k in keys}


def finished(path: Path) -> bool:
    return path.exists() and "error" not in json.loads(path.read_text())


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.analysis import aggregate

    tasks = sorted({r["task"] for r in results})
    fig, axes = plt.subplots(2, len(tasks), figsize=(5 * len(tasks), 7), squeeze=False)
    for j, task in enumerate(tasks):
        for arm in ARMS:
            runs = [r for r in results if r["task"] == task and r["arm"] == arm and "curve" in r]
            if not runs:
                continue
            for i, x_of in enumerate(
                (lambda r: [s for s, _ in r["curve"]], lambda r: [t / 60 for t in r["elapsed"]])
            ):
                curves = [(np.array(x_of(r)), np.array([v for _, v in r["curve"]])) for r in runs]
                a = aggregate(curves)
                ax = axes[i][j]
                ax.plot(a["steps"], a["iqm"], label=f"{arm} (n={a['runs']})")
                ax.fill_between(a["steps"], a["low"], a["high"], alpha=0.2)
        axes[0][j].set(title=task, xlabel="env steps", ylabel="success (IQM)", ylim=(-0.02, 1.02))
        axes[1][j].set(xlabel="wall-clock minutes (pre-training included)", ylabel="success (IQM)")
        axes[1][j].set_ylim(-0.02, 1.02)
        axes[0][j].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed (~3 min)")
    ap.add_argument("--tasks", help="default: zone,push,pick_and_place (--quick: zone,push)")
    ap.add_argument("--arms", default="default,wsrl,iql,sb3", help=f"of {','.join(ARMS)}")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--arm-seeds", default="", metavar="ARM=N,...",
                    help="seeds for some arms instead of --seeds, e.g. default=3")  # fmt: skip
    ap.add_argument("--env-steps", type=int)
    ap.add_argument("--eval-every", type=int)
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (one thread each)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra finetune override for every run (repeatable)")  # fmt: skip
    ap.add_argument("--out", default="runs/bench_learning")
    ap.add_argument("--tag", default="", help="write bench_learning_<tag>.json (another budget)")
    args = ap.parse_args()
    bc.cleanup_on_sigterm()

    b = dict(QUICK if args.quick else FULL)
    for key, val in (("seeds", args.seeds), ("env_steps", args.env_steps),
                     ("eval_every", args.eval_every)):  # fmt: skip
        if val is not None:
            b[key] = val
    task_list = args.tasks or ("zone,push" if args.quick else "zone,push,pick_and_place")
    arms, tasks = [a for a in args.arms.split(",") if a], [t for t in task_list.split(",") if t]
    for name, got, known in (("--arms", arms, ARMS), ("--tasks", tasks, MIXTURES)):
        if set(got) - set(known):
            raise SystemExit(
                f"{name}: unknown {sorted(set(got) - set(known))}; known {list(known)}"
            )
    try:
        arm_seeds = {k: int(v) for k, v in (x.split("=") for x in args.arm_seeds.split(",") if x)}
    except ValueError:
        raise SystemExit(f"--arm-seeds {args.arm_seeds!r}: expected ARM=N,... e.g. default=3")
    root = Path(args.out) / ("quick" if args.quick else "full")
    if args.quick:  # measured afresh each time, never resumed from an older quick run
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    info = bc.machine_info()

    from robot_rl.envs.collect import collect

    units, data = [], {}
    for task in tasks:
        path = root / "data" / task
        collect(task, path, b["episodes"], MIXTURES[task], obs="state", workers=2, seed=0,
                progress=False)  # fmt: skip
        data[task] = {"mixture": MIXTURES[task], "episodes": b["episodes"],
                      "success": data_success(path)}  # fmt: skip
        for arm in arms:
            for seed in range(arm_seeds.get(arm, b["seeds"])):
                name = f"{task}-{arm}-s{seed}"
                units.append({
                    "name": name, "task": task, "arm": arm, "method": arm, "obs": "state",
                    "seed": seed, "dataset": str(path), "data_success": data[task]["success"],
                    "root": str(root), "out": str(root / "runs" / name),
                    "result": str(root / "results" / f"{name}.json"), "budget": b,
                    "threads": 1, "set": list(args.set),
                })  # fmt: skip
    todo = [u for u in units if not finished(Path(u["result"]))]
    longest_first = ["wsrl", "default", "rlpd128", "sb3", "iql"]
    todo.sort(key=lambda u: longest_first.index(u["arm"]))
    peer = ensure_sb3() if "sb3" in arms else None
    print(f"{len(units)} runs, {len(todo)} to do; budget {b}; data {data}")
    bc.run_units(todo, run_unit, args.jobs)
    # Every finished run under this root with this budget, also those of earlier invocations
    # with other --arms / --tasks / --seeds: the grid can be filled in several calls.
    results = [json.loads(p.read_text()) for p in sorted((root / "results").glob("*.json"))]
    results = [r for r in results if r.get("budget") == b]
    data = {r["task"]: data.get(r["task"]) or {"mixture": MIXTURES[r["task"]],
            "success": r["data_success"]} for r in results}  # fmt: skip
    groups = bf.summarize(results)
    for key, g in groups.items():  # where an env step's time goes, averaged over the seeds
        task, _, arm = key.split("/")
        profiles = [step_profile(Path(r["out"])) for r in results
                    if r["task"] == task and r["arm"] == arm and "curve" in r]  # fmt: skip
        profiles = [p for p in profiles if p]
        g["ms_per_step"] = (
            {k: float(np.mean([p[k] for p in profiles])) for k in profiles[0]} if profiles else {}
        )

    rows = []
    for key, g in sorted(groups.items()):
        task, _, arm = key.split("/")
        err = f"{len(g['errors'])} failed: {g['errors'][0][:60]}" if g["errors"] else ""
        rows.append([
            task, arm, len(g["runs"]), bc.fmt(g["start_mean"], 2), bc.fmt(g["final_mean"], 2),
            g["reached_90"], bc.fmt(g["median_step_to_90"], 0),
            bc.fmt(g["median_minutes_to_90"], 1), bc.fmt(g["max_dip"], 2),
            bc.fmt(sum(g["ms_per_step"].values()), 0) if g["ms_per_step"] else "-",
            bc.fmt(g["ms_per_step"].get("update"), 0), err,
        ])  # fmt: skip
    bc.print_table(
        f"Fine-tuning from {b['episodes']} mixed episodes, {b['env_steps']} env steps "
        f"({b['old_env_steps']} for iql), {b['eval_episodes']} eval episodes",
        ["task", "arm", "seeds", "pre-trained", "final", "reached 90%", "step to 90%",
         "min to 90%", "max dip", "ms/step", "update ms", "errors"],
        rows,
    )  # fmt: skip
    name = "learning" + (f"_{args.tag}" if args.tag else "") + ("_quick" if args.quick else "")
    plot_path = bc.RESULTS / f"bench_{name}.png"
    ok = [r for r in results if "curve" in r]
    if ok:
        plot(ok, plot_path)
    bc.write_json(name, {
        "quick": args.quick, "budget": b, "data": data, "overrides": args.set,
        "arms": {a: {"pretrain": ARMS[a][0], "pretrain_overrides": ARMS[a][1],
                     "finetune": ARMS[a][2]} for a in sorted({r["arm"] for r in results})},
        "groups": groups, "plot": str(plot_path), "machine": info, "peer": peer,
        "runs": [{k: r.get(k) for k in ("name", "curve", "elapsed", "seconds", "error")}
                 for r in results],
    })  # fmt: skip


if __name__ == "__main__":
    main()
