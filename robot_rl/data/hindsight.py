"""Hindsight experience replay (Andrychowicz et al. 2017), the "future" strategy: a sampled
transition's goal is replaced, with probability ``ratio``, by a goal the same episode achieved
later, and the simulator's reward and termination are recomputed with the task's success rule.

It applies only where the reward is a known function of the goal (state observations and the
simulator's reward); a learned pixel reward cannot be recomputed for another goal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.types import GoalSpec


@dataclass(frozen=True)
class Hindsight:
    """How a replay buffer relabels goals. ``ratio`` 0.8 is HER's k = 4 future goals per real
    one. ``success_reward`` / ``fail_reward`` are the raw rewards (before the buffer's scaling)
    of a relabelled transition; ``terminal`` says whether success ends an episode."""

    spec: GoalSpec
    ratio: float = 0.8
    success_reward: float = 1.0
    fail_reward: float = 0.0
    terminal: bool = True


def future_frames(idx: np.ndarray, episode_end: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For transitions ``idx`` (first frames), a frame drawn uniformly from idx+1 .. end, the
    frames of the same episode after the transition (end = its episode's last frame)."""
    span = episode_end - idx  # >= 1: the transition's next frame exists
    return idx + 1 + (rng.random(idx.shape) * span).astype(np.int64)


def relabel_goals(
    arrays: dict[str, np.ndarray],
    rows: np.ndarray,
    achieved_later: np.ndarray,
    her: Hindsight,
    scale: float,
    bias: float,
) -> None:
    """Give ``rows`` of a gathered batch the goals ``achieved_later`` [len(rows), G], in place:
    the goal in obs and next_obs, the reward (scaled as the buffer stores it) and termination
    from the success rule on the next observation's achieved goal."""
    s, key = her.spec, her.spec.key
    g0, g1 = s.goal
    a0, a1 = s.achieved
    for prefix in ("obs.", "next_obs."):
        arrays[prefix + key] = arrays[prefix + key].copy()  # gathered rows may be views
        arrays[prefix + key][rows, g0:g1] = achieved_later
    success = s.success(arrays["next_obs." + key][rows, a0:a1], achieved_later)
    raw = np.where(success, her.success_reward, her.fail_reward).astype(np.float32)
    arrays["reward"] = arrays["reward"].copy()
    arrays["reward"][rows] = raw * scale + bias
    arrays["terminated"] = arrays["terminated"].copy()
    arrays["terminated"][rows] = (success & her.terminal).astype(np.float32)
