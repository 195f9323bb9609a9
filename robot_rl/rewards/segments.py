"""Trajectory segments for preference learning: sample them from a dataset and load them as
padded arrays ([N, L, ...] plus a mask for segments cut short by the episode end)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from robot_rl.data import Dataset, Episode
from robot_rl.data.labels import Segment
from robot_rl.errors import UserError


@dataclass
class Segments:
    """N segments padded to L steps; step t holds (s_t, a_t) and the rewards of that step."""

    obs: dict[str, np.ndarray]  # [N, L, ...]
    action: np.ndarray  # [N, L, A] float32
    mask: np.ndarray  # [N, L] float32: 1 on real steps, 0 on padding
    rewards: dict[str, np.ndarray] = field(default_factory=dict)  # column -> [N, L] float32

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    def take(self, idx: np.ndarray) -> Segments:
        return Segments(
            {k: v[idx] for k, v in self.obs.items()},
            self.action[idx],
            self.mask[idx],
            {k: v[idx] for k, v in self.rewards.items()},
        )


@dataclass
class SegmentPairs:
    """Labelled pairs: ``preference`` = P(a better) in [0, 1] (0.5 = tie)."""

    a: Segments
    b: Segments
    preference: np.ndarray  # [N] float32

    def __len__(self) -> int:
        return int(self.preference.shape[0])

    def take(self, idx: np.ndarray) -> SegmentPairs:
        return SegmentPairs(self.a.take(idx), self.b.take(idx), self.preference[idx])

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts and arrays): what a checkpoint stores."""
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> SegmentPairs:
        return SegmentPairs(Segments(**d["a"]), Segments(**d["b"]), d["preference"])


class EpisodeSource(Protocol):
    """What sampling and loading segments read: an `EpisodeCache` or an `EpisodeMemory`."""

    @property
    def name(self) -> str: ...

    @property
    def obs_spec(self) -> dict: ...

    @property
    def action_dim(self) -> int: ...

    @property
    def lengths(self) -> dict[int, int]: ...

    def __getitem__(self, episode_id: int) -> Episode: ...


class EpisodeCache:
    """Loads each episode of a dataset once (segments of one episode are read many times)."""

    def __init__(self, dataset: Dataset | str | Path):
        self.dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
        self._eps: dict[int, Episode] = {}
        self._lengths: dict[int, int] | None = None

    def __getitem__(self, episode_id: int) -> Episode:
        if episode_id not in self._eps:
            self._eps[episode_id] = self.dataset.load(episode_id)
        return self._eps[episode_id]

    @property
    def name(self) -> str:
        return str(self.dataset.root)

    @property
    def obs_spec(self) -> dict:
        return self.dataset.meta.obs_spec

    @property
    def action_dim(self) -> int:
        return self.dataset.meta.action_spec.dim

    @property
    def lengths(self) -> dict[int, int]:
        if self._lengths is None:
            ids = self.dataset.episode_ids
            self._lengths = {i: self.dataset.episode_length(i) for i in ids}
        return self._lengths


class EpisodeMemory:
    """Episodes held in memory (an online run's recent ones), with `EpisodeCache`'s interface:
    segments are sampled from the last ``capacity`` episodes added."""

    def __init__(self, obs_spec: dict, action_dim: int, capacity: int, name: str = "online"):
        self.obs_spec, self.action_dim, self.capacity, self.name = (
            obs_spec, action_dim, capacity, name,
        )  # fmt: skip
        self._eps: dict[int, Episode] = {}
        self._next = 0

    def add(self, episode: Episode) -> None:
        self._eps[self._next] = episode
        self._eps.pop(self._next - self.capacity, None)
        self._next += 1

    def __getitem__(self, episode_id: int) -> Episode:
        return self._eps[episode_id]

    def __len__(self) -> int:
        return len(self._eps)

    @property
    def lengths(self) -> dict[int, int]:
        return {i: ep.length for i, ep in self._eps.items()}

    def state_dict(self) -> dict:
        """Plain data (dicts and arrays), so a run's state.pt loads with ``weights_only``."""
        return {"episodes": {i: asdict(ep) for i, ep in self._eps.items()}, "next": self._next}

    def load_state_dict(self, state: dict) -> None:
        self._eps = {int(i): Episode(**ep) for i, ep in state["episodes"].items()}
        self._next = int(state["next"])


