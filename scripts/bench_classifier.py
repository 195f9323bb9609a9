"""Benchmark: goal-classifier (success detector) quality and relabelling throughput.

Per pixel task: frames from scripted policies (expert / noisy / play / random; episodes keep
running after success so experts show many goal frames) on training seeds; the classifier is
trained on N positives (10 / 50 / 200) and 3N negatives (HIL-SERL's ratio) and scored on frames
from *other seeds*: accuracy and balanced accuracy at the threshold chosen on held-out training
frames, AUROC, ECE. Then relabel throughput (transitions/s through `relabel_dataset`, i.e. read
npz + classify 64 px frames + write).

With ``--parts camera``: goal images from another camera (a user's own photos). Per task, N goal
images of success states rendered by (a) the task camera and (b) moved cameras with other light
and size (``CAMERAS``) enter as a user's would (import_goal_images into the dataset's labels,
negatives labelled from the dataset's frames, the classifier kind's own train); scored by AUROC
on task-camera frames of other seeds, with imported-image augmentation off and on, next to the
train-time camera-mismatch check.

With ``--parts exploit`` (or ``--exploit``): the exploitation experiment (VICE). Per task and
seed, three `robot-rl pipeline` runs that differ only in the reward the policy fine-tunes on:
the learned goal classifier updated online with policy-visited negatives and RAQ queries (the
pipeline's default), the same classifier frozen, and the simulator's reward. Reported: how often
the classifier ended an online episode that the simulator says failed, the final classifier's
false-positive rate on every state the policy visited, and the simulator's success (50 episodes).

    MUJOCO_GL=egl .venv/bin/python scripts/bench_classifier.py --quick --parts quality,exploit
    .venv/bin/python scripts/bench_classifier.py --parts camera --threads 1
    .venv/bin/python scripts/bench_classifier.py --parts exploit --exploit-tasks drawer zone

Prints tables and writes bench-results/bench_classifier.json (--quick: _quick.json); parts not
run this time are kept from the previous file of the same mode.
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
from bench_common import (  # noqa: E402
    atomic_write_json,
    cleanup_on_sigterm,
    cli,
    machine_info,
    parse_parts,
    previous_results,
    run_units,
    update_results,
)

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from robot_rl.data import Dataset, DatasetMeta, DatasetWriter  # noqa: E402
from robot_rl.data.labels import LabelStore  # noqa: E402
from robot_rl.envs.views import ViewShift, write_goal_images  # noqa: E402
from robot_rl.labeling.goals import import_goal_images  # noqa: E402
from robot_rl.rewards.classifier import (  # noqa: E402
    ClassifierConfig,
    evaluate_classifier,
    predict_proba,
    train_classifier,
)
from robot_rl.rewards.kinds import get_kind  # noqa: E402
from robot_rl.rewards.model_io import save_reward  # noqa: E402
from robot_rl.rewards.relabel import relabel_dataset  # noqa: E402
from robot_rl.rewards.teachers import SuccessLabeller, label_goal_frames  # noqa: E402
from robot_rl.types import ActionSpec, ArraySpec  # noqa: E402

POLICIES = [("expert", 0.0), ("noisy", 0.3), ("expert", 0.0), ("play", 0.0), ("random", 0.0)]
KEYS = ("pixels", "proprio")


def collect(task: str, seeds: range, root: Path | None = None) -> dict[str, np.ndarray]:
    """Frames after every step (pixels, proprio, success); optionally also a dataset on disk."""
    from robot_rl.envs import get_task_info
    from robot_rl.envs.collect import Component, collect_episode

    out: dict[str, list] = {"pixels": [], "proprio": [], "success": []}
    writer = None
    for seed in seeds:
        kind, noise = POLICIES[seed % len(POLICIES)]
        ep = collect_episode(task, "pixels", 64, Component(kind, noise, 1.0), seed, False)
        for k in KEYS:
            out[k] += list(ep.obs[k][1:])
        out["success"] += list(ep.success)
        if root is not None:
            if writer is None:
                spec = {k: ArraySpec(tuple(v.shape[1:]), v.dtype.name) for k, v in ep.obs.items()}
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


# The pipeline at benchmark budgets: `robot-rl pipeline` with these overrides per arm.
EXPLOIT_QUICK = [
    "episodes=10", "positives=15", "negatives=45", "classifier_steps=20", "pretrain_steps=100",
    "env_steps=300", "eval_episodes=2", "eval_every=150", "classifier_every=150",
    "classifier_queries=4",
]  # fmt: skip
ARMS = {  # arm -> pipeline overrides on top of the learned-classifier defaults
    "updated": [],  # VICE negatives every classifier_every env steps + RAQ queries
    "frozen": ["classifier_every=0", "classifier_queries=0"],
    "simulator": ["reward=env"],
}


def pipeline_cli(out: Path, overrides: list[str], log: Path) -> dict:
    """`robot-rl pipeline out=OUT ...` in a subprocess (one torch thread); its summary.json."""
    cli(["pipeline", f"out={out}", "progress=false", *overrides], 1, log)
    return json.loads((out / "summary.json").read_text())


def exploit_unit(u: dict) -> dict:
    """The three arms of one (task, seed), each a full `robot-rl pipeline` run: the learned
    classifier updated online (the default), the same classifier frozen, the simulator's reward.
    The frozen arm starts from a copy of the updated arm's directory, so the pipeline's stage
    cache re-runs only what differs (fine-tuning and evaluation): both arms share data, labels,
    classifier and pre-trained policy. Saves its rows to u["result"]; a finished unit is kept."""
    done = Path(u["result"])
    if done.exists():
        return json.loads(done.read_text())
    root, rows = Path(u["root"]), []
    try:
        base = [f"task={u['task']}", f"seed={u['seed']}", *u["overrides"]]
        for arm, extra in ARMS.items():
            out = root / arm
            if arm == "frozen" and not out.exists():
                # Results of the updated arm are not copied: the frozen arm writes its own.
                skip = shutil.ignore_patterns("finetune-*", "summary.json", "report.html")
                shutil.copytree(root / "updated", out, ignore=skip)
            t0 = time.perf_counter()
            summary = pipeline_cli(out, [*base, *extra], root / f"{arm}.log")
            row = {
                "task": u["task"], "arm": arm, "seed": u["seed"],
                "success_pretrained": summary["success_pretrained"],
                "success_finetuned": summary["success_finetuned"],
                "seconds": time.perf_counter() - t0,
            }  # fmt: skip
            if arm != "simulator":
                stages = json.loads((out / "stages.json").read_text())
                ft_dir = Path(stages["finetune"]["result"])  # finetune-<method>
                row.update(visited_stats(ft_dir, out / "reward-classifier", arm))
            rows.append(row)
    except Exception as e:  # reported in the table, not fatal to the benchmark
        return {"error": f"{type(e).__name__}: {e}", "rows": rows}
    result = {"rows": rows, "summary": " ".join(f"{r['arm']} {r['success_finetuned']:.2f}"
                                                 for r in rows)}  # fmt: skip
    atomic_write_json(done, result)
    return result


def visited_stats(run: Path, ckpt: Path, arm: str) -> dict:
    """Exploitation in one fine-tuning run: how many online episodes the classifier ended
    although the simulator says they failed, and the final classifier's rates on every state."""
    ds = Dataset(run / "episodes")
    eps = [ds.load(i) for i in ds.episode_ids]
    fired = [e for e in eps if e.terminated[-1]]  # the classifier ended these episodes
    return {
        "episodes": len(eps),
        "classifier_ended": len(fired),
        "ended_without_success": sum(not e.success[-1] for e in fired),
        "train_success_rate": float(np.mean([e.is_success for e in eps])) if eps else 0.0,
        **visited_fpr(run, ckpt, arm),
    }


