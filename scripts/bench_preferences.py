"""Benchmark: preference reward learning from B-Pref synthetic teachers.

For each query-selection method (uniform / disagreement / entropy) and query budget, label a
dataset of scripted-policy episodes with a teacher over the simulator's dense progress reward,
train the ensemble, and measure on episodes from *other seeds*:
  - label accuracy: how often the model prefers the segment the oracle prefers (non-tied pairs),
  - rank correlation (Spearman) of learned segment / episode returns with the true dense returns;
for state models (every method and budget) and 64 px models (every teacher).

With --parts downstream (or --downstream): `robot-rl pipeline reward=preference` at 100 / 300 /
1000 oracle queries, uniform vs disagreement selection, 3 seeds, against `reward=env` (success
after pre-training and fine-tuning on the pipeline's task). Full runs resume: a pipeline that
finished is not run again.

With --parts recipes / active (push and zone, offline; scripts/preference_parts.py): which
preference-model recipe learns progress (step-level agreement with the teacher's per-step
reward, pooled and within episodes, beside label accuracy), and uniform against disagreement
selection at 50-300 queries.

    .venv/bin/python scripts/bench_preferences.py --quick [--downstream]
    .venv/bin/python scripts/bench_preferences.py --parts downstream --downstream-seeds 1
    .venv/bin/python scripts/bench_preferences.py --parts recipes --hard-seeds 3
    .venv/bin/python scripts/bench_preferences.py --parts active --active-budgets 50,300,1000
    .venv/bin/python scripts/bench_preferences.py --parts downstream --downstream-task zone \
        --downstream-arms uniform:1000,disagreement:300 --downstream-seeds 2

Prints tables and writes bench-results/bench_preferences.json and .png (--quick: _quick.*, so a
quick run never overwrites the full figures); a part not run is kept from the previous file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (
    cleanup_on_sigterm,
    machine_info,
    parse_parts,
    previous_results,
    update_results,
)  # noqa: E402

os.environ.setdefault("MUJOCO_GL", "egl")
# How results say their pairs were sampled; results without it used pairs of unequal lengths
PAIRS = "equal lengths"  # both segments of a pair as long (since 2026-12-02)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from robot_rl.data import Dataset, DatasetMeta, DatasetWriter  # noqa: E402
from robot_rl.data.labels import Segment  # noqa: E402
from robot_rl.rewards.metrics import spearman, step_agreement  # noqa: E402
from robot_rl.rewards.preference import (  # noqa: E402
    PreferenceConfig,
    ensemble_probabilities,
    episode_rewards,
    member_segment_returns,
    train_preference,
)
from robot_rl.rewards.segments import (  # noqa: E402
    EpisodeCache,
    SegmentPairs,
    Segments,
    load_segments,
    sample_pairs,
    sample_segments,
)
from robot_rl.rewards.teachers import DENSE_REWARD, Teacher, TeacherConfig  # noqa: E402
from robot_rl.rewards.train import preference_pairs, synthetic_preferences  # noqa: E402
from robot_rl.types import ActionSpec, ArraySpec  # noqa: E402

POLICIES = [("expert", 0.0), ("noisy", 0.3), ("noisy", 0.8), ("play", 0.0), ("random", 0.0)]


def collect(task: str, root: Path, seeds: range, pixels: bool = False, size: int = 64) -> Path:
    """Scripted episodes (expert/noisy/play/random, by seed) with reward.env and reward.dense;
    with ``pixels``, ``size`` px frames too."""
    from robot_rl.envs import get_task_info
    from robot_rl.envs.collect import Component, collect_episode

    writer: DatasetWriter | None = None
    for seed in seeds:
        kind, noise = POLICIES[seed % len(POLICIES)]
        comp = Component(kind, noise, 1.0)
        ep = collect_episode(task, "both" if pixels else "state", size, comp, seed)
        if writer is None:
            spec = {k: ArraySpec(tuple(v.shape[1:]), v.dtype.name) for k, v in ep.obs.items()}
            meta = DatasetMeta(
                task,
                get_task_info(task).control_freq,
                spec,
                ActionSpec(ep.action.shape[1]),
                provenance={"source": "scripts/bench_preferences.py"},
            )
            writer = DatasetWriter(root, meta)
        writer.write(ep, seed)
    return root


def evaluate(model, test: EpisodeCache, cfg: PreferenceConfig, n_pairs: int, seed: int) -> dict:
    """Agreement with the oracle on held-out episodes: label accuracy on pairs, rank correlation
    of segment and episode returns, and step by step (`step_agreement`)."""
    rng = np.random.default_rng(seed)
    labelled = oracle_pairs(test, sample_pairs(test, n_pairs, cfg.segment_length, rng), cfg)
    truth = labelled.preference
    p = ensemble_probabilities(model, labelled).mean(0)
    keep = truth != 0.5
    segs = sample_segments(test, n_pairs, cfg.segment_length, rng)
    s = load_segments(
        test, segs, model.obs_keys, cfg.segment_length, (DENSE_REWARD,), model.scores_next
    )
    learned_ret = member_segment_returns(model, s).mean(0)
    true_ret = (s.rewards[DENSE_REWARD] * s.mask).sum(1)
    eps = [test[i] for i in test.lengths]
    learned = episode_rewards(model, eps)
    true = [np.asarray(ep.rewards[DENSE_REWARD]) for ep in eps]
    return {
        "label_accuracy": float(((p[keep] > 0.5) == (truth[keep] > 0.5)).mean()),
        "segment_spearman": spearman(learned_ret, true_ret),
        "episode_spearman": spearman(
            np.array([x.sum() for x in learned]), np.array([x.sum() for x in true])
        ),
        **step_agreement(learned, true),
    }


def oracle_pairs(
    cache: EpisodeCache, pairs: list[tuple[Segment, Segment]], cfg: PreferenceConfig
) -> SegmentPairs:
    """Segment pairs (``cfg``'s observation keys) answered by the oracle over the dense reward."""
    keys, length, nxt = tuple(cfg.obs_keys), cfg.segment_length, cfg.scores_next
    a = load_segments(cache, [p[0] for p in pairs], keys, length, (DENSE_REWARD,), nxt)
    b = load_segments(cache, [p[1] for p in pairs], keys, length, (DENSE_REWARD,), nxt)
    return SegmentPairs(a, b, oracle_answers(a, b))


def oracle_answers(a: Segments, b: Segments) -> np.ndarray:
    """The oracle teacher's preferences [N] between segments loaded with the dense reward."""

    def real(segs):  # drop the padding of segments cut short by an episode end
        return [r[m > 0] for r, m in zip(segs.rewards[DENSE_REWARD], segs.mask)]

    return Teacher(TeacherConfig()).answer(real(a), real(b)).astype(np.float32)


def downstream(
    quick: bool,
    seeds: int,
    budgets: list[int],
    out: Path,
    task: str | None = None,
    extra: list[str] = (),
    pref_arms: list[tuple[str, int, int]] | None = None,
    on_row: Callable[[list[dict]], None] = lambda rows: None,
    first_seed: int = 0,
) -> dict:
    """`robot-rl pipeline reward=preference` (synthetic oracle labels on the pipeline's task,
    IQL pre-training then fine-tuning) at each query budget and selection method, against the
    same pipeline on the simulator's reward; final success over the pipeline's evaluation.
    ``extra``: more pipeline overrides for every arm (e.g. the dataset's mixture)."""
    from bench_pipeline import QUICK
    from bench_pipeline import run as run_pipeline

    base = ([*QUICK] if quick else []) + ([f"task={task}"] if task else []) + [*extra]
    arms: list[tuple[str, str | None, int, int]] = [("env", None, 0, 0)]
    pref_arms = pref_arms or [(m, n, 0) for n in budgets for m in ("uniform", "disagreement")]
    arms += [("preference", m, n, k) for m, n, k in pref_arms]
    budgets = sorted({n + k for _, n, k in pref_arms})
    rows = []
    for seed in range(first_seed, first_seed + seeds):
        for reward, method, n, online in arms:
            over = [*base, f"reward={reward}", f"seed={seed}"]
            if reward == "preference":
                over += [f"queries={n}", f"query_method={method}"]
                over += [f"online_queries={online}"] if online else []
            name = f"{reward}-{method or 'sim'}-{n}{f'+{online}' if online else ''}-s{seed}"
            r = run_pipeline(out / name, over, fresh=quick)  # a full run resumes
            rows.append({
                "reward": reward, "method": method, "queries": n + online,
                "online_queries": online, "seed": seed,
                "task": r["task"], "success_pretrained": r["success_pretrained"],
                "success_finetuned": r["success_finetuned"],
                "minutes": r["seconds_all_stages"] / 60,
            })  # fmt: skip
            print(json.dumps(rows[-1]), file=sys.stderr)
            on_row(rows)
    groups: dict[str, list[float]] = {}
    for r in rows:
        key = "simulator" if r["reward"] == "env" else _arm_name(r)
        groups.setdefault(key, []).append(r["success_finetuned"])
    print(f"\n{'reward':<34}{'seeds':>6}{'success':>9}  per seed")
    for key, v in groups.items():
        print(f"{key:<34}{len(v):>6}{np.mean(v):>9.2f}  {' '.join(f'{x:.2f}' for x in v)}")
    sim, top = float(np.mean(groups["simulator"])), max(budgets)
    targets = {
        f"{m}_{top}_within_10_points_of_simulator": bool(
            abs(np.mean(groups[f"{m} {top} queries"]) - sim) <= 0.10
        )
        for m in ("uniform", "disagreement")
        if f"{m} {top} queries" in groups
    }
    for m, n, k in pref_arms:  # online queries count in the budget
        if k and n + k == top:
            name = _arm_name({"method": m, "queries": n + k, "online_queries": k})
            targets[f"{m}_{n}+{k}_online_within_10_points_of_simulator"] = bool(
                abs(np.mean(groups[name]) - sim) <= 0.10
            )
    uni = groups.get(f"uniform {top} queries")
    for m, n, k in pref_arms:  # an active method at a smaller budget against uniform at the top
        if m != "uniform" and n + k < top and uni and not k:
            targets[f"{m}_{n}_reaches_uniform_{top}"] = bool(
                np.mean(groups[f"{m} {n} queries"]) >= np.mean(uni) - 1e-9
            )
    print(f"targets (mean over seeds, {top} queries vs simulator {sim:.2f}): {targets}")
    return {
        "design": "robot-rl pipeline reward=preference (synthetic oracle over the dense progress "
        "reward, state preference model with its defaults) vs reward=env; the pipeline's "
        "recipe (IQL pre-training, then its finetune_method)",
        "overrides": base,
        "pairs": PAIRS,
        "budgets": budgets,
        "seeds": seeds,
        "rows": rows,
        "mean_success": {k: float(np.mean(v)) for k, v in groups.items()},
        "targets": targets,
    }


def _arm_name(row: dict) -> str:
    online = row.get("online_queries") or 0
    before = row["queries"] - online
    return f"{row['method']} {before} queries" + (f" + {online} online" if online else "")


def parse_arm(text: str) -> tuple[str, int, int]:
    """ "uniform:700+300" -> ("uniform", 700, 300): method, queries asked before fine-tuning, and
    queries asked during it about the policy's own segments (PEBBLE; default 0)."""
    method, _, budget = text.partition(":")
    before, _, online = budget.partition("+")
    try:
        return method, int(before), int(online or 0)
    except ValueError:
        raise SystemExit(f"--downstream-arms: {text!r} is not METHOD:QUERIES[+ONLINE]") from None


def _row_key(r: dict) -> tuple:
    return (r["obs"], r["method"], r["teacher"], r["queries"])


def models(
    args: argparse.Namespace, current: Callable[[], dict], save: Callable[[dict], None]
) -> dict | None:
    """Label accuracy and return correlations per selection method, budget and teacher. Each row
    is saved as it finishes, merged with the rows the results file (``current()``) holds for the
    same settings: those are not re-run (a killed full run resumes), and processes given
    different ``--teachers`` can run side by side. ``--quick`` runs every row afresh. Returns
    None when no row was left to measure (nothing is written)."""
    if args.quick:  # the same code on small budgets and 32 px frames (a conv step is ~6x cheaper)
        n_train, n_test, budgets, rounds, steps, batch = 30, 15, [60, 150], 2, 60, 16
        teachers, size = ["oracle", "mistake"], 32
    else:
        n_train, n_test, budgets, rounds, steps, batch = 150, 50, [50, 100, 200, 400], 5, 500, 64
        teachers, size = ["oracle", "noisy", "mistake", "skip", "equal", "myopic"], 64
    methods = ["uniform", "disagreement", "entropy"]
    px = not args.no_pixels
    cfg_state = PreferenceConfig(obs_keys=("state",), steps=steps, batch_size=batch)
    # Pixel models: a conv net per member makes each step ~50x a state step on this CPU, so
    # fewer steps and pairs per batch (same queries, same teachers).
    cfg_px = PreferenceConfig(
        obs_keys=("pixels",), steps=30 if args.quick else 200, batch_size=8 if args.quick else 16
    )
    eval_pairs = {"state": 500, "pixels": 100 if args.quick else 200}
    runs = [(m, "oracle", n, cfg_state) for m in methods for n in budgets]
    runs += [("uniform", t, budgets[-1], cfg_state) for t in teachers if t != "oracle"]
    runs += [("uniform", t, budgets[-1], cfg_px) for t in teachers]  # run unless --no-pixels
    part = {
        "task": args.task,
        "train_episodes": n_train,
        "test_episodes": n_test,
        "config": {
            "pixel_model": {"steps": cfg_px.steps, "batch_size": cfg_px.batch_size, "size": size},
            "steps": steps,
            "rounds": rounds,
            "segment_length": cfg_state.segment_length,
            "pairs": PAIRS,
            "ensemble": cfg_state.ensemble_size,
            "batch_size": cfg_state.batch_size,
        },
    }
    keys = [(cfg.obs_keys[0], method, teacher, n) for method, teacher, n, cfg in runs]
    mine: dict[tuple, dict] = {}

    def merged() -> dict:
        doc = current()
        # a quick run measures today's code: it keeps no rows from an earlier run
        same = not args.quick and all(doc.get(k) == v for k, v in part.items())
        pool = {**({_row_key(r): r for r in doc.get("rows", [])} if same else {}), **mine}
        rows = [pool[k] for k in keys if k in pool]
        return {**part, "collect_seconds": t_collect, "rows": rows,
                "models_complete": len(rows) == len(keys)}  # fmt: skip

    t_collect = current().get("collect_seconds")  # kept when this run collects nothing
    done = {_row_key(r) for r in merged()["rows"]}
    only = set(args.teachers.split(",")) if args.teachers else set(teachers)
    if only - set(teachers):
        raise SystemExit(f"--teachers: unknown {sorted(only - set(teachers))} (known: {teachers})")
    only_methods = set(args.methods.split(",")) if args.methods else set(methods)
    if only_methods - set(methods):
        raise SystemExit(f"--methods: unknown {sorted(only_methods - set(methods))} ({methods})")
    todo = [
        (r, k) for r, k in zip(runs, keys)
        if k not in done and r[1] in only and r[0] in only_methods and (px or r[3] is cfg_state)
    ]  # fmt: skip
    if not todo:  # every row is measured: no episodes to collect, nothing to write
        return None
    tmp = Path(tempfile.mkdtemp(prefix="bench_pref_"))
    try:
        t0 = time.perf_counter()
        px = any(r[3] is cfg_px for r, _ in todo)  # render frames only for a pixel row
        train_root = collect(args.task, tmp / "train", range(n_train), px, size)
        test = EpisodeCache(
            collect(args.task, tmp / "test", range(10_000, 10_000 + n_test), px, size)
        )
        t_collect = time.perf_counter() - t0
        ds = Dataset(train_root)
        for (method, teacher, n, cfg), key in todo:
            shutil.rmtree(ds.root / "labels", ignore_errors=True)
            t1 = time.perf_counter()
            info = synthetic_preferences(
                ds.root, n, teacher=teacher, method=method, rounds=rounds, cfg=cfg, seed=0
            )
            pairs = preference_pairs(ds.root, cfg)
            obs_spec, a_dim = ds.meta.obs_spec, ds.meta.action_spec.dim
            model, m = train_preference(cfg, pairs, obs_spec, a_dim, seed=0)
            ev = evaluate(model, test, cfg, eval_pairs[cfg.obs_keys[0]], seed=1)
            row = {
                "obs": cfg.obs_keys[0],
                "method": method,
                "teacher": teacher,
                "queries": n,
                "answered": info["answered"],
                **ev,
                "train_accuracy": m["train/accuracy"],
                "seconds": time.perf_counter() - t1,
            }
            mine[key] = row
            print(json.dumps(row), file=sys.stderr)
            save(merged())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return merged()


def load(out: Path, quick: bool) -> dict:
    """The results file of this mode, with the fields older files lack filled in."""
    doc = previous_results(out, quick)
    for r in doc.get("rows", []):
        r.setdefault("obs", "state")  # files from before the pixel rows had state models only
    doc.get("config", {}).get("pixel_model", {}).setdefault("size", 64)  # ... and before 32 px
    return doc


def keep_unequal_pair_rows(out: Path, quick: bool) -> None:
    """Rows measured before pairs had segments of equal length (a short episode's segment was
    compared with a longer one) are moved to ``rows_unequal_pairs``, kept for reference and not
    mixed with rows measured now."""
    doc = load(out, quick)
    if doc.get("rows") and "pairs" not in doc.get("config", {}):
        old = {k: doc[k] for k in ("config", "rows", "models_complete", "machine") if k in doc}
        note = "measured at commit db8951f and before, with pairs of unequal segment lengths"
        update_results(out, quick, {"rows_unequal_pairs": {"note": note, **old}, "rows": []})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small budgets (a few minutes)")
    ap.add_argument("--parts", default="models", help="models,downstream (comma-separated)")
    ap.add_argument("--task", default="push", help="task of the model part")
    ap.add_argument("--out", default=None, help="default: bench-results/bench_preferences.json")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    ap.add_argument("--no-pixels", action="store_true", help="skip the 64 px model rows")
    ap.add_argument(
        "--teachers", default=None,
        help="only these teachers' rows (comma-separated), e.g. to run rows in parallel processes",
    )  # fmt: skip
    ap.add_argument(
        "--methods", default=None, help="only these query-selection methods' rows (comma-separated)"
    )
    ap.add_argument(
        "--downstream", action="store_true",
        help="same as adding downstream to --parts: pipeline success with the preference reward "
        "vs the simulator's (slow)",
    )  # fmt: skip
    ap.add_argument("--downstream-seeds", type=int, default=None, help="default 3 (quick: 1)")
    ap.add_argument(
        "--downstream-first-seed", type=int, default=0,
        help="seeds first..first+N-1 (e.g. a third seed alone, under its own --downstream-tag)",
    )  # fmt: skip
    ap.add_argument(
        "--downstream-arms", default=None, metavar="METHOD:QUERIES,...",
        help="preference arms of the downstream part (default: uniform and disagreement at "
        "every budget), e.g. uniform:1000,disagreement:300; uniform:700+300 asks 300 of the "
        "1,000 during fine-tuning (pipeline online_queries=300)",
    )  # fmt: skip
    ap.add_argument(
        "--downstream-tag",
        default="",
        help="results under downstream_<task>_<tag> (runs under runs/.../<task>_<tag>)",
    )
    ap.add_argument("--hard-tasks", default="push,zone", help="tasks of the recipes/active parts")
    ap.add_argument(
        "--hard-seeds", type=int, default=None, help="recipes/active: default 3 (quick: 1)"
    )
    ap.add_argument(
        "--active-budgets", default=None,
        help="active part: small budgets, then uniform's reference (default 50,100,300,1000)",
    )  # fmt: skip
    ap.add_argument(
        "--downstream-budgets", default=None, help="query budgets, default 100,300,1000 (quick: 20)"
    )
    ap.add_argument(
        "--downstream-task", default=None,
        help="pipeline task (default: the pipeline's, drawer); another task's figures are kept "
        "beside the drawer's, under downstream_<task>",
    )  # fmt: skip
    ap.add_argument(
        "--downstream-set", nargs="*", default=[], metavar="KEY=VALUE",
        help="more pipeline overrides for every downstream arm, e.g. "
        "mixture=expert:0.5+noisy0.1:0.5",
    )  # fmt: skip
    args = ap.parse_args()
    cleanup_on_sigterm()
    also = {"downstream"} if args.downstream else set()
    parts = parse_parts(args.parts, {"models", "downstream", "recipes", "active"}, also)
    torch.set_num_threads(args.threads)
    out = Path(args.out or f"bench-results/bench_preferences{'_quick' if args.quick else ''}.json")
    # A part not run now is kept from the file; each part is merged into the file as it is on
    # disk when written, so a models run and a downstream run at once keep each other's figures.
    if "models" in parts:
        keep_unequal_pair_rows(out, args.quick)
        machine = {**machine_info(), "torch_threads": torch.get_num_threads()}
        save = lambda part: update_results(out, args.quick, {**part, "machine": machine})  # noqa: E731
        if (part := models(args, lambda: load(out, args.quick), save)) is not None:
            save(part)
    if "downstream" in parts:
        budgets = args.downstream_budgets or ("20" if args.quick else "100,300,1000")
        task = args.downstream_task
        key = f"downstream_{task}" if task and task != "drawer" else "downstream"
        key += f"_{args.downstream_tag}" if args.downstream_tag else ""
        work = Path("runs/bench_preferences") / ("quick" if args.quick else "full")
        prev = load(out, args.quick).get(key)
        if isinstance(prev, dict) and "pairs" not in prev:  # kept, not mixed with today's rows
            update_results(out, args.quick, {f"{key}_unequal_pairs": prev})
        result = downstream(
            args.quick,
            args.downstream_seeds or (1 if args.quick else 3),
            [int(b) for b in budgets.split(",")],
            work / key.removeprefix("downstream_") if key != "downstream" else work,
            task,
            args.downstream_set,
            [parse_arm(a) for a in args.downstream_arms.split(",")]
            if args.downstream_arms
            else None,
            # rows so far, kept apart from the last complete figures until this run completes
            lambda rows: update_results(out, args.quick, {f"{key}_in_progress": rows}),
            args.downstream_first_seed,
        )
        done = {key: {**result, "machine": machine_info()}, f"{key}_in_progress": None}
        update_results(out, args.quick, done)
    hard_parts(args, parts, out)
    doc = {"downstream": "not run (pass --parts downstream)", **load(out, args.quick)}
    doc["benchmark"] = "preference"
    if "rows" in doc:
        print(
            f"\npreference benchmark: task={doc['task']} train episodes={doc['train_episodes']} "
            f"test episodes={doc['test_episodes']} (other seeds) steps={doc['config']['steps']} "
            f"rounds={doc['config']['rounds']}"
        )
        hdr = f"{'obs':<7}{'method':<13}{'teacher':<9}{'queries':>8}{'answered':>9}"
        print(hdr + f"{'label_acc':>10}{'seg_rho':>9}{'ep_rho':>8}{'sec':>7}")
        for r in doc["rows"]:
            print(
                f"{r['obs']:<7}{r['method']:<13}{r['teacher']:<9}{r['queries']:>8}"
                f"{r['answered']:>9}{r['label_accuracy']:>10.3f}{r['segment_spearman']:>9.3f}"
                f"{r['episode_spearman']:>8.3f}{r['seconds']:>7.1f}"
            )
    update_results(out, args.quick, doc)
    fig = (
        plot(
            doc["rows"],
            out.with_suffix(".png"),
            downstream_parts(doc),
            "" if "pairs" in doc.get("config", {}) else "\n(pairs of unequal lengths, db8951f)",
        )
        if doc.get("rows")
        else None
    )
    print(f"wrote {out}" + (f" and {fig}" if fig else ""))


def hard_parts(args: argparse.Namespace, parts: set[str], out: Path) -> None:
    """The recipes and active parts (push and zone, offline), run and printed."""
    from preference_parts import active_part, print_summary, recipes_part

    tasks, seeds = args.hard_tasks.split(","), args.hard_seeds or (1 if args.quick else 3)
    for name in ("recipes", "active"):
        if name not in parts:
            continue
        prev = load(out, args.quick).get(name, {})
        machine = {**machine_info(), "torch_threads": torch.get_num_threads()}
        save = lambda part, n=name, m=machine: update_results(  # noqa: E731
            out, args.quick, {n: {**part, "machine": m}}
        )
        if name == "recipes":
            part = recipes_part(tasks, seeds, 100 if args.quick else 1000, args.quick, prev, save)
        else:
            default = "20,60" if args.quick else "50,100,300,1000"
            budgets = [int(b) for b in (args.active_budgets or default).split(",")]
            part = active_part(tasks, seeds, budgets, args.quick, prev, save)
        save(part)
    doc = load(out, args.quick)
    for name, by in (("recipes", "recipe"), ("active", "method")):
        if isinstance(doc.get(name), dict) and doc[name].get("summary"):
            print_summary(f"preference {name} (oracle labels; held-out episodes)",
                          doc[name]["summary"], by)  # fmt: skip


def downstream_parts(doc: dict) -> list[dict]:
    """The measured downstream parts of a results file: the drawer's, then other tasks'."""
    return [
        v for k, v in doc.items()
        if k.startswith("downstream") and not k.endswith("_unequal_pairs") and isinstance(v, dict)
    ]  # fmt: skip


def plot(rows: list[dict], path: Path, downstream: list[dict] = (), note: str = "") -> Path:
    """Oracle label accuracy against queries per selection method; every teacher's figures; and
    downstream success against queries per task, when measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.training.plots import save_figure

    ds_parts = [d for d in downstream if d.get("rows")]
    n = 2 + len(ds_parts)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.8))
    a, b = axes[:2]
    oracle = [r for r in rows if r["obs"] == "state" and r["teacher"] == "oracle"]
    for method in dict.fromkeys(r["method"] for r in oracle):
        rs = sorted((r for r in oracle if r["method"] == method), key=lambda r: r["queries"])
        a.plot([r["queries"] for r in rs], [r["label_accuracy"] for r in rs], "o-", label=method)
    a.set(xlabel="queries (oracle teacher)", ylabel="held-out label accuracy", ylim=(0.45, 1.0))
    a.set_title("state model: query selection" + note, fontsize=9)
    top = max(r["queries"] for r in rows)
    per_teacher = [r for r in rows if r["method"] == "uniform" and r["queries"] == top]
    teachers = list(dict.fromkeys(r["teacher"] for r in per_teacher))
    kinds = list(dict.fromkeys(r["obs"] for r in per_teacher))
    for j, obs in enumerate(kinds):
        for i, t in enumerate(teachers):
            r = next((r for r in per_teacher if (r["obs"], r["teacher"]) == (obs, t)), None)
            if r is not None:
                x = i + (j - (len(kinds) - 1) / 2) * 0.4
                b.bar(x, r["episode_spearman"], 0.38, color=f"C{j}", label=None if i else obs)
    b.set_xticks(range(len(teachers)), teachers, fontsize=8)
    b.set(ylabel="Spearman: learned vs true episode return", ylim=(-0.2, 1.0))
    b.set_title(f"per teacher, uniform selection, {top} queries" + note, fontsize=9)
    for ax, part in zip(axes[2:], ds_parts):
        _plot_downstream(ax, part["rows"])
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def _plot_downstream(ax, rows: list[dict]) -> None:
    """Fine-tuned success against queries per selection method (line: seed mean, dots: seeds);
    the simulator's reward as a band over its seeds' range."""
    sim = [r["success_finetuned"] for r in rows if r["reward"] == "env"]
    if sim:
        ax.axhspan(min(sim), max(sim), color="0.85", zorder=0)
        ax.axhline(
            float(np.mean(sim)), color="k", lw=1, label=f"simulator reward ({len(sim)} seeds)"
        )
    pref = [r for r in rows if r["reward"] == "preference"]
    line = lambda r: r["method"] + (" + online" if r.get("online_queries") else "")  # noqa: E731
    for j, method in enumerate(dict.fromkeys(map(line, pref))):
        rs = [r for r in pref if line(r) == method]
        qs = sorted({r["queries"] for r in rs})
        means = [np.mean([r["success_finetuned"] for r in rs if r["queries"] == q]) for q in qs]
        ax.plot(qs, means, "o-", color=f"C{j}", label=method)
        ax.scatter([r["queries"] for r in rs], [r["success_finetuned"] for r in rs],
                   s=10, color=f"C{j}", alpha=0.6)  # fmt: skip
    ax.set_xscale("log")
    ticks = sorted({r["queries"] for r in pref})
    ax.set_xticks(ticks, [str(q) for q in ticks])
    ax.minorticks_off()
    ax.set(xlabel="preference queries (oracle)", ylabel="success after fine-tuning",
           ylim=(0.0, 1.05))  # fmt: skip
    task = rows[0]["task"] if rows else "?"
    ax.set_title(f"downstream: {task}, IQL pre-training + fine-tuning", fontsize=9)


if __name__ == "__main__":
    main()
