"""Benchmark (issue 3): what offline pre-training achieves, ours against d3rlpy on the same data.

For each task (FetchPush, FetchPickAndPlace; state observations, simulator sparse reward) one
mixed dataset is collected with the project's scripted behaviours (`robot-rl collect`, mixture
below). On it, BC, filtered BC, IQL, CQL and Cal-QL are pre-trained with `robot-rl pretrain`'s
loop (defaults of each agent), and d3rlpy 2.8.1's IQL and CQL (same network sizes, batch,
discount and algorithm settings: expectile 0.7 / temperature 3; CQL weight 5 fixed, 10 sampled
actions) for the same number of updates on the same transitions. Every policy is evaluated by
this project's evaluator (deterministic actions, 50 episodes, seeds disjoint from the data's) at
a few points during training, which gives success against updates.

Also: IQL on 64 px pixels against IQL on state on one task, same budget.

    python scripts/bench_offline_quality.py --quick        # ~3 minutes: same code, tiny budgets
    python scripts/bench_offline_quality.py --jobs 2       # the full benchmark (hours on 2 cores)

Runs are independent units (task x method x seed) whose results are saved as they finish: a
re-run after a kill skips the finished ones. `--jobs 2` runs two units at once, one thread each.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

MIXTURE = "expert:0.3+noisy0.3:0.4+play:0.3"
OURS = ("bc", "filtered_bc", "iql", "cql", "calql")
THEIRS = ("d3rlpy_iql", "d3rlpy_cql")
FULL = {"episodes": 300, "steps": 2000, "evals": 4, "eval_episodes": 50, "seeds": 3}
FULL_PIXELS = {"steps": 1000, "seeds": 1}  # ~1 pixel update/s per core: one seed, fewer updates
QUICK = {"episodes": 16, "steps": 150, "evals": 2, "eval_episodes": 5, "seeds": 1}
QUICK_PIXELS = {"steps": 30, "seeds": 1}


# ---- units: one (task, method, seed) training run, evaluated along the way ---------------------
def run_ours(u: dict[str, Any]) -> dict[str, Any]:
    from robot_rl.agents import default_config
    from robot_rl.training.evaluate import EvalConfig
    from robot_rl.training.logger import LoggerConfig
    from robot_rl.training.offline import PretrainConfig, pretrain

    cfg = PretrainConfig(
        dataset=u["dataset"],
        agent_name=u["algo"],
        agent=default_config(u["algo"]),
        obs=u["obs"],
        steps=u["steps"],
        seed=u["seed"],
        device="cpu",
        out=u["out"],
        log_every=max(1, u["steps"] // 10),
        checkpoint_every=u["steps"],
        eval=EvalConfig(every=u["steps"] // u["evals"], episodes=u["eval_episodes"], video=False),
        logger=LoggerConfig(),
        progress=False,
    )
    t0 = time.perf_counter()
    run_dir = pretrain(cfg)
    with open(run_dir / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    curve = [(int(r["step"]), float(r["eval/success_rate"])) for r in rows]
    return {"curve": curve, "seconds": time.perf_counter() - t0}


def run_theirs(u: dict[str, Any]) -> dict[str, Any]:
    """Train in the d3rlpy subprocess (TorchScript policies saved along the way), then evaluate
    those policies here with the same evaluator as ours."""
    import torch

    from robot_rl.training.evaluate import evaluate

    t0 = time.perf_counter()
    r = bc.run_d3rlpy(
        {"kind": "call", "script": "bench_offline_quality", "fn": "d3_train", **u},
        timeout=6 * 3600,
    )
    if "error" in r:
        return {"error": r["error"]}

    class Policy:  # the agent interface the evaluator needs: act(obs) -> action
        def __init__(self, path: str):
            self.net = torch.jit.load(path)

        def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
            with torch.no_grad():
                x = torch.as_tensor(obs["state"], dtype=torch.float32)[None]
                return self.net(x)[0].numpy()

    curve = []
    for step, path in r["policies"]:
        m = evaluate(Policy(path), u["task"], "state", 64, u["eval_episodes"], u["seed"])
        curve.append((step, m["eval/success_rate"]))
    return {"curve": curve, "seconds": time.perf_counter() - t0, "d3rlpy": r["d3rlpy_version"]}


def d3_train(task: dict[str, Any]) -> dict[str, Any]:
    """(Inside the d3rlpy subprocess.) Fit d3rlpy IQL or CQL on the exported transitions."""
    import d3rlpy
    import torch

    torch.set_num_threads(task["threads"])
    d3rlpy.seed(task["seed"])
    data = np.load(task["transitions"])
    ds = d3rlpy.dataset.MDPDataset(
        observations=data["obs"],
        actions=data["action"],
        rewards=data["reward"],
        terminals=data["terminal"],
        timeouts=data["timeout"],
    )
    enc = d3rlpy.models.VectorEncoderFactory(hidden_units=[256, 256])
    if task["algo"] == "d3rlpy_iql":
        cfg = d3rlpy.algos.IQLConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, value_encoder_factory=enc,
            batch_size=256, expectile=0.7, weight_temp=3.0, max_weight=100.0,
        )  # fmt: skip
    else:  # CQL with a fixed weight 5 (ours: lagrange=False, cql_alpha=5)
        cfg = d3rlpy.algos.CQLConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, batch_size=256,
            n_action_samples=10, conservative_weight=5.0, alpha_learning_rate=0.0,
        )  # fmt: skip
    algo = cfg.create(device="cpu:0")
    out = Path(task["out"])
    out.mkdir(parents=True, exist_ok=True)
    policies: list[tuple[int, str]] = []

    def save(algo: Any, epoch: int, total_step: int) -> None:
        path = out / f"policy_{total_step}.pt"
        algo.save_policy(str(path))
        policies.append((total_step, str(path)))

    algo.fit(
        ds,
        n_steps=task["steps"],
        n_steps_per_epoch=task["steps"] // task["evals"],
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
        show_progress=False,
        save_interval=10**9,
        epoch_callback=save,
    )
    return {"policies": policies}


def export_transitions(dataset: str, path: Path) -> None:
    """Our episodes as d3rlpy's MDPDataset arrays (per-step obs; terminal / timeout flags)."""
    from robot_rl.data import Dataset

    ds = Dataset(dataset)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "action", "reward", "terminal")}
    timeouts = []
    for i in ds.episode_ids:
        ep = ds.load(i)
        t = len(ep.action)
        parts["obs"].append(ep.obs["state"][:t])
        parts["action"].append(ep.action)
        parts["reward"].append(ep.rewards["reward.env"])
        parts["terminal"].append(ep.terminated.astype(np.float32))
        timeout = np.zeros(t, np.float32)
        timeout[-1] = float(not ep.terminated[-1])  # an episode ends in one or the other
        timeouts.append(timeout)
    arrays = {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays, timeout=np.concatenate(timeouts))
    os.replace(tmp, path)