def exploitation(tasks: list[str], seeds: int, quick: bool, root: Path, jobs: int) -> list[dict]:
    """Every (task, seed) unit, ``jobs`` at once; one row per arm."""
    units = [
        {
            "name": f"{task}-s{seed}", "task": task, "seed": seed,
            "root": str(root / f"{task}-s{seed}"),
            "result": str(root / "results" / f"{task}-s{seed}.json"),
            "overrides": EXPLOIT_QUICK if quick else [],
        }
        for task in tasks for seed in range(seeds)
    ]  # fmt: skip
    (root / "results").mkdir(parents=True, exist_ok=True)
    for u in units:
        Path(u["root"]).mkdir(parents=True, exist_ok=True)
    rows = []
    for r in run_units(units, exploit_unit, jobs):
        rows += r.get("rows", [])
        if "error" in r:
            rows.append({"task": r["task"], "seed": r["seed"], "arm": "error", "error": r["error"]})
    return rows


def exploit_summary(rows: list[dict]) -> list[dict]:
    """Per (task, arm): means over seeds, and the issue's two targets for the updated arm."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows if r["arm"] != "error"):
        by_arm = {a: [r for r in rows if r["task"] == task and r["arm"] == a] for a in ARMS}
        sim = np.mean([r["success_finetuned"] for r in by_arm["simulator"]] or [np.nan])
        for arm, rs in by_arm.items():
            if not rs:
                continue
            mean = {k: float(np.mean([r[k] for r in rs])) for k in
                    ("success_pretrained", "success_finetuned", "visited_fpr", "visited_tpr")
                    if all(k in r for r in rs)}  # fmt: skip
            row = {"task": task, "arm": arm, "seeds": len(rs), **mean}
            if arm == "updated":
                row["target_fpr_at_most_0.05"] = bool(mean["visited_fpr"] <= 0.05)
                row["target_within_10_points_of_simulator"] = bool(
                    abs(mean["success_finetuned"] - sim) <= 0.10
                )
            out.append(row)
    return out


def quality_and_relabel(tasks: list[str], quick: bool) -> tuple[list[dict], list[dict], dict]:
    """Classifier quality against the number of positives, and relabel throughput, per task."""
    if quick:
        sizes, steps, n_train, n_test, cfg_kw = [10, 50], 100, 15, 10, {"channels": 16}
    else:
        sizes, steps, n_train, n_test, cfg_kw = [10, 50, 200], 500, 60, 20, {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_clf_"))
    rows, relabel_rows = [], []
    try:
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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    config = {
        "steps": steps,
        "sizes": sizes,
        "train_episodes": n_train,
        "test_episodes": n_test,
        **cfg_kw,
    }
    return rows, relabel_rows, config


# Goal-image sources of the camera part: the task camera, and two user cameras.
CAMERAS = {
    "task": ViewShift(),
    "moved": ViewShift(azimuth=20.0, elevation=-8.0, distance=1.15, headlight=1.6,
                       light_offset=(0.5, -0.5, 0.0), size=128),
    "moved_dark": ViewShift(azimuth=-20.0, elevation=6.0, distance=0.9, lookat=(0.0, 0.03, 0.0),
                            headlight=0.5, size=96),
}  # fmt: skip
FIX = 0.3  # ClassifierConfig.imported_augment when the fix is on


def camera_run(root: Path, folder: Path, n_neg: int, cfg: ClassifierConfig) -> tuple:
    """One user's run: fresh labels, negatives from the dataset's frames, the goal folder
    imported, the classifier kind's own training. (model, metrics, seconds)."""
    shutil.rmtree(root / "labels", ignore_errors=True)
    label_goal_frames(root, SuccessLabeller(0.0, 0), 0, n_neg, seed=0)
    store = LabelStore(root)
    shape = Dataset(root).meta.obs_spec["pixels"].shape
    import_goal_images(store, folder, shape, "bench")
    t0 = time.perf_counter()
    model, _, metrics, _ = get_kind("classifier").train(Dataset(root), cfg, 0, False, "cpu")
    return model, metrics, time.perf_counter() - t0


