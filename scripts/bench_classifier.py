"""Benchmark: goal-classifier (success detector) quality and relabelling throughput.

Per pixel task: frames from scripted policies (expert / noisy / play / random; episodes keep
running after success so experts show many goal frames) on training seeds; the classifier is
trained on N positives (10 / 50 / 200) and 3N negatives (HIL-SERL's ratio) and scored on frames
from *other seeds*: accuracy and balanced accuracy at the threshold chosen on held-out training
frames, AUROC, ECE. Then relabel throughput (transitions/s through `relabel_dataset`, i.e. read
npz + classify 64 px frames + write).

With ``--exploit``: the exploitation experiment (VICE): online SAC fine-tuning on the learned
reward with the classifier frozen vs. updated with policy-visited negatives (+ RAQ queries),
through `robot_rl.training.online.finetune`. Measured from the saved online episodes: how often
the classifier ended an episode that the simulator says failed (exploitation), and the true
success rate.

    MUJOCO_GL=egl .venv/bin/python scripts/bench_classifier.py --quick [--exploit]

Prints a table and writes bench-results/bench_classifier.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import atomic_write_json, machine_info  # noqa: E402

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from robot_rl.data import Dataset, DatasetMeta, DatasetWriter, Episode  # noqa: E402
from robot_rl.rewards.classifier import (  # noqa: E402
    ClassifierConfig,
    evaluate_classifier,
    predict_proba,
    train_classifier,
)
from robot_rl.rewards.model_io import save_reward  # noqa: E402
from robot_rl.rewards.relabel import relabel_dataset  # noqa: E402
from robot_rl.rewards.train import synthetic_goal_labels, train_reward  # noqa: E402
from robot_rl.types import ActionSpec, ArraySpec  # noqa: E402

POLICIES = [("expert", 0.0), ("noisy", 0.3), ("expert", 0.0), ("play", 0.0), ("random", 0.0)]
KEYS = ("pixels", "proprio")


def collect(task: str, seeds: range, root: Path | None = None) -> dict[str, np.ndarray]:
    """Frames after every step (pixels, proprio, success); optionally also a dataset on disk."""
    from robot_rl.envs import get_task_info, make_env, make_scripted_policy

    out: dict[str, list] = {"pixels": [], "proprio": [], "success": []}
    writer = None
    for seed in seeds:
        kind, noise = POLICIES[seed % len(POLICIES)]
        env = make_env(task, obs="pixels", seed=seed, terminate_on_success=False)
        pi = make_scripted_policy(task, kind=kind, noise=noise, seed=seed)
        obs, _ = env.reset(seed=seed)
        pi.reset(env)
        frames = {k: [obs[k]] for k in KEYS}
        actions, rewards, succ = [], [], []
        truncated = terminated = False
        while not (truncated or terminated):
            a = np.asarray(pi.act(env), np.float32)
            obs, r, terminated, truncated, info = env.step(a)
            for k in KEYS:
                frames[k].append(obs[k])
            actions.append(a)
            rewards.append(r)
            succ.append(bool(info["success"]))
        env.close()
        for k in KEYS:
            out[k] += frames[k][1:]
        out["success"] += succ
        if root is not None:
            t = len(actions)
            last = np.arange(t) == t - 1
            ep = Episode(
                obs={k: np.asarray(v) for k, v in frames.items()},
                action=np.asarray(actions, np.float32),
                rewards={"reward.env": np.asarray(rewards, np.float32)},
                terminated=last & terminated,
                truncated=last & (truncated and not terminated),
                success=np.asarray(succ, bool),
                info={"seed": seed, "policy": kind, "noise": noise},
            )
            if writer is None:
                spec = {
                    k: ArraySpec(tuple(np.asarray(v[0]).shape), np.asarray(v[0]).dtype.name)
                    for k, v in frames.items()
                }
                meta = DatasetMeta(
                    task, get_task_info(task).control_freq, spec, ActionSpec(ep.action.shape[1])
                )
                writer = DatasetWriter(root, meta)
            writer.write(ep, seed)
    return {k: np.asarray(v) for k, v in out.items()}


def split(frames: dict[str, np.ndarray], n_pos: int, n_neg: int, rng: np.random.Generator):
    """Up to n_pos success frames and n_neg other frames (pixels only)."""
    pos_idx, neg_idx = np.flatnonzero(frames["success"]), np.flatnonzero(~frames["success"])
    p = rng.choice(pos_idx, min(n_pos, len(pos_idx)), replace=False)
    n = rng.choice(neg_idx, min(n_neg, len(neg_idx)), replace=False)
    return {"pixels": frames["pixels"][p]}, {"pixels": frames["pixels"][n]}


def visited_fpr(run: Path, ckpt: Path, arm: str) -> dict[str, float]:
    """The run's final classifier on every state the policy visited: the share of states the
    simulator calls failures that it calls success (false-positive rate), and of successes it
    recognises (true-positive rate)."""
    from robot_rl.rewards.model_io import load_reward
    from robot_rl.training.checkpoint import load_loop_state

    model = load_reward(ckpt, device="cpu").model
    if arm == "updated":  # the classifier as the online updater left it
        model.load_state_dict(load_loop_state(run / "checkpoint")["reward"]["updater"]["model"])
    ds = Dataset(run / "episodes")
    frames: dict[str, list[np.ndarray]] = {k: [] for k in model.obs_keys}
    success = []
    for i in ds.episode_ids:
        ep = ds.load(i)
        for k in frames:
            frames[k].append(ep.obs[k][1:])
        success.append(ep.success)
    said = predict_proba(model, {k: np.concatenate(v) for k, v in frames.items()})
    said = said > float(model.threshold)
    truth = np.concatenate(success)
    return {
        "visited_states": int(truth.size),
        "visited_fpr": float(said[~truth].mean()) if (~truth).any() else float("nan"),
        "visited_tpr": float(said[truth].mean()) if truth.any() else float("nan"),
    }


def exploitation(
    task: str, ckpt: Path, out: Path, env_steps: int, seeds: int, quick: bool
) -> list[dict]:
    """Online SAC on the classifier reward, frozen vs updated (VICE negatives + RAQ queries),
    and the same agent on the simulator's reward as the reference; ``seeds`` seeds each."""
    from robot_rl.agents import default_config
    from robot_rl.training.online import ClassifierUpdateConfig, FinetuneConfig, finetune

    rows = []
    arms = {
        "frozen": ClassifierUpdateConfig(every=0),
        "updated": ClassifierUpdateConfig(
            every=max(50, env_steps // 20),
            steps=20 if quick else 50,
            max_queries=25,
            queries_per_update=1,
        ),
        "simulator": None,
    }
    for seed in range(seeds):
        for arm, ccfg in arms.items():
            cfg = FinetuneConfig(
                method="sac",
                agent_name="sac",
                agent=default_config("sac"),
                task=task,
                obs="state",  # a state agent; the classifier still scores pixels (env renders both)
                reward="env" if ccfg is None else str(ckpt),
                offline_ratio=0.0,
                random_steps=min(1000, env_steps // 3),
                env_steps=env_steps,
                seed=seed,
                out=str(out / f"{arm}-s{seed}"),
                overwrite=True,
                log_every=max(100, env_steps // 10),
                checkpoint_every=0,
                classifier=ccfg or ClassifierUpdateConfig(),
                progress=False,
            )
            cfg.eval.every = 0
            cfg.eval.episodes = 5 if quick else 20
            cfg.eval.video = False
            t0 = time.perf_counter()
            run = finetune(cfg)
            ds = Dataset(run / "episodes")
            eps = [ds.load(i) for i in ds.episode_ids]
            fired = [e for e in eps if e.terminated[-1]]  # the classifier ended these episodes
            fooled = [e for e in fired if not e.success[-1]]
            from robot_rl.training.logger import read_csv

            row = {
                "arm": arm,
                "seed": seed,
                "episodes": len(eps),
                "classifier_ended": len(fired) if ccfg is not None else None,
                "ended_without_success": len(fooled) if ccfg is not None else None,
                "train_success_rate": float(np.mean([e.is_success for e in eps])) if eps else 0.0,
                "eval_success_rate": read_csv(run / "eval.csv")["eval/success_rate"][-1],
                "seconds": time.perf_counter() - t0,
            }
            if ccfg is not None:
                row.update(visited_fpr(run, ckpt, arm))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small budgets (under 3 minutes)")
    ap.add_argument("--tasks", nargs="*", default=None)
    ap.add_argument("--exploit", action="store_true", help="also run the exploitation experiment")
    ap.add_argument("--exploit-steps", type=int, default=None)
    ap.add_argument("--exploit-seeds", type=int, default=None)
    ap.add_argument("--exploit-tasks", nargs="*", default=None, help="default: push zone")
    ap.add_argument("--out", default="bench-results/bench_classifier.json")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    from robot_rl.envs import list_tasks

    torch.set_num_threads(args.threads)
    if args.quick:
        tasks = args.tasks or ["push"]
        sizes, steps, n_train, n_test = [10, 50], 100, 15, 10
        cfg_kw: dict = {"channels": 16}
        exploit_steps = args.exploit_steps or 300
        exploit_seeds = args.exploit_seeds or 1
    else:
        tasks = args.tasks or list_tasks()
        sizes, steps, n_train, n_test = [10, 50, 200], 500, 60, 20
        cfg_kw = {}
        exploit_steps = args.exploit_steps or 10_000
        exploit_seeds = args.exploit_seeds or 3
    exploit_tasks = args.exploit_tasks or (["push"] if args.quick else ["push", "zone"])
    if args.exploit:
        tasks = list(dict.fromkeys([*tasks, *exploit_tasks]))
    tmp = Path(tempfile.mkdtemp(prefix="bench_clf_"))
    rows, relabel_rows, exploit_rows = [], [], []
    for task in tasks:
        t0 = time.perf_counter()
        train = collect(task, range(n_train), root=tmp / f"{task}_train")
        test = collect(task, range(5000, 5000 + n_test), root=tmp / f"{task}_test")
        t_collect = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        test_pos, test_neg = split(test, 200, 400, rng)
        ckpt = None
        for n in sizes:
            pos, neg = split(train, n, 3 * n, rng)
            cfg = ClassifierConfig(steps=steps, **cfg_kw)
            t1 = time.perf_counter()
            model, m = train_classifier(cfg, pos, neg, seed=0)
            t_train = time.perf_counter() - t1
            ev = evaluate_classifier(model, test_pos, test_neg)
            row = {
                "task": task,
                "positives": len(pos["pixels"]),
                "negatives": len(neg["pixels"]),
                **{f"test_{k}": v for k, v in ev.items()},
                "holdout_auroc": m.get("holdout/auroc", float("nan")),
                "train_seconds": t_train,
                "collect_seconds": t_collect,
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
            a_dim = Dataset(tmp / f"{task}_train").meta.action_spec.dim
            ckpt = save_reward(tmp / f"{task}_clf", "classifier", model, cfg, a_dim, m)
        ds_root = tmp / f"{task}_test"
        t1 = time.perf_counter()
        relabel_dataset(ds_root, ckpt, name="bench", batch_size=512, progress=False)
        dt = time.perf_counter() - t1
        n_tr = sum(Dataset(ds_root).episode_length(i) for i in Dataset(ds_root).episode_ids)
        relabel_rows.append(
            {"task": task, "transitions": n_tr, "seconds": dt, "transitions_per_s": n_tr / dt}
        )
        if args.exploit and task in exploit_tasks:
            # The pipeline's path: synthetic goal labels on the training dataset -> train_reward
            # (the online updater reloads those labels as its positives and negatives).
            root = tmp / f"{task}_train"
            synthetic_goal_labels(root, n_pos=sizes[-1], n_neg=3 * sizes[-1], seed=0)
            cfg = ClassifierConfig(steps=steps, **cfg_kw)
            train_reward("classifier", root, tmp / f"{task}_goal", cfg, progress=False)
            rows_e = exploitation(
                task, tmp / f"{task}_goal", tmp / f"{task}_online", exploit_steps,
                exploit_seeds, args.quick,
            )  # fmt: skip
            exploit_rows += [{"task": task, **r} for r in rows_e]
    shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\nclassifier benchmark: train seeds 0..{n_train - 1}, test seeds 5000.. "
        f"({n_test} episodes), {steps} steps, negatives = 3x positives"
    )
    print(
        f"{'task':<16}{'pos':>5}{'neg':>5}{'acc':>7}{'bal_acc':>9}{'auroc':>7}{'ece':>7}"
        f"{'thr':>6}{'train_s':>9}"
    )
    for r in rows:
        print(
            f"{r['task']:<16}{r['positives']:>5}{r['negatives']:>5}{r['test_accuracy']:>7.3f}"
            f"{r['test_balanced_accuracy']:>9.3f}{r['test_auroc']:>7.3f}{r['test_ece']:>7.3f}"
            f"{r['test_threshold']:>6.2f}{r['train_seconds']:>9.1f}"
        )
    print(f"\n{'task':<16}{'relabel transitions/s':>22}")
    for r in relabel_rows:
        print(f"{r['task']:<16}{r['transitions_per_s']:>22.0f}")
    if exploit_rows:
        print(
            f"\n{'task':<10}{'arm':<10}{'seed':>5}{'episodes':>9}{'fooled':>8}"
            f"{'visited FPR':>12}{'visited TPR':>12}{'eval succ':>10}"
        )
        for r in exploit_rows:
            print(
                f"{r['task']:<10}{r['arm']:<10}{r['seed']:>5}{r['episodes']:>9}"
                f"{_f(r.get('ended_without_success'), 0):>8}{_f(r.get('visited_fpr')):>12}"
                f"{_f(r.get('visited_tpr')):>12}{r['eval_success_rate']:>10.2f}"
            )
    out = Path(args.out)
    doc = {
        "benchmark": "classifier",
        "quick": args.quick,
        "config": {
            "steps": steps,
            "sizes": sizes,
            "exploit": {"steps": exploit_steps, "seeds": exploit_seeds, "tasks": exploit_tasks},
            "train_episodes": n_train,
            "test_episodes": n_test,
            **cfg_kw,
        },
        "machine": {**machine_info(), "torch_threads": torch.get_num_threads()},
        "quality": rows,
        "relabel": relabel_rows,
        "exploitation": exploit_rows if args.exploit else "not run (pass --exploit)",
    }
    atomic_write_json(out, doc)
    print(f"wrote {out}")


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


if __name__ == "__main__":
    main()
