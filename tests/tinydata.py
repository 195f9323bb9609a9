"""Tiny synthetic datasets in the real format (no simulator needed), for tests.

``make_tiny_dataset(root, kind, episodes, seed)`` writes a dataset in the real format:
- kind="state":  obs {"state": float32[25]}, action dim 4
- kind="pixels": obs {"pixels": uint8[64, 64, 3], "proprio": float32[10]}, action dim 4
Even-numbered episodes succeed (the "block" reaches the goal corner: terminated + success on
the last step, reward.env 1.0 there); odd ones wander and are truncated without success.
Images draw a bright block at the block's position over a dim goal square, so a classifier
can actually learn success from pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.data import DatasetMeta, DatasetWriter, Episode
from robot_rl.types import ActionSpec, ArraySpec

STATE_DIM = 25
PROPRIO_DIM = 10
ACTION_DIM = 4
IMAGE_SIZE = 64
GOAL = np.array([0.8, 0.8], dtype=np.float32)  # in [0, 1]^2 image coordinates


def tiny_meta(kind: str) -> DatasetMeta:
    """The meta.json of a tiny dataset of ``kind`` ("state" or "pixels")."""
    if kind == "state":
        spec = {"state": ArraySpec((STATE_DIM,), "float32")}
    elif kind == "pixels":
        spec = {
            "pixels": ArraySpec((IMAGE_SIZE, IMAGE_SIZE, 3), "uint8"),
            "proprio": ArraySpec((PROPRIO_DIM,), "float32"),
        }
    else:
        raise ValueError(f"kind must be 'state' or 'pixels', got {kind!r}")
    return DatasetMeta(
        task="tiny",
        control_freq=25.0,
        obs_spec=spec,
        action_spec=ActionSpec(ACTION_DIM),
        provenance={"source": "tests/conftest.py"},
    )


def render_tiny(block: np.ndarray) -> np.ndarray:
    """[N, 2] block positions in [0,1]^2 -> [N, 64, 64, 3] uint8 frames."""
    n = block.shape[0]
    img = np.full((n, IMAGE_SIZE, IMAGE_SIZE, 3), 30, dtype=np.uint8)
    g = (GOAL * IMAGE_SIZE).astype(int)
    img[:, g[1] - 6 : g[1] + 6, g[0] - 6 : g[0] + 6, 1] = 120  # goal zone: dim green
    px = np.clip((block * IMAGE_SIZE).astype(int), 4, IMAGE_SIZE - 5)
    for i in range(n):
        x, y = px[i]
        img[i, y - 4 : y + 4, x - 4 : x + 4, 0] = 250  # block: bright red
    return img


def tiny_episode(kind: str, rng: np.random.Generator, success: bool, length: int) -> Episode:
    """One synthetic episode of ``length`` steps; a success ends terminated at the goal."""
    start = rng.uniform(0.1, 0.4, size=2).astype(np.float32)
    block = np.empty((length + 1, 2), dtype=np.float32)
    block[0] = start
    action = np.zeros((length, ACTION_DIM), dtype=np.float32)
    for t in range(length):
        if success:
            # Straight line to the goal, arriving exactly on the last step.
            move = (GOAL - block[t]) / (length - t)
            action[t, :2] = np.clip(move / 0.1, -1, 1)
        else:
            # Wander, kept away from the goal corner so a failure never looks like success.
            action[t, :2] = rng.uniform(-1, 1, size=2) * 0.3
            move = 0.1 * action[t, :2]
        action[t, 2:] = rng.uniform(-1, 1, size=ACTION_DIM - 2)
        block[t + 1] = np.clip(block[t] + move, 0.0, 1.0 if success else 0.55)
    succ = np.zeros(length, dtype=bool)
    succ[-1] = success
    reward = succ.astype(np.float32)
    terminated = succ.copy()
    truncated = np.zeros(length, dtype=bool)
    truncated[-1] = not success
    noise = rng.normal(0, 0.05, size=(length + 1, STATE_DIM)).astype(np.float32)
    if kind == "state":
        state = noise
        state[:, :2] = block
        state[:, 2:4] = GOAL
        obs = {"state": state}
    else:
        proprio = noise[:, :PROPRIO_DIM].copy()
        proprio[:, :2] = block
        obs = {"pixels": render_tiny(block), "proprio": proprio}
    return Episode(
        obs=obs,
        action=action,
        rewards={"reward.env": reward},
        terminated=terminated,
        truncated=truncated,
        success=succ,
        info={"policy": "expert" if success else "random", "noise": 0.0, "length": length},
    )


def make_tiny_dataset(root: Path, kind: str = "state", episodes: int = 6, seed: int = 0) -> Path:
    """Write a tiny synthetic dataset at ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(root, tiny_meta(kind))
    for i in range(episodes):
        length = int(rng.integers(10, 21))
        ep = tiny_episode(kind, rng, success=(i % 2 == 0), length=length)
        ep.info["seed"] = seed
        writer.write(ep, i)
    return Path(root)