def camera_part(tasks: list[str], quick: bool) -> tuple[list[dict], dict]:
    """Per task, source camera and fix: AUROC on task-camera frames of other seeds."""
    if quick:
        n_img, steps, n_train, n_test, cfg_kw, sources = 20, 60, 15, 10, {"channels": 16}, [
            "task", "moved"]  # fmt: skip
    else:
        n_img, steps, n_train, n_test, cfg_kw, sources = 50, 300, 60, 20, {}, list(CAMERAS)
    tmp = Path(tempfile.mkdtemp(prefix="bench_cam_"))
    rows = []
    try:
        for task in tasks:
            root = tmp / f"{task}_train"
            collect(task, range(n_train), root=root)
            test_pos, test_neg = split(
                collect(task, range(5000, 5000 + n_test)), 200, 400, np.random.default_rng(0)
            )
            for src in sources:
                folder = tmp / f"{task}_{src}"
                write_goal_images(task, folder, CAMERAS[src], n_img, range(3000, 3200))
                for fix in (0.0, FIX):
                    cfg = ClassifierConfig(steps=steps, imported_augment=fix, **cfg_kw)
                    model, m, secs = camera_run(root, folder, 3 * n_img, cfg)
                    ev = evaluate_classifier(model, test_pos, test_neg)
                    row = {
                        "task": task, "source": src, "imported_augment": fix,
                        "goal_images": int(m["goal_images/count"]),
                        "camera_mismatch": m["goal_images/camera_mismatch"],
                        "warned": bool(m["goal_images/mismatch_warning"]),
                        **{f"test_{k}": v for k, v in ev.items()},
                        "holdout_auroc": m.get("holdout/auroc", float("nan")),
                        "train_seconds": secs,
                    }  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    config = {
        "steps": steps, "goal_images": n_img, "negatives": 3 * n_img, "train_episodes": n_train,
        "test_episodes": n_test, "fix": f"imported_augment={FIX}", **cfg_kw,
        "cameras": {s: CAMERAS[s].describe() for s in sources},
    }  # fmt: skip
    return rows, config


