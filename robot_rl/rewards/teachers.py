"""Synthetic labellers: B-Pref scripted preference teachers (Lee et al. 2021) over a per-step
reward the simulator knows, and a success labeller for goal frames."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.data import Dataset, Episode
from robot_rl.data.labels import FrameLabel, LabelStore, PreferencePair, Segment
from robot_rl.errors import UserError
from robot_rl.rewards.segments import EpisodeSource

DENSE_REWARD = "reward.dense"
ENV_REWARD = "reward.env"
RewardsFn = Callable[[Episode, Segment], np.ndarray]  # per-step rewards [segment.length]


def teacher_reward(episode: Episode) -> np.ndarray | None:
    """The synthetic teacher's per-step rewards of a whole episode: "reward.dense" (progress) if
    stored, else "reward.env"; None when the episode has neither."""
    for key in (DENSE_REWARD, ENV_REWARD):
        if key in episode.rewards:
            return np.asarray(episode.rewards[key])
    return None


def dense_step_rewards(episode: Episode, segment: Segment) -> np.ndarray:
    """The teacher's per-step rewards of a segment (`teacher_reward`)."""
    r = teacher_reward(episode)
    if r is None:
        raise UserError(f"episode {segment.episode} has no {DENSE_REWARD!r} or {ENV_REWARD!r}")
    return r[segment.start : segment.start + segment.length]


@dataclass
class TeacherConfig:
    """One B-Pref teacher; each named teacher sets one field away from the oracle."""

    beta: float = math.inf  # rationality: P(a) = sigmoid(beta (R_a - R_b)); inf = deterministic
    gamma: float = 1.0  # myopia: step t of H weighs gamma^(H - 1 - t) (later steps count more)
    mistake: float = 0.0  # epsilon: probability of flipping an answer
    skip_threshold: float | None = None  # no answer when both segment returns are below it
    equal_margin: float = 0.0  # tie (0.5) when |R_a - R_b| < margin (exact ties always are)
    # Added to the per-step reward at every step the simulator calls a success: a person
    # prefers the segment that reaches the goal, where progress alone barely differs (zone:
    # a block next to the zone scores -0.09 a step, one inside -0.05).
    success_bonus: float = 0.0


TEACHERS = ("oracle", "noisy", "mistake", "skip", "equal", "myopic", "goal")


def teacher_config(name: str, segment_returns: np.ndarray | None = None) -> TeacherConfig:
    """The B-Pref teacher ``name``; skip/equal thresholds scale with sample segment returns.

    B-Pref sets them relative to the average segment return; here skip = the 30th percentile
    of ``segment_returns`` and equal = 10% of their mean absolute value.
    """
    if name not in TEACHERS:
        raise UserError(f"unknown teacher {name!r}; choose one of {TEACHERS}")
    r = np.asarray(segment_returns if segment_returns is not None else [0.0, 1.0], np.float64)
    return {
        "oracle": TeacherConfig(),
        "noisy": TeacherConfig(beta=1.0),
        "mistake": TeacherConfig(mistake=0.1),
        "skip": TeacherConfig(skip_threshold=float(np.percentile(r, 30))),
        "equal": TeacherConfig(equal_margin=0.1 * float(np.mean(np.abs(r)))),
        "myopic": TeacherConfig(gamma=0.9),
        "goal": TeacherConfig(success_bonus=1.0),  # the oracle, and success counts
    }[name]


class Teacher:
    """Answers segment comparisons with P(a better): 1, 0, 0.5 (tie) or NaN (skipped)."""

    def __init__(self, cfg: TeacherConfig, seed: int | list[int] = 0):
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)

    def _weighted(self, r: np.ndarray) -> float:
        w = self.cfg.gamma ** np.arange(len(r) - 1, -1, -1)  # gamma^(H-1-t)
        return float((w * r).sum())

    def answer(self, rewards_a: list[np.ndarray], rewards_b: list[np.ndarray]) -> np.ndarray:
        """Per-step rewards of each segment pair -> preferences [N] (B-Pref's order of steps)."""
        cfg = self.cfg
        ra = np.array([float(np.sum(r)) for r in rewards_a])
        rb = np.array([float(np.sum(r)) for r in rewards_b])
        wa = np.array([self._weighted(r) for r in rewards_a])  # myopic returns
        wb = np.array([self._weighted(r) for r in rewards_b])
        if math.isinf(cfg.beta):
            pref = np.where(wa > wb, 1.0, np.where(wa < wb, 0.0, 0.5))
        else:  # Boltzmann-rational: sample the answer
            p = 1.0 / (1.0 + np.exp(-cfg.beta * (wa - wb)))
            pref = (self.rng.random(len(p)) < p).astype(np.float64)
        flip = self.rng.random(len(pref)) < cfg.mistake
        pref = np.where(flip, 1.0 - pref, pref)
        pref = np.where(np.abs(ra - rb) < cfg.equal_margin, 0.5, pref)
        if cfg.skip_threshold is not None:
            pref = np.where(np.maximum(ra, rb) < cfg.skip_threshold, np.nan, pref)
        return pref


