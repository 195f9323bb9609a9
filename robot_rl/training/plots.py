"""Plots people would rather look at than read: learning curves of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robot_rl.data.format import atomic_write
from robot_rl.training.logger import read_csv


def save_figure(fig: Any, out: Path, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically (no half-written image on a crash); close it."""
    import matplotlib.pyplot as plt

    try:
        atomic_write(Path(out), lambda f: fig.savefig(f, format="png", dpi=dpi))
    finally:
        plt.close(fig)
    return Path(out)


def plot_learning_curve(run_dir: Path, out: Path, title: str = "") -> Path | None:
    """eval/success_rate (and train/success_rate if logged) against steps, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    ev = read_csv(run_dir / "eval.csv") if (run_dir / "eval.csv").exists() else {}
    tr = read_csv(run_dir / "train.csv") if (run_dir / "train.csv").exists() else {}
    if not ev and not tr:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    if "eval/success_rate" in ev:
        ax.plot(ev["step"], ev["eval/success_rate"], "o-", label="evaluation (deterministic)")
    if "train/success_rate" in tr:
        ax.plot(
            tr["step"], tr["train/success_rate"], alpha=0.6, label="training episodes (last 20)"
        )
    ax.set_xlabel("step")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or run_dir.name, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)
