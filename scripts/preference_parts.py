"""Parts of scripts/bench_preferences.py on the hard tasks (push, zone), offline:

- ``recipes``: which preference-model recipe learns progress, not episode identity. One set of
  oracle labels per task and seed (uniform pairs), every recipe trained on the same labels;
  scored on episodes of other seeds by label accuracy, segment / episode return correlation and
  step-level agreement with the teacher's per-step reward (pooled and within episodes).
- ``active``: uniform against disagreement selection at small budgets (50-300 queries) with the
  default model, against uniform at 1,000.

Each row is saved as it finishes; a re-run measures only the rows the results file lacks.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data import Dataset
from robot_rl.data.labels import Segment
from robot_rl.rewards.kinds.preference import default_preference_config
from robot_rl.rewards.preference import PreferenceConfig, train_preference
from robot_rl.rewards.segments import (
    EpisodeCache,
    SegmentPairs,
    Segments,
    sample_pairs,
)
from robot_rl.rewards.train import preference_pairs, synthetic_preferences

# Recipe name -> PreferenceConfig fields, plus "same_episode": the share of pairs whose two
# segments come from one episode (one start state and goal: only progress tells them apart).
RECIPES: dict[str, dict[str, Any]] = {
    "r(s,a) (PEBBLE)": {"use_action": True},
    "r(s)": {"use_action": False},
    "r(s), 128x2": {"use_action": False, "hidden_dims": (128, 128)},
    "r(s), 3x steps": {"use_action": False, "steps": 1500},
    "r(s), half same-episode pairs": {"use_action": False, "same_episode": 0.5},
}
Row = dict[str, Any]


def same_episode_pairs(
    cache: EpisodeCache, n: int, length: int, rng: np.random.Generator
) -> list[tuple[Segment, Segment]]:
    """``n`` pairs of two segments of one episode (uniform episode, then two uniform starts)."""
    ids = np.array(sorted(cache.lengths))
    out = []
    for ep in rng.choice(ids, size=n):
        t = cache.lengths[int(ep)]
        m = min(length, t)
        a, b = (Segment(int(ep), int(rng.integers(0, t - m + 1)), m) for _ in range(2))
        out.append((a, b))
    return out


def _concat(x: Segments, y: Segments) -> Segments:
    cat = np.concatenate
    return Segments(
        {k: cat([x.obs[k], y.obs[k]]) for k in x.obs}, cat([x.action, y.action]),
        cat([x.mask, y.mask]), {k: cat([x.rewards[k], y.rewards[k]]) for k in x.rewards},
    )  # fmt: skip


def recipe_labels(
    cache: EpisodeCache, n: int, same_share: float, cfg: PreferenceConfig, seed: int
) -> SegmentPairs:
    """``n`` oracle-answered pairs: the first ``1 - same_share`` drawn across episodes, the rest
    within one; the cross-episode draws are the same for every share (one rng per kind)."""
    from bench_preferences import oracle_pairs

    k = int(round(n * same_share))
    cross = sample_pairs(cache, n, cfg.segment_length, np.random.default_rng([seed, 0]))
    same = same_episode_pairs(cache, n, cfg.segment_length, np.random.default_rng([seed, 1]))
    a = oracle_pairs(cache, cross[: n - k], cfg)
    if k == 0:
        return a
    b = oracle_pairs(cache, same[:k], cfg)
    return SegmentPairs(
        _concat(a.a, b.a), _concat(a.b, b.b), np.concatenate([a.preference, b.preference])
    )


def recipe_row(
    task: str, recipe: str, seed: int, n: int, train: EpisodeCache, test: EpisodeCache
) -> Row:
    """Train ``recipe`` on ``n`` oracle labels drawn with ``seed``; score on ``test``."""
    from bench_preferences import evaluate

    fields = dict(RECIPES[recipe])
    same = float(fields.pop("same_episode", 0.0))
    cfg = PreferenceConfig(obs_keys=("state",), **{**fields, **quick_fields(test)})
    t0 = time.perf_counter()
    pairs = recipe_labels(train, n, same, cfg, seed)
    model, m = train_preference(cfg, pairs, train.obs_spec, train.action_dim, seed=seed)
    ev = evaluate(model, test, cfg, 500, seed=1000 + seed)
    return {
        "task": task, "recipe": recipe, "seed": seed, "queries": n, **ev,
        "holdout_accuracy": m["holdout/accuracy"], "train_accuracy": m["train/accuracy"],
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def active_row(
    task: str, method: str, n: int, seed: int, ds: Dataset, test: EpisodeCache, rounds: int
) -> Row:
    """Label ``n`` queries picked by ``method`` (the pipeline's labelling, ``rounds`` rounds)
    with the default preference model; train it; score on ``test``."""
    from bench_preferences import evaluate

    cfg = default_preference_config(ds.meta.obs_spec, **quick_fields(test))
    shutil.rmtree(ds.root / "labels", ignore_errors=True)
    t0 = time.perf_counter()
    synthetic_preferences(ds.root, n, "oracle", method, rounds, cfg, seed)
    pairs = preference_pairs(ds.root, cfg)
    model, m = train_preference(cfg, pairs, ds.meta.obs_spec, ds.meta.action_spec.dim, seed=seed)
    ev = evaluate(model, test, cfg, 500, seed=1000 + seed)
    return {
        "task": task, "method": method, "queries": n, "seed": seed, "rounds": rounds, **ev,
        "model": {"use_action": cfg.use_action, "hidden_dims": list(cfg.hidden_dims)},
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def quick_fields(test: EpisodeCache) -> dict[str, Any]:
    """--quick (a test set of under 20 episodes): the same code with 100 training steps."""
    return {"steps": 100} if len(test.lengths) < 20 else {}


def run_rows(
    name: str,
    todo: list[tuple[tuple, Callable[[], Row]]],
    done: dict[tuple, Row],
    save: Callable[[list[Row]], None],
) -> list[Row]:
    """Run the rows whose key is not in ``done``, saving every row after each one."""
    rows = dict(done)
    for key, fn in todo:
        if key in rows:
            continue
        rows[key] = fn()
        print(json.dumps({"part": name, **rows[key]}), file=sys.stderr, flush=True)
        save(list(rows.values()))
    return [rows[k] for k, _ in todo if k in rows]


def task_data(task: str, tmp: Path, n_train: int, n_test: int) -> tuple[Dataset, EpisodeCache]:
    """Scripted episodes of ``task`` (bench_preferences' policy mix): train set and test cache."""
    from bench_preferences import collect

    train = collect(task, tmp / task / "train", range(n_train))
    test = collect(task, tmp / task / "test", range(10_000, 10_000 + n_test))
    return Dataset(train), EpisodeCache(test)


def recipes_part(
    tasks: list[str], seeds: int, queries: int, quick: bool, prev: dict, save: Callable
) -> dict:
    """The ``recipes`` part: every recipe on every task and seed (rows resume from ``prev``)."""
    n_train, n_test = (30, 15) if quick else (150, 50)
    recipes = list(RECIPES) if not quick else ["r(s,a) (PEBBLE)", "r(s)"]
    head = {"train_episodes": n_train, "test_episodes": n_test, "queries": queries,
            "recipes": {k: RECIPES[k] for k in recipes}}  # fmt: skip
    same = not quick and all(prev.get(k) == v for k, v in _plain(head).items())
    done = {(r["task"], r["recipe"], r["seed"]): r for r in prev.get("rows", [])} if same else {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_pref_recipes_"))
    rows: list[Row] = []
    try:
        for task in tasks:
            keys = [(task, r, s) for s in range(seeds) for r in recipes]
            if all(k in done for k in keys):
                continue
            ds, test = task_data(task, tmp, n_train, n_test)
            train = EpisodeCache(ds)
            todo = [(k, _bind(recipe_row, task, k[1], k[2], queries, train, test)) for k in keys]
            new = run_rows("recipes", todo, done, lambda rs: save({**head, "rows": rs}))
            done |= {(r["task"], r["recipe"], r["seed"]): r for r in new}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = list(done.values())
    return {**head, "rows": rows, "summary": summarise(rows, "recipe")}


def _bind(fn: Callable, *args: Any) -> Callable[[], Row]:
    return lambda: fn(*args)


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d))


def summarise(rows: list[Row], by: str) -> list[Row]:
    """Mean and per-seed figures of each (task, ``by``[, queries]) group."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((r["task"], r[by], r.get("queries")), []).append(r)
    out = []
    for (task, name, q), rs in groups.items():
        stat = {
            m: float(np.mean([r[m] for r in rs]))
            for m in ("label_accuracy", "step_spearman", "within_episode_spearman",
                      "episode_spearman")
        }  # fmt: skip
        out.append({"task": task, by: name, "queries": q, "seeds": len(rs), **stat,
                    "step_spearman_per_seed": [r["step_spearman"] for r in rs]})  # fmt: skip
    return out


def print_summary(title: str, summary: list[Row], by: str) -> None:
    print(f"\n{title}")
    print(f"{'task':<7}{by:<32}{'queries':>8}{'seeds':>6}{'label_acc':>10}{'step_rho':>9}"
          f"{'within_rho':>11}{'ep_rho':>8}  step_rho per seed")  # fmt: skip
    for r in summary:
        print(f"{r['task']:<7}{str(r[by]):<32}{r['queries']:>8}{r['seeds']:>6}"
              f"{r['label_accuracy']:>10.3f}{r['step_spearman']:>9.3f}"
              f"{r['within_episode_spearman']:>11.3f}{r['episode_spearman']:>8.3f}  "
              + " ".join(f"{x:.2f}" for x in r["step_spearman_per_seed"]))  # fmt: skip


def active_part(
    tasks: list[str], seeds: int, budgets: list[int], quick: bool, prev: dict, save: Callable
) -> dict:
    """The ``active`` part: uniform and disagreement at each budget, uniform at the reference
    budget (the last), per task and seed (rows resume from ``prev``)."""
    n_train, n_test, rounds = (30, 15, 2) if quick else (150, 50, 3)
    head = {"train_episodes": n_train, "test_episodes": n_test, "budgets": budgets,
            "rounds": rounds}  # fmt: skip
    same = not quick and all(prev.get(k) == v for k, v in head.items())
    key = lambda r: (r["task"], r["method"], r["queries"], r["seed"])  # noqa: E731
    done = {key(r): r for r in prev.get("rows", [])} if same else {}
    arms = [(m, n) for n in budgets[:-1] for m in ("uniform", "disagreement")]
    arms.append(("uniform", budgets[-1]))
    tmp = Path(tempfile.mkdtemp(prefix="bench_pref_active_"))
    try:
        for task in tasks:
            keys = [(task, m, n, s) for s in range(seeds) for m, n in arms]
            if all(k in done for k in keys):
                continue
            ds, test = task_data(task, tmp, n_train, n_test)
            todo = [(k, _bind(active_row, task, k[1], k[2], k[3], ds, test, rounds)) for k in keys]
            new = run_rows("active", todo, done, lambda rs: save({**head, "rows": rs}))
            done |= {key(r): r for r in new}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = list(done.values())
    for r in rows:
        r["arm"] = f"{r['method']} {r['queries']}"
    return {**head, "rows": rows, "summary": summarise(rows, "method")}
