"""Types shared by every stage: observation/action specs, batches, and the small protocols
(agent, reward model) through which stages plug into each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch

# Observation keys used across the project.
STATE = "state"  # float32 [D]: full low-dimensional task state (robot, objects, goal)
PROPRIO = "proprio"  # float32 [P]: robot-only state (gripper position, velocity, finger width)
PIXELS = "pixels"  # uint8 [H, W, 3]: fixed close-up camera, HWC
IMAGE_KEYS = (PIXELS,)
GYM_PREFIX = "gym:"  # a task that is a registered Gymnasium environment: gym:FetchPush-v4


@dataclass(frozen=True)
class ArraySpec:
    """Shape and dtype of one observation entry (per step, no batch/time axis)."""

    shape: tuple[int, ...]
    dtype: str  # "float32" | "uint8"

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_json(d: dict[str, Any]) -> ArraySpec:
        return ArraySpec(tuple(int(x) for x in d["shape"]), str(d["dtype"]))


ObsSpec = dict[str, ArraySpec]


def obs_spec_to_json(spec: ObsSpec) -> dict[str, Any]:
    return {k: v.to_json() for k, v in sorted(spec.items())}


def obs_spec_from_json(d: dict[str, Any]) -> ObsSpec:
    return {k: ArraySpec.from_json(v) for k, v in d.items()}


def is_image_key(key: str) -> bool:
    return key in IMAGE_KEYS


@dataclass(frozen=True)
class GoalSpec:
    """Where a goal task's state vector keeps the goal and what the agent achieved, and the
    task's success rule: what hindsight relabelling (HER) needs to give a transition a new goal
    and recompute the simulator's reward. Slices are [start, stop) into ``obs[key]``."""

    achieved: tuple[int, int]  # e.g. the block's position in a Fetch state
    goal: tuple[int, int]  # the desired goal, same length as ``achieved``
    threshold: float  # success: ||achieved[:dims] - goal[:dims]|| < threshold
    dims: int = 3  # compared leading coordinates (2: a zone on the table, judged in x-y)
    key: str = "state"

    def success(self, achieved: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Bool [...]: the success rule on arrays [..., len] of achieved and desired goals."""
        d = achieved[..., : self.dims] - goal[..., : self.dims]
        return np.linalg.norm(d, axis=-1) < self.threshold


@dataclass(frozen=True)
class ActionSpec:
    """Continuous actions, always normalised to [-1, 1]."""

    dim: int
    low: float = -1.0
    high: float = 1.0


@dataclass
class Batch:
    """A batch of transitions as torch tensors on the training device.

    Images stay uint8 [B, H, W, C] until the encoder (one cast on device, no host float copy).
    ``mask = 1 - terminated``: a time-limit truncation still bootstraps.
    """

    obs: dict[str, torch.Tensor]
    action: torch.Tensor  # [B, A] float32 in [-1, 1]
    reward: torch.Tensor  # [B] float32
    next_obs: dict[str, torch.Tensor]
    terminated: torch.Tensor  # [B] float32 (1.0 = true termination)
    mc_return: torch.Tensor | None = None  # [B] Monte-Carlo return-to-go (Cal-QL), if loaded
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.action.shape[0])


@runtime_checkable
class Agent(Protocol):
    """What the training loops know of an agent."""

    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        """Actions for one observation ([A]) or a batch ([N, A]), in [-1, 1]."""
        ...

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step (or one UTD block); returns detached scalar metrics."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class RewardModel(Protocol):
    """A learned reward. ``reward`` maps a batch of transitions to [B] float32 rewards.

    Success classifiers score ``next_obs``; preference models score ``(obs, action)``.
    """

    name: str
    obs_keys: tuple[str, ...]

    def reward(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        next_obs: dict[str, torch.Tensor],
    ) -> torch.Tensor: ...
