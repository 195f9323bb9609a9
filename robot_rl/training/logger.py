"""Metrics to CSV (always), TensorBoard and wandb (offline by default) under one key scheme.

Metrics arrive as detached tensors and become numbers only here, at log time, so the training
loop never forces a device sync per step.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class LoggerConfig:
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "robot_rl"
    wandb_mode: str = "offline"  # offline | online | disabled


def _number(v: Any) -> float:
    return float(v.detach().float().mean().item()) if isinstance(v, torch.Tensor) else float(v)


class Logger:
    """Writes `<run>/<group>.csv` (train.csv, eval.csv, ...) with a `step` column."""

    def __init__(self, run_dir: Path, cfg: LoggerConfig | None = None, config: dict | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg = cfg or LoggerConfig()
        self._headers: dict[str, list[str]] = {}
        self._tb = None
        self._wandb = None
        if self.cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"))
        if self.cfg.wandb and os.environ.get("WANDB_MODE") != "disabled":
            import wandb  # slow import: only when asked

            self._wandb = wandb.init(
                project=self.cfg.wandb_project,
                dir=str(self.run_dir),
                # a str field (OmegaConf schemas have no Literal); wandb checks the value
                mode=self.cfg.wandb_mode,  # type: ignore[arg-type]
                config=config or {},
                name=self.run_dir.name,
                resume="allow",
            )

    def log(self, group: str, step: int, metrics: dict[str, Any]) -> dict[str, float]:
        row = {k: _number(v) for k, v in metrics.items()}
        path = self.run_dir / f"{group}.csv"
        header = self._headers.get(group)
        if header is None and path.exists():
            with open(path) as f:
                header = next(csv.reader(f), None)
        keys = ["step", *sorted(row)]
        if header is None or not set(keys) <= set(header):
            header = self._rewrite(path, sorted(set(header or []) | set(keys), key=_order))
        self._headers[group] = header
        with open(path, "a", newline="") as f:
            csv.writer(f).writerow([step if k == "step" else row.get(k, "") for k in header])
        if self._tb is not None:
            for k, v in row.items():
                self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log(row, step=step)
        return row

    @staticmethod
    def _rewrite(path: Path, header: list[str]) -> list[str]:
        """(Re)write the CSV with a wider header, keeping old rows (new keys blank)."""
        rows = []
        if path.exists():
            with open(path) as f:
                rows = list(csv.DictReader(f))
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
        return header

    def truncate_after(self, step: int) -> None:
        """On resume, drop rows logged after the checkpoint we resume from (no duplicate steps)."""
        for path in self.run_dir.glob("*.csv"):
            with open(path) as f:
                rows = list(csv.DictReader(f))
                header = list(rows[0].keys()) if rows else None
            if header is None:
                continue
            keep = [r for r in rows if r["step"] and int(float(r["step"])) <= step]
            tmp = path.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=header)
                w.writeheader()
                w.writerows(keep)
            os.replace(tmp, path)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _order(key: str) -> tuple[int, str]:
    return (0, "") if key == "step" else (1, key)


def read_csv(path: Path) -> dict[str, list[float]]:
    """Columns of a metrics CSV as float lists (blank -> nan)."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    nan = float("nan")
    return {k: [float(r[k]) if r[k] not in ("", None) else nan for r in rows] for k in rows[0]}