def print_camera(doc: dict) -> None:
    c = doc.get("camera_config", {})
    print(f"\ngoal images from another camera: {c.get('goal_images')} imported positives, "
          f"{c.get('negatives')} dataset negatives, {c.get('steps')} steps; AUROC on task-camera "
          "frames of other seeds")  # fmt: skip
    for src, text in c.get("cameras", {}).items():
        print(f"  {src:<11}{text}")
    print(f"{'task':<9}{'source':<12}{'augment':>8}{'mismatch':>9}{'warned':>7}{'auroc':>7}"
          f"{'bal_acc':>8}{'holdout_auroc':>14}")  # fmt: skip
    for r in doc["camera"]:
        print(f"{r['task']:<9}{r['source']:<12}{r['imported_augment']:>8.1f}"
              f"{r['camera_mismatch']:>9.2f}{'yes' if r['warned'] else 'no':>7}"
              f"{r['test_auroc']:>7.3f}{r['test_balanced_accuracy']:>8.3f}"
              f"{r['holdout_auroc']:>14.3f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small budgets (a few minutes)")
    ap.add_argument(
        "--parts",
        default="quality",
        help="quality,exploit,camera (comma-separated); '' redraws only",
    )
    ap.add_argument("--exploit", action="store_true", help="same as adding exploit to --parts")
    ap.add_argument("--tasks", nargs="*", default=None, help="quality tasks (default: all)")
    ap.add_argument("--camera-tasks", nargs="*", default=None, help="default: zone drawer")
    ap.add_argument("--exploit-seeds", type=int, default=None, help="default 3 (quick: 1)")
    ap.add_argument("--exploit-tasks", nargs="*", default=None, help="default: drawer zone")
    ap.add_argument("--jobs", type=int, default=2, help="exploitation units at once")
    ap.add_argument("--work", default="runs/bench_classifier", help="exploitation run dirs")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (quality part)")
    args = ap.parse_args()
    cleanup_on_sigterm()
    from robot_rl.envs import list_tasks

    parts = parse_parts(
        args.parts, {"quality", "exploit", "camera"}, {"exploit"} if args.exploit else set()
    )
    torch.set_num_threads(args.threads)
    out = Path("bench-results") / f"bench_classifier{'_quick' if args.quick else ''}.json"
    # Each part is merged into the results file as it is on disk when the part ends: parts not
    # run now are kept from the previous run of the same mode (each says its config), and two
    # runs of different parts at once keep each other's figures. --parts '' only prints the
    # tables and redraws the plot from the saved file.
    doc = previous_results(out, args.quick)

    def save(part: dict) -> dict:
        machine = {**machine_info(), "torch_threads": torch.get_num_threads()}
        return update_results(
            out, args.quick, {"benchmark": "classifier", **part, "machine": machine}
        )

    if "quality" in parts:
        tasks = args.tasks or (["push"] if args.quick else list_tasks())
        rows, relabel_rows, config = quality_and_relabel(tasks, args.quick)
        doc = save({"quality": rows, "relabel": relabel_rows, "quality_config": config})
    if "camera" in parts:
        tasks = args.camera_tasks or (["zone"] if args.quick else ["zone", "drawer"])
        rows, config = camera_part(tasks, args.quick)
        doc = save({"camera": rows, "camera_config": config})
    if "exploit" in parts:
        tasks = args.exploit_tasks or (["drawer"] if args.quick else ["drawer", "zone"])
        seeds = args.exploit_seeds or (1 if args.quick else 3)
        work = Path(args.work) / ("quick" if args.quick else "full")
        if args.quick:  # quick runs exercise today's code: no units kept from an earlier run
            shutil.rmtree(work, ignore_errors=True)
        rows = exploitation(tasks, seeds, args.quick, work, args.jobs)
        prev = previous_results(out, args.quick).get("exploitation")
        if isinstance(prev, dict):  # other tasks' runs are kept (a run of one task adds to them)
            rows = [r for r in prev["runs"] if r["task"] not in tasks] + rows
        seeds_per_task = {t: len({r["seed"] for r in rows if r["task"] == t}) for t in
                          dict.fromkeys(r["task"] for r in rows)}  # fmt: skip
        doc = save({"exploitation": {
            "design": "robot-rl pipeline per arm: learned goal classifier updated online (VICE "
            "negatives + RAQ queries) / the same classifier frozen / the simulator's reward; "
            "IQL pre-training and IQL fine-tuning with offline data kept (the pipeline's recipe)",
            "seeds_per_task": seeds_per_task,
            "overrides": EXPLOIT_QUICK if args.quick else [],
            "runs": rows,
            "summary": exploit_summary(rows),
        }})  # fmt: skip

    if "quality" in doc:
        c = doc.get("quality_config", {})
        print(
            f"\nclassifier quality: {c.get('steps')} steps, negatives = 3x positives, "
            "scored on frames from other seeds"
        )
        print(
            f"{'task':<16}{'pos':>5}{'neg':>5}{'acc':>7}{'bal_acc':>9}{'auroc':>7}{'ece':>7}"
            f"{'thr':>6}{'train_s':>9}"
        )
        for r in doc["quality"]:
            print(
                f"{r['task']:<16}{r['positives']:>5}{r['negatives']:>5}"
                f"{r['test_accuracy']:>7.3f}{r['test_balanced_accuracy']:>9.3f}"
                f"{r['test_auroc']:>7.3f}{r['test_ece']:>7.3f}{r['test_threshold']:>6.2f}"
                f"{r['train_seconds']:>9.1f}"
            )
        print(f"\n{'task':<16}{'relabel transitions/s':>22}")
        for r in doc["relabel"]:
            print(f"{r['task']:<16}{r['transitions_per_s']:>22.0f}")
    if isinstance(doc.get("exploitation"), dict):
        print(
            f"\n{'task':<10}{'arm':<11}{'seed':>5}{'episodes':>9}{'fooled':>8}"
            f"{'visited FPR':>12}{'visited TPR':>12}{'pre-trained':>12}{'fine-tuned':>11}"
        )
        for r in doc["exploitation"]["runs"]:
            if r["arm"] == "error":
                print(f"{r['task']:<10}error      {r['seed']:>5}  {r['error'][:100]}")
                continue
            print(
                f"{r['task']:<10}{r['arm']:<11}{r['seed']:>5}{_f(r.get('episodes'), 0):>9}"
                f"{_f(r.get('ended_without_success'), 0):>8}{_f(r.get('visited_fpr')):>12}"
                f"{_f(r.get('visited_tpr')):>12}{r['success_pretrained']:>12.2f}"
                f"{r['success_finetuned']:>11.2f}"
            )
        print(
            "\nmeans over seeds (targets for 'updated': visited FPR <= 0.05, fine-tuned success "
            "within 10 points of 'simulator')"
        )
        for r in doc["exploitation"]["summary"]:
            print(
                f"  {r['task']:<10}{r['arm']:<11}seeds {r['seeds']}  fine-tuned "
                f"{r['success_finetuned']:.2f}  visited FPR {_f(r.get('visited_fpr'))}"
                + (
                    f"  targets met: FPR {r['target_fpr_at_most_0.05']}, success "
                    f"{r['target_within_10_points_of_simulator']}"
                    if r["arm"] == "updated"
                    else ""
                )
            )
    if doc.get("camera"):
        print_camera(doc)
    fig_path = plot(doc, out.with_suffix(".png"))
    print(f"{'wrote' if parts else 'read'} {out}" + (f", drew {fig_path}" if fig_path else ""))


