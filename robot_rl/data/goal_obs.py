"""Goal-dictionary observations (Gymnasium-Robotics' GoalEnv convention) in robot_rl's keys.

A GoalEnv observes ``{"observation": [N], "achieved_goal": [G], "desired_goal": [G]}``. Every
robot_rl agent and reward model reads one ``state`` vector, so datasets (Minari import) and
environments (``task=gym:<id>``) map the dictionary once, at the boundary, in this order:

    state = concat(observation, desired_goal)          # [N + G]

which is also the layout of the project's own Fetch tasks (Fetch's 25 numbers, then the goal):
a policy, its normalisation statistics and HER's goal slices mean the same on either. The
achieved goal is not an input (for Fetch it is part of ``observation``); it is kept, unchanged,
as the stored key ``achieved_goal`` so the environment's own success rule can be recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from robot_rl.types import STATE, ArraySpec, ObsSpec

OBSERVATION, ACHIEVED, DESIRED = "observation", "achieved_goal", "desired_goal"
GOAL_KEYS = (OBSERVATION, ACHIEVED, DESIRED)
STATE_ORDER = (OBSERVATION, DESIRED)  # the parts of ``state``, in order


def is_goal_dict(keys: Iterable[str]) -> bool:
    """True for a GoalEnv's keys (exactly observation, achieved_goal, desired_goal)."""
    return set(keys) == set(GOAL_KEYS)


def goal_state_spec(spec: ObsSpec) -> ObsSpec:
    """The robot_rl spec of a GoalEnv spec: ``state`` [N + G] and ``achieved_goal`` [G]."""
    size = sum(spec[k].shape[0] for k in STATE_ORDER)
    return {
        STATE: ArraySpec((size,), "float32"),
        ACHIEVED: ArraySpec(spec[ACHIEVED].shape, "float32"),
    }


def goal_state_obs(obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``state`` and ``achieved_goal`` of one GoalEnv observation [D] or a stack [T, D]."""
    parts = [np.asarray(obs[k], dtype=np.float32) for k in STATE_ORDER]
    return {
        STATE: np.concatenate(parts, axis=-1),
        ACHIEVED: np.asarray(obs[ACHIEVED], dtype=np.float32),
    }


def goal_layout(spec: ObsSpec) -> dict[str, int]:
    """The sizes of the parts of ``state`` in order, e.g. {"observation": 25, "desired_goal": 3}
    (recorded in a dataset's provenance so export can split ``state`` again)."""
    return {k: int(spec[k].shape[0]) for k in STATE_ORDER}


def split_goal_state(
    obs: Mapping[str, np.ndarray], layout: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """The GoalEnv dictionary back from ``state`` (and ``achieved_goal``) given its layout."""
    n = int(layout[OBSERVATION])
    state = np.asarray(obs[STATE])
    return {
        OBSERVATION: state[..., :n],
        ACHIEVED: np.asarray(obs[ACHIEVED]),
        DESIRED: state[..., n:],
    }
