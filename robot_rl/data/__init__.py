"""Datasets on disk, replay buffers, samplers and Monte-Carlo returns (see DESIGN.md).

Torch is only imported by the replay module, so reading and writing datasets stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robot_rl.data.check import Problem, check_dataset
from robot_rl.data.format import Dataset, DatasetMeta, DatasetWriter, Episode
from robot_rl.data.returns import mc_returns

if TYPE_CHECKING:
    from robot_rl.data.replay import MixedSampler, ReplayBuffer

__all__ = [
    "Dataset",
    "DatasetMeta",
    "DatasetWriter",
    "Episode",
    "MixedSampler",
    "Problem",
    "ReplayBuffer",
    "check_dataset",
    "mc_returns",
]


def __getattr__(name: str) -> Any:
    # ReplayBuffer / MixedSampler import torch (~1 s); load them on first use.
    if name in ("ReplayBuffer", "MixedSampler"):
        from robot_rl.data import replay

        return getattr(replay, name)
    raise AttributeError(f"module 'robot_rl.data' has no attribute {name!r}")