def plot(doc: dict, path: Path) -> Path | None:
    """Quality against positives (AUROC, ECE) per task, and exploitation success per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.training.plots import save_figure

    quality = doc.get("quality") or []
    runs = [r for r in (doc.get("exploitation") or {}).get("runs", []) if r["arm"] != "error"]
    if not quality and not runs:
        return None
    panels = (["auroc", "ece"] if quality else []) + (["exploit"] if runs else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "exploit":
            tasks = list(dict.fromkeys(r["task"] for r in runs))
            by: dict[tuple[str, str], list[dict]] = {}
            for r in runs:
                by.setdefault((r["task"], r["arm"]), []).append(r)
            for j, arm in enumerate(["updated", "frozen", "simulator"]):
                for i, task in enumerate(tasks):
                    v = [r["success_finetuned"] for r in by.get((task, arm), [])]
                    fpr = [r["visited_fpr"] for r in by.get((task, arm), [])
                           if r.get("visited_fpr") is not None]  # fmt: skip
                    if not v:
                        continue
                    x = i + (j - 1) * 0.27
                    ax.bar(x, np.mean(v), 0.25, color=f"C{j}", label=arm if i == 0 else None)
                    ax.plot([x] * len(v), v, "k.", ms=5)
                    if fpr:
                        label = f"FPR\n{np.mean(fpr):.3f}"
                        ax.text(x, max(v) + 0.03, label, ha="center", fontsize=6)
            ax.set_xticks(range(len(tasks)), tasks)
            ax.set(ylabel="simulator success after fine-tuning", ylim=(0, 1.15))
            ax.set_title("exploitation (bars: mean, dots: seeds)", fontsize=9)
        else:
            for task in dict.fromkeys(r["task"] for r in quality):
                rs = [r for r in quality if r["task"] == task]
                ax.plot([r["positives"] for r in rs], [r[f"test_{panel}"] for r in rs], "o-",
                        label=task)  # fmt: skip
            ax.set_xscale("log")
            sizes = sorted({r["positives"] for r in quality})
            ax.set_xticks(sizes, [str(n) for n in sizes])
            ax.minorticks_off()
            low = min([0.45] + [r["test_auroc"] - 0.05 for r in quality])
            ax.set_ylim(0.0 if panel == "ece" else low, None if panel == "ece" else 1.02)
            ax.set(xlabel="positive examples (negatives: 3x)", ylabel=f"held-out {panel.upper()}")
            ax.set_title(f"classifier {panel.upper()} on frames of other seeds", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


if __name__ == "__main__":
    main()