def run_unit(u: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(u["threads"])
    try:
        result = run_theirs(u) if u["algo"] in THEIRS else run_ours(u)
    except Exception as e:  # a failed unit is reported in the table, not fatal
        result = {"error": f"{type(e).__name__}: {e}"}
    if "curve" in result:
        result["summary"] = f"success {result['curve'][-1][1]:.2f}"
    bc.atomic_write_json(Path(u["result"]), {**u, **result})
    return result


# ---- the benchmark --------------------------------------------------------------------------
def make_datasets(root: Path, tasks: list[str], b: dict[str, Any], pixel_task: str | None) -> dict:
    from robot_rl.envs.collect import collect

    paths = {}
    for task in tasks:
        d = root / "data" / task
        collect(task, d, b["episodes"], MIXTURE, obs="state", workers=2, seed=0, progress=False)
        export_transitions(str(d), root / "data" / f"{task}.transitions.npz")
        paths[task] = str(d)
    if pixel_task:
        d = root / "data" / f"{pixel_task}-pixels"
        collect(pixel_task, d, b["episodes"], MIXTURE, obs="both", workers=2, seed=0,
                progress=False)  # fmt: skip
        paths[f"{pixel_task}-pixels"] = str(d)
    return paths


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (task, method): final success of each seed, mean, and the mean curve."""
    table: dict[str, dict[str, Any]] = {}
    for r in results:
        key = f"{r['task_label']}/{r['algo']}"
        e = table.setdefault(key, {"final": [], "curves": [], "errors": [], "seconds": []})
        if "error" in r:
            e["errors"].append(r["error"][-300:])
            continue
        e["final"].append(r["curve"][-1][1])
        e["curves"].append(r["curve"])
        e["seconds"].append(r["seconds"])
    for e in table.values():
        f = e["final"]
        e["mean"] = float(np.mean(f)) if f else None
        e["std"] = float(np.std(f)) if f else None
        if e["curves"]:
            steps = [s for s, _ in e["curves"][0]]
            vals = np.array([[v for _, v in c] for c in e["curves"] if len(c) == len(steps)])
            e["curve_mean"] = list(zip(steps, vals.mean(0).tolist()))
    return table


def plot(table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.training.plots import save_figure

    tasks = sorted({k.split("/")[0] for k in table})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for key, e in sorted(table.items()):
            if key.split("/")[0] != task or "curve_mean" not in e:
                continue
            steps, mean = zip(*e["curve_mean"])
            vals = np.array([[v for _, v in c] for c in e["curves"] if len(c) == len(steps)])
            ax.plot(steps, mean, marker="o", label=key.split("/")[1])
            if len(vals) > 1:
                ax.fill_between(steps, vals.min(0), vals.max(0), alpha=0.15)
        ax.set(title=task, xlabel="gradient updates", ylabel="success rate", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Offline pre-training: success against updates (mean over seeds, band: min-max)")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed (~3 min)")
    ap.add_argument("--tasks", default="push,pick_and_place")
    ap.add_argument("--methods", default=",".join(OURS + THEIRS))
    ap.add_argument("--pixel-task", default="push", help="'' to skip pixel vs state IQL")
    ap.add_argument("--steps", type=int, help="gradient updates per run (same for d3rlpy)")
    ap.add_argument("--pixel-steps", type=int, help="updates for the pixel-vs-state IQL pair")
    ap.add_argument("--pixel-seeds", type=int, help="seeds for the pixel-vs-state IQL pair")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--episodes", type=int, help="episodes per dataset")
    ap.add_argument("--jobs", type=int, default=1, help="units at once (one thread each if > 1)")
    ap.add_argument("--out", default="runs/bench_offline_quality")
    args = ap.parse_args()

    b = dict(QUICK if args.quick else FULL)
    for k in ("steps", "seeds", "episodes"):
        if getattr(args, k) is not None:
            b[k] = getattr(args, k)
    px = dict(QUICK_PIXELS if args.quick else FULL_PIXELS)
    px["steps"] = args.pixel_steps or px["steps"]
    px["seeds"] = args.pixel_seeds if args.pixel_seeds is not None else px["seeds"]
    root = Path(args.out) / ("quick" if args.quick else "full")
    tasks = [t for t in args.tasks.split(",") if t]
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(OURS + THEIRS))
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; known: {OURS + THEIRS}")
    bc.set_threads()
    d3 = bc.ensure_d3rlpy() if any(m in THEIRS for m in methods) else {"ok": False}
    if not d3["ok"]:
        methods = [m for m in methods if m not in THEIRS]
        print(f"d3rlpy unavailable, its rows are skipped: {d3.get('error', 'not requested')}")
    t_data = time.perf_counter()
    data = make_datasets(root, tasks, b, args.pixel_task or None)
    t_data = time.perf_counter() - t_data

    threads = 1 if args.jobs > 1 else bc.THREADS
    units = []
    for seed in range(b["seeds"]):
        for task in tasks:
            for algo in methods:
                units.append((task, task, algo, "state", seed, b["steps"]))
    for seed in range(px["seeds"] if args.pixel_task else 0):
        label = f"{args.pixel_task} state-vs-pixels"
        units.append((args.pixel_task, label, "iql", "state", seed, px["steps"]))
        units.append((args.pixel_task, label, "iql_pixels", "pixels", seed, px["steps"]))
    todo, results = [], []
    for task, label, algo, obs, seed, steps in units:
        name = f"{label.replace(' ', '_')}-{algo}-s{seed}"
        dataset = data[f"{task}-pixels"] if algo == "iql_pixels" else data[task]
        u = {
            "task": task, "task_label": label, "algo": algo, "obs": obs, "seed": seed,
            "steps": steps, "evals": b["evals"], "eval_episodes": b["eval_episodes"],
            "dataset": dataset, "threads": threads, "out": str(root / "runs" / name),
            "transitions": str(root / "data" / f"{task}.transitions.npz"),
            "result": str(root / "results" / f"{name}.json"), "name": name,
        }  # fmt: skip
        if algo == "iql_pixels":
            u["algo"], u["task_label"] = "iql", label
            u["algo_label"] = "iql_pixels"
        done = json.loads(Path(u["result"]).read_text()) if Path(u["result"]).exists() else {}
        if done and "error" not in done:  # failed units are retried
            results.append(done)
        else:
            todo.append(u)
    print(f"{len(units)} runs, {len(todo)} to do ({len(units) - len(todo)} already done)")
    results += bc.run_units(todo, run_unit, args.jobs)
    for r in results:
        r["algo"] = r.get("algo_label", r["algo"])
    table = summarize(results)
    rows = []
    for key, e in sorted(table.items()):
        task, algo = key.split("/")
        finals = " ".join(f"{v:.2f}" for v in e["final"])
        err = f" ({len(e['errors'])} failed: {e['errors'][0][:80]})" if e["errors"] else ""
        rows.append([task, algo, bc.fmt(e["mean"], 2), bc.fmt(e["std"], 2), finals + err])
    print_title = f"Offline success after {b['steps']} updates, {b['eval_episodes']} eval episodes"
    bc.print_table(print_title, ["task", "method", "mean", "std", "per seed"], rows)
    bc.RESULTS.mkdir(exist_ok=True)
    plot_path = bc.RESULTS / f"bench_offline_quality{'_quick' if args.quick else ''}.png"
    plot(table, plot_path)
    bc.write_json(
        "offline_quality_quick" if args.quick else "offline_quality",
        {
            "quick": args.quick,
            "budget": b,
            "pixel_budget": px,
            "mixture": MIXTURE,
            "observations": "state (pixels: 64 px + proprio for the IQL pair)",
            "reward": "reward.env: simulator sparse success (0/1), episode ends on success",
            "data_seconds": t_data,
            "table": table,
            "plot": str(plot_path),
            "machine": bc.machine_info(),
        },
    )


if __name__ == "__main__":
    main()
