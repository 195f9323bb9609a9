"""Relabel a dataset with a learned reward: adds ``reward.<name>`` to every episode."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from robot_rl.data import Dataset, Episode
from robot_rl.errors import UserError
from robot_rl.rewards.model_io import load_reward, read_reward_config


def default_column_name(ckpt_dir: str | Path) -> str:
    """The checkpoint directory's name, reduced to the characters a column name allows."""
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", Path(ckpt_dir).resolve().name).strip("_")
    return name if name and name != "env" else "learned"


def relabel_dataset(
    dataset_root: str | Path,
    reward_ckpt_dir: str | Path,
    name: str | None = None,
    batch_size: int = 512,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> str:
    """Score every transition with the checkpoint's reward and store it as ``reward.<name>``.

    Other columns stay untouched (Dataset.add_reward_column); the manifest records the
    checkpoint path, its kind and its threshold. Returns the column name.
    """
    ds = Dataset(dataset_root)
    doc = read_reward_config(reward_ckpt_dir)
    rm = load_reward(reward_ckpt_dir, device=device)
    spec = ds.meta.obs_spec
    for k in rm.obs_keys:
        want = rm.obs_spec[k]
        if k not in spec:
            raise UserError(
                f"{Path(reward_ckpt_dir) / 'config.json'}: the reward needs observation key {k!r}, "
                f"which {Path(dataset_root) / 'meta.json'} does not declare ({sorted(spec)})"
            )
        if spec[k] != want:
            raise UserError(
                f"{Path(dataset_root) / 'meta.json'}: observation {k!r} is {spec[k]}, the reward "
                f"was trained on {want}"
            )
    n_eps, t0, done = len(ds), time.perf_counter(), [0, 0]

    @torch.no_grad()
    def score(ep: Episode) -> np.ndarray:
        out = []
        for i in range(0, ep.length, batch_size):
            j = min(i + batch_size, ep.length)
            obs = {k: torch.as_tensor(ep.obs[k][i:j], device=device) for k in rm.obs_keys}
            nxt = {k: torch.as_tensor(ep.obs[k][i + 1 : j + 1], device=device) for k in rm.obs_keys}
            act = torch.as_tensor(ep.action[i:j], device=device)
            out.append(rm.reward(obs, act, nxt).cpu().numpy())
        done[0] += 1
        done[1] += ep.length
        if progress and (done[0] % max(1, n_eps // 10) == 0 or done[0] == n_eps):
            rate = done[1] / max(time.perf_counter() - t0, 1e-9)
            print(f"relabel {done[0]}/{n_eps} episodes ({rate:.0f} transitions/s)", file=sys.stderr)
        return np.concatenate(out).astype(np.float32)

    source = {
        "kind": "reward_model",
        "model_kind": doc["kind"],
        "checkpoint": str(Path(reward_ckpt_dir).resolve()),
        "threshold": doc.get("threshold"),
        "reward_type": doc["config"].get("reward_type"),
    }
    return ds.add_reward_column(name or default_column_name(reward_ckpt_dir), score, source)
