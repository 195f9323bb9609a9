"""Agent checkpoints that carry their own config, so any later stage rebuilds the agent from the
directory alone.

Layout of a checkpoint directory (written atomically as a whole)::

    config.json   {"kind": "agent", "agent": "iql", "agent_config": {...}, "obs_spec": {...},
                   "action_dim": 4, "task": "push", "obs_mode": "state", "image_size": 64,
                   "step": 1000, "stage": "pretrain"}
    agent.pt      agent.state_dict() (networks and optimisers)
    state.pt      loop state for resuming (step, RNG states, replay buffer, ...), optional
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from robot_rl.agents.checkpoint import (  # noqa: F401  (re-exported: readers import from here)
    CKPT_DIR,
    CheckpointInfo,
    load_agent,
    read_checkpoint_info,
    resolve_checkpoint,
    safe_load,
)
from robot_rl.data.io import atomic_dir, atomic_write_json
from robot_rl.types import ActionSpec, ObsSpec, obs_spec_to_json


def save_checkpoint(
    path: Path,
    agent: Any,
    *,
    agent_name: str,
    agent_config: Any,
    obs_spec: ObsSpec,
    action_spec: ActionSpec,
    task: str,
    obs_mode: str,
    image_size: int,
    step: int,
    stage: str,
    loop_state: dict[str, Any] | None = None,
) -> None:
    with atomic_dir(Path(path)) as tmp:
        torch.save(agent.state_dict(), tmp / "agent.pt")
        if loop_state is not None:
            torch.save(loop_state, tmp / "state.pt")
        atomic_write_json(
            tmp / "config.json",
            {
                "kind": "agent",
                "agent": agent_name,
                "agent_config": dataclasses.asdict(agent_config),
                "obs_spec": obs_spec_to_json(obs_spec),
                "action_dim": action_spec.dim,
                "task": task,
                "obs_mode": obs_mode,
                "image_size": image_size,
                "step": step,
                "stage": stage,
            },
        )


def load_loop_state(path: str | Path) -> dict[str, Any] | None:
    """A run's loop state (``state.pt``: step, RNG states, replay buffers, reward updater), or
    None without one. Loaded with ``weights_only``: tensors, numpy arrays and plain data only,
    so a crafted file cannot run code; a damaged one is a UserError saying what to do."""
    p = Path(path) / "state.pt"
    if not p.exists():
        return None
    return safe_load(
        p, "loop state", "a loop state",
        "delete the run's checkpoint/ directory to start the run again, or pass overwrite=true",
        allowed=_numpy_globals(),
    )  # fmt: skip


def _numpy_globals() -> list[Any]:
    """What pickled numpy arrays, dtypes and scalars reference: nothing that runs code."""
    import numpy as np

    dtypes = [type(np.dtype(t)) for t in np.sctypeDict.values()]
    import importlib

    try:
        multiarray = importlib.import_module("numpy._core.multiarray")  # numpy >= 2
    except ImportError:  # pragma: no cover
        multiarray = importlib.import_module("numpy.core.multiarray")
    return [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, bytes, *set(dtypes)]