def _episode_lengths(cache: EpisodeSource) -> tuple[np.ndarray, dict[int, int]]:
    """The sorted episode ids and their lengths; UserError if there are none."""
    lengths = cache.lengths
    if not lengths:
        raise UserError(f"{cache.name}: no episodes to sample segments from")
    return np.array(sorted(lengths)), lengths


def _segment(episode: int, steps: int, length: int, rng: np.random.Generator) -> Segment:
    """``length`` steps of an episode of ``steps`` steps, at a uniform start."""
    return Segment(int(episode), int(rng.integers(0, steps - length + 1)), length)


def sample_segments(
    cache: EpisodeSource, n: int, length: int, rng: np.random.Generator
) -> list[Segment]:
    """``n`` segments of ``length`` steps (shorter when an episode is shorter), uniform over
    episodes then over start steps."""
    ids, lengths = _episode_lengths(cache)
    out = []
    for ep in rng.choice(ids, size=n):
        t = lengths[int(ep)]
        out.append(_segment(ep, t, min(length, t), rng))
    return out


def sample_pairs(
    cache: EpisodeSource, n: int, length: int, rng: np.random.Generator
) -> list[tuple[Segment, Segment]]:
    """``n`` pairs, uniform over episodes then over start steps; both segments of a pair have
    ``min(length, both episodes' lengths)`` steps. Episodes end on success, so of unequal
    spans the shorter would win or lose on its length alone (its sum has fewer terms)."""
    ids, lengths = _episode_lengths(cache)
    out = []
    for ea, eb in rng.choice(ids, size=(n, 2)):
        ta, tb = lengths[int(ea)], lengths[int(eb)]
        m = min(length, ta, tb)
        a = _segment(ea, ta, m, rng)
        out.append((a, _segment(eb, tb, m, rng)))
    return out


def load_segments(
    cache: EpisodeSource,
    segments: list[Segment],
    obs_keys: tuple[str, ...],
    length: int,
    reward_keys: tuple[str, ...] = (),
    next_state: bool = False,
) -> Segments:
    """Gather segments into padded arrays [N, L, ...]; UserError naming a bad segment. With
    ``next_state`` each step's observation is the one the step reached (obs[t + 1])."""
    spec = cache.obs_spec
    missing = [k for k in obs_keys if k not in spec]
    if missing:
        raise UserError(f"{cache.name}: no observation key(s) {missing} (has {sorted(spec)})")
    n, a_dim = len(segments), cache.action_dim
    obs = {k: np.zeros((n, length, *spec[k].shape), np.dtype(spec[k].dtype)) for k in obs_keys}
    action = np.zeros((n, length, a_dim), np.float32)
    mask = np.zeros((n, length), np.float32)
    rewards = {k: np.zeros((n, length), np.float32) for k in reward_keys}
    for i, seg in enumerate(segments):
        ep = cache[seg.episode]
        end = seg.start + min(seg.length, length)
        if seg.start < 0 or seg.length < 1 or end > ep.length:
            raise UserError(f"segment {seg} does not fit episode {seg.episode} ({ep.length} steps)")
        m = end - seg.start
        for k in obs_keys:
            obs[k][i, :m] = ep.obs[k][seg.start + next_state : end + next_state]
        action[i, :m] = ep.action[seg.start : end]
        mask[i, :m] = 1.0
        for k in reward_keys:
            if k not in ep.rewards:
                raise UserError(f"episode {seg.episode} has no column {k!r}")
            rewards[k][i, :m] = ep.rewards[k][seg.start : end]
    return Segments(obs, action, mask, rewards)