def label_pairs(
    cache: EpisodeSource,
    pairs: list[tuple[Segment, Segment]],
    teacher: Teacher,
    rewards_fn: RewardsFn = dense_step_rewards,
    by: str = "teacher",
) -> list[PreferencePair]:
    """Ask ``teacher`` about each pair; skipped queries are kept with preference None."""
    bonus = teacher.cfg.success_bonus

    def rewards(seg: Segment) -> np.ndarray:
        ep = cache[seg.episode]
        r = np.asarray(rewards_fn(ep, seg), np.float64)
        if bonus:
            r = r + bonus * np.asarray(ep.success[seg.start : seg.start + seg.length], np.float64)
        return r

    ra = [rewards(a) for a, _ in pairs]
    rb = [rewards(b) for _, b in pairs]
    prefs = teacher.answer(ra, rb)
    return [
        PreferencePair(a, b, None if np.isnan(p) else float(p), by)
        for (a, b), p in zip(pairs, prefs)
    ]


# ---------------------------------------------------------------------------- goal labels
class SuccessLabeller:
    """Labels frames with the simulator's success flag, each flipped with probability ``noise``."""

    def __init__(self, noise: float = 0.0, seed: int = 0):
        if not 0.0 <= noise <= 1.0:
            raise UserError(f"label noise must be in [0, 1], got {noise}")
        self.noise = noise
        self.rng = np.random.default_rng(seed)

    def label(self, success: np.ndarray) -> np.ndarray:
        success = np.asarray(success, bool)
        return success ^ (self.rng.random(success.shape) < self.noise)

    def __call__(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        """RAQ labeller interface: reads frames["success"] [N]."""
        if "success" not in frames:
            raise ValueError("SuccessLabeller needs a 'success' entry among the candidate frames")
        return self.label(frames["success"])


def frame_success(episode: Episode) -> np.ndarray:
    """Success per observation frame [T+1]: frame t+1 is the state reached by step t."""
    return np.concatenate([[False], np.asarray(episode.success, bool)])


def label_goal_frames(
    dataset: Dataset | str | Path,
    labeller: SuccessLabeller,
    n_pos: int,
    n_neg: int,
    seed: int = 0,
    by: str = "teacher:success",
) -> tuple[int, int]:
    """Pick up to ``n_pos`` success frames and ``n_neg`` other frames, label them with
    ``labeller`` (which may be noisy) and write them via LabelStore; returns (#1, #0) written."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    pos: list[tuple[int, int]] = []
    neg: list[tuple[int, int]] = []
    for i in ds.episode_ids:
        ep = ds.load(i)
        succ = frame_success(ep)
        if ep.is_success:
            succ[-1] = True  # the final frame of a successful episode shows the goal reached
        pos += [(i, int(f)) for f in np.flatnonzero(succ)]
        neg += [(i, int(f)) for f in np.flatnonzero(~succ)]
    rng = np.random.default_rng(seed)
    pick_pos = [pos[j] for j in rng.permutation(len(pos))[:n_pos]]
    pick_neg = [neg[j] for j in rng.permutation(len(neg))[:n_neg]]
    truth = np.array([True] * len(pick_pos) + [False] * len(pick_neg))
    answers = labeller.label(truth)
    labels = [FrameLabel(e, f, int(y), by) for (e, f), y in zip(pick_pos + pick_neg, answers)]
    if labels:
        LabelStore(ds.root).set_frame_labels(labels)
    return int(answers.sum()), int((~answers).sum())
