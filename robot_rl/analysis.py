"""Aggregating runs: interquartile mean (IQM) with stratified-bootstrap confidence intervals
(Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"), as curves and tables."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import UserError


def iqm(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean of the middle 50% along ``axis`` (the 25%-75% trimmed mean)."""
    x = np.sort(np.asarray(x, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    lo, hi = int(np.floor(0.25 * n)), int(np.ceil(0.75 * n))
    if hi <= lo:  # fewer than 2 runs: nothing to trim
        lo, hi = 0, n
    return np.take(x, np.arange(lo, hi), axis=axis).mean(axis=axis)


def bootstrap_ci(
    x: np.ndarray, stat=iqm, reps: int = 2000, alpha: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap over runs (axis 0) of ``stat``; returns (low, high)."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(reps, x.shape[0]))
    stats = np.stack([stat(x[i], axis=0) for i in idx])
    return np.quantile(stats, alpha / 2, axis=0), np.quantile(stats, 1 - alpha / 2, axis=0)


def run_label(run: Path, keys: tuple[str, ...]) -> str:
    """A run's group: its config fields ``keys`` (seed excluded), from run_config.json."""
    cfg_path = run / "run_config.json"
    if not cfg_path.exists():
        return run.name
    cfg = json.loads(cfg_path.read_text()).get("config", {})
    parts = [f"{cfg[k]}" for k in keys if cfg.get(k) not in (None, "")]
    return "/".join(parts) or run.name


def load_runs(
    runs: list[Path], metric: str, group_by: tuple[str, ...]
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    from robot_rl.training.logger import read_csv

    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for run in runs:
        path = run / "eval.csv"
        if not path.exists():
            raise UserError(f"{path}: no evaluation log (is {run} a pretrain/finetune run?)")
        cols = read_csv(path)
        if metric not in cols:
            raise UserError(f"{path}: no column {metric!r} (has {sorted(cols)})")
        groups[run_label(run, group_by)].append((np.array(cols["step"]), np.array(cols[metric])))
    return groups


def aggregate(curves: list[tuple[np.ndarray, np.ndarray]], grid: int = 50) -> dict[str, Any]:
    """Curves of several seeds on a shared step grid: IQM, CI, and the final-value summary."""
    last = min(c[0][-1] for c in curves)
    first = max(c[0][0] for c in curves)
    steps = np.linspace(first, last, grid) if last > first else np.array([last])
    y = np.stack([np.interp(steps, s, v) for s, v in curves])  # [runs, grid]
    lo, hi = bootstrap_ci(y)
    final = np.array([v[-1] for _, v in curves])
    flo, fhi = bootstrap_ci(final[:, None])
    return {
        "steps": steps,
        "iqm": iqm(y),
        "low": lo,
        "high": hi,
        "runs": len(curves),
        "final_iqm": float(iqm(final)),
        "final_mean": float(final.mean()),
        "final_low": float(flo[0]),
        "final_high": float(fhi[0]),
    }


def plot_runs(
    runs: list[Path],
    out: Path,
    metric: str = "eval/success_rate",
    group_by: tuple[str, ...] = ("method", "agent_name", "task"),
) -> list[dict[str, Any]]:
    """Write ``out`` (PNG) and ``out.with_suffix('.json')``; returns the table rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.data.format import atomic_write_json
    from robot_rl.training.plots import save_figure

    groups = load_runs(runs, metric, group_by)
    fig, ax = plt.subplots(figsize=(7, 4))
    table = []
    for name, curves in sorted(groups.items()):
        a = aggregate(curves)
        ax.plot(a["steps"], a["iqm"], label=f"{name} (n={a['runs']})")
        ax.fill_between(a["steps"], a["low"], a["high"], alpha=0.2)
        table.append(
            {
                "group": name,
                "runs": a["runs"],
                "final_iqm": a["final_iqm"],
                "final_mean": a["final_mean"],
                "ci95": [a["final_low"], a["final_high"]],
            }
        )
    ax.set(xlabel="step", ylabel=f"{metric} (IQM, 95% bootstrap CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out)
    atomic_write_json(out.with_suffix(".json"), {"metric": metric, "groups": table})
    return table
