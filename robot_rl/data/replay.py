"""Replay buffers that store each episode's frames once, and RLPD's symmetric sampler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from robot_rl.data.format import ENV_REWARD, Dataset, Episode
from robot_rl.data.hindsight import Hindsight, future_frames, relabel_goals
from robot_rl.data.returns import mc_returns
from robot_rl.errors import UserError
from robot_rl.types import ArraySpec, Batch, ObsSpec


class ReplayBuffer:
    """Transitions over episodes stored as frames: an episode of T steps takes T+1 frames.

    Capacity is counted in frames (not transitions) and managed as a ring of whole episodes:
    a new episode is written contiguously after the previous one (wrapping to 0 when it does
    not fit at the end), and any older episode it overlaps is evicted entirely, so a stored
    transition's next frame always belongs to the same episode. Transition i reads obs frame
    i and next obs frame i+1; the last frame of an episode starts no transition. Images stay
    uint8. Stored rewards are ``reward * reward_scale + reward_bias``; MC returns use them.
    """

    def __init__(
        self,
        obs_spec: ObsSpec,
        action_dim: int,
        capacity: int,
        gamma: float = 0.99,
        reward_scale: float = 1.0,
        reward_bias: float = 0.0,
        device: str | torch.device = "cpu",
        *,
        fail_reward: float | None = None,
    ) -> None:
        # fail_reward: the raw per-step reward of failure in a sparse task (e.g. 0.0); if set,
        # never-successful episodes get MC return (fail_reward*scale+bias)/(1-gamma) (Cal-QL).
        if capacity < 2:
            raise ValueError(f"ReplayBuffer capacity must be >= 2 frames, got {capacity}")
        self.obs_spec: ObsSpec = dict(obs_spec)
        self.action_dim = int(action_dim)
        self.capacity = int(capacity)
        self.gamma = float(gamma)
        self.reward_scale = float(reward_scale)
        self.reward_bias = float(reward_bias)
        self.fail_reward = fail_reward
        self.device = torch.device(device)
        n = self.capacity
        self._obs = {
            k: np.zeros((n, *s.shape), dtype=np.dtype(s.dtype)) for k, s in obs_spec.items()
        }
        # Per-transition fields live at the index of the transition's first frame.
        self._action = np.zeros((n, self.action_dim), dtype=np.float32)
        self._reward = np.zeros(n, dtype=np.float32)  # scaled
        self._terminated = np.zeros(n, dtype=bool)
        self._truncated = np.zeros(n, dtype=bool)
        self._mc_return = np.zeros(n, dtype=np.float32)
        self._valid = np.zeros(n, dtype=bool)  # transition i -> i+1 exists
        self._frame_ep = np.full(n, -1, dtype=np.int64)  # which stored episode owns the frame
        self._ep_end = np.zeros(n, dtype=np.int64)  # the last frame of the frame's episode
        self.hindsight: Hindsight | None = None  # HER goal relabelling when sampling
        self._episodes: dict[int, tuple[int, int]] = {}  # serial -> (first frame, T)
        self._next_serial = 0
        self._ptr = 0
        self._num_transitions = 0
        self._valid_idx: np.ndarray | None = None  # cache, rebuilt after each add

    # ------------------------------------------------------------------ building
    @staticmethod
    def from_dataset(
        ds: Dataset,
        reward_key: str = ENV_REWARD,
        obs_keys: list[str] | tuple[str, ...] | None = None,
        gamma: float = 0.99,
        reward_scale: float = 1.0,
        reward_bias: float = 0.0,
        device: str | torch.device = "cpu",
        *,
        fail_reward: float | None = None,
    ) -> ReplayBuffer:
        """A buffer holding every episode of ``ds`` exactly (capacity = its frame count)."""
        keys = list(obs_keys) if obs_keys is not None else sorted(ds.meta.obs_spec)
        for k in keys:
            if k not in ds.meta.obs_spec:
                raise UserError(
                    f"{ds.root / 'meta.json'}: key 'obs_spec.{k}' not in dataset "
                    f"(has {sorted(ds.meta.obs_spec)})"
                )
        ids = ds.episode_ids
        if not ids:
            raise UserError(f"{ds.root}: dataset has no episodes")
        ds.require_reward_column(reward_key)
        frames = sum(ds.episode_length(i) + 1 for i in ids)
        spec = {k: ds.meta.obs_spec[k] for k in keys}
        buf = ReplayBuffer(
            spec, ds.meta.action_spec.dim, frames, gamma, reward_scale, reward_bias, device,
            fail_reward=fail_reward,
        )  # fmt: skip
        for i in ids:
            buf.add_episode(ds.load(i), reward_key)
        return buf

    def _scaled_fail(self) -> float | None:
        if self.fail_reward is None:
            return None
        return float(np.float32(self.fail_reward * self.reward_scale + self.reward_bias))

    def _evict(self, lo: int, hi: int) -> None:
        for serial in np.unique(self._frame_ep[lo:hi]):
            if serial < 0:
                continue
            start, T = self._episodes.pop(int(serial))
            self._valid[start : start + T + 1] = False
            self._frame_ep[start : start + T + 1] = -1
            self._num_transitions -= T

    def add_episode(self, episode: Episode, reward_key: str = ENV_REWARD) -> None:
        """Store an episode (T+1 frames once) and its MC return-to-go; evicts the oldest."""
        T = episode.length
        n = T + 1
        if T < 1 or n > self.capacity:
            raise ValueError(
                f"episode of {T} steps does not fit a buffer of {self.capacity} frames"
            )
        if reward_key not in episode.rewards:
            raise UserError(f"episode has no reward column {reward_key!r} "
                            f"(has {sorted(episode.rewards)})")  # fmt: skip
        for k, spec in self.obs_spec.items():
            x = episode.obs.get(k)
            if x is None or x.shape != (n, *spec.shape):
                got = None if x is None else x.shape
                raise UserError(f"episode obs key {k!r}: shape {got}, expected {(n, *spec.shape)}")
        if episode.action.shape != (T, self.action_dim):
            raise UserError(f"episode key 'action': shape {episode.action.shape}, "
                            f"expected {(T, self.action_dim)}")  # fmt: skip
        start = self._ptr
        if start + n > self.capacity:
            self._evict(start, self.capacity)  # the tail holds the oldest data: drop it too
            start = 0
        self._evict(start, start + n)
        end = start + n
        for k in self.obs_spec:
            self._obs[k][start:end] = episode.obs[k]
        s = slice(start, start + T)
        self._action[s] = episode.action
        reward = np.asarray(episode.rewards[reward_key], dtype=np.float32)
        self._reward[s] = reward * self.reward_scale + self.reward_bias
        self._terminated[s] = episode.terminated
        self._truncated[s] = episode.truncated
        self._mc_return[s] = mc_returns(
            self._reward[s],
            self._terminated[s],
            self._truncated[s],
            self.gamma,
            self._scaled_fail(),
        )
        self._valid[s] = True
        self._valid[start + T] = False
        serial = self._next_serial
        self._next_serial += 1
        self._frame_ep[start:end] = serial
        self._ep_end[start:end] = start + T
        self._episodes[serial] = (start, T)
        self._num_transitions += T
        self._ptr = end % self.capacity
        self._valid_idx = None

    def __len__(self) -> int:
        return self._num_transitions

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    # ------------------------------------------------------------------ sampling
    def _indices(self) -> np.ndarray:
        if self._valid_idx is None:
            self._valid_idx = np.flatnonzero(self._valid)
        return self._valid_idx

    def obs_stats(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(mean, std) per vector observation key over the stored transitions' observations
        (image keys are skipped: the image encoder scales pixels itself)."""
        idx = self._indices()
        if idx.size == 0:
            raise ValueError("cannot compute statistics of an empty ReplayBuffer")
        out = {}
        for k, a in self._obs.items():
            if a.ndim == 2:  # [N, D] vectors
                x = a[idx].astype(np.float64)
                out[k] = (x.mean(0), x.std(0))
        return out

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform transition indices (with replacement)."""
        idx = self._indices()
        if idx.size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        return idx[rng.integers(0, idx.size, size=batch_size)]

    def sample_arrays(
        self, batch_size: int, rng: np.random.Generator, keys: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """``gather`` of uniform indices; with ``hindsight`` set, a share of the rows get a goal
        their episode achieved later, and its reward (HER)."""
        idx = self.sample_indices(batch_size, rng)
        arrays = self.gather(idx, keys)
        her = self.hindsight
        if her is not None and her.ratio > 0:
            rows = np.flatnonzero(rng.random(batch_size) < her.ratio)
            later = future_frames(idx[rows], self._ep_end[idx[rows]], rng)
            a0, a1 = her.spec.achieved
            achieved = self._obs[her.spec.key][later, a0:a1]
            relabel_goals(arrays, rows, achieved, her, self.reward_scale, self.reward_bias)
        return arrays

    def gather(self, idx: np.ndarray, keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Numpy arrays of transitions ``idx``: obs.<k>, next_obs.<k>, action, reward, ...

        ``keys`` limits the observation keys copied (e.g. a state agent sampling a buffer that
        also keeps pixels for its reward model)."""
        nxt = idx + 1
        out: dict[str, np.ndarray] = {}
        for k in self._obs if keys is None else keys:
            a = self._obs[k]
            out["obs." + k] = a[idx]
            out["next_obs." + k] = a[nxt]
        out["action"] = self._action[idx]
        out["reward"] = self._reward[idx]
        out["terminated"] = self._terminated[idx].astype(np.float32)
        out["mc_return"] = self._mc_return[idx]
        return out

    def to_batch(self, arrays: dict[str, np.ndarray]) -> Batch:
        """Turn ``gather`` output into a Batch of tensors on ``self.device``."""
        dev = self.device

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(x).to(dev, non_blocking=True)

        obs = {k[4:]: t(v) for k, v in arrays.items() if k.startswith("obs.")}
        next_obs = {k[9:]: t(v) for k, v in arrays.items() if k.startswith("next_obs.")}
        extras = {k[7:]: t(v) for k, v in arrays.items() if k.startswith("extras.")}
        return Batch(
            obs=obs,
            action=t(arrays["action"]),
            reward=t(arrays["reward"]),
            next_obs=next_obs,
            terminated=t(arrays["terminated"]),
            mc_return=t(arrays["mc_return"]),
            extras=extras,
        )

    def sample(
        self, batch_size: int, rng: np.random.Generator, keys: Sequence[str] | None = None
    ) -> Batch:
        """A uniform batch of transitions as torch tensors on ``self.device``."""
        return self.to_batch(self.sample_arrays(batch_size, rng, keys))

    # ------------------------------------------------------------------ relabeling
    def relabel(
        self, reward_fn: Callable[..., Any], batch_size: int = 1024, moves_ends: bool = False
    ) -> None:
        """Replace every stored reward by ``reward_fn(obs, action, next_obs)`` (then scaled).

        With ``moves_ends`` (a reward that ends episodes, e.g. a goal classifier) ``reward_fn``
        returns (reward, done) from one pass, and the success flags follow the new model too: a
        transition it now calls a success is terminal, and one where the old model ended the
        episode but the new one does not is a truncation (its value is bootstrapped, not zero).
        Without it, a step the updated model rewards would bootstrap past the success and one it
        no longer rewards would stay a dead end.
        """
        idx_all = self._indices()
        with torch.no_grad():
            for lo in range(0, idx_all.size, batch_size):
                idx = idx_all[lo : lo + batch_size]
                b = self.to_batch(self.gather(idx))
                out = reward_fn(b.obs, b.action, b.next_obs)
                r, done = out if moves_ends else (out, None)
                self._reward[idx] = (
                    _flat(r, idx, "reward_fn") * self.reward_scale + self.reward_bias
                )
                if done is not None:
                    fired = _flat(done, idx, "reward_fn's done") > 0.5
                    ended = self._terminated[idx].copy()
                    self._terminated[idx] = fired
                    self._truncated[idx] = (self._truncated[idx] | ended) & ~fired
        fail = self._scaled_fail()
        for start, T in self._episodes.values():
            s = slice(start, start + T)
            self._mc_return[s] = mc_returns(
                self._reward[s], self._terminated[s], self._truncated[s], self.gamma, fail
            )

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, np.ndarray]:
        """Numpy arrays only (np.savez-able); stored frames are views, not copies."""
        used = max((s + T + 1 for s, T in self._episodes.values()), default=0)
        eps = np.array([(k, s, T) for k, (s, T) in self._episodes.items()], dtype=np.int64)
        state: dict[str, np.ndarray] = {f"obs.{k}": a[:used] for k, a in self._obs.items()}
        state.update(
            action=self._action[:used],
            reward=self._reward[:used],
            terminated=self._terminated[:used],
            truncated=self._truncated[:used],
            mc_return=self._mc_return[:used],
            valid=self._valid[:used],
            frame_ep=self._frame_ep[:used],
            episodes=eps.reshape(-1, 3),
            counters=np.array([self._ptr, self._next_serial, self.capacity], dtype=np.int64),
            scaling=np.array([self.gamma, self.reward_scale, self.reward_bias], dtype=np.float64),
        )
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from ``state_dict()``; the buffer must have the same specs and scaling."""
        ptr, next_serial, capacity = (int(x) for x in state["counters"])
        scaling = tuple(float(x) for x in state["scaling"])
        if capacity != self.capacity:
            raise UserError(f"replay state: capacity {capacity} != buffer capacity {self.capacity}")
        if not np.allclose(scaling, (self.gamma, self.reward_scale, self.reward_bias)):
            raise UserError(f"replay state: (gamma, reward_scale, reward_bias) {scaling} differ "
                            f"from the buffer's")  # fmt: skip
        if {k[4:] for k in state if k.startswith("obs.")} != set(self.obs_spec):
            raise UserError(f"replay state: observation keys differ from {sorted(self.obs_spec)}")
        used = int(state["valid"].shape[0])
        for k in self.obs_spec:
            self._obs[k][:used] = state[f"obs.{k}"]
        self._action[:used] = state["action"]
        self._reward[:used] = state["reward"]
        self._terminated[:used] = state["terminated"]
        self._truncated[:used] = state["truncated"]
        self._mc_return[:used] = state["mc_return"]
        self._valid[:] = False
        self._valid[:used] = state["valid"]
        self._frame_ep[:] = -1
        self._frame_ep[:used] = state["frame_ep"]
        self._episodes = {int(k): (int(s), int(T)) for k, s, T in state["episodes"]}
        for s, T in self._episodes.values():
            self._ep_end[s : s + T + 1] = s + T
        self._num_transitions = sum(T for _, T in self._episodes.values())
        self._ptr, self._next_serial = ptr, next_serial
        self._valid_idx = None


class MixedSampler:
    """Symmetric sampling (RLPD, Ball et al. 2023): each batch is exactly ``offline_ratio``
    offline transitions and the rest online; all offline while the online buffer is empty."""

    def __init__(self, offline: ReplayBuffer, online: ReplayBuffer, offline_ratio: float = 0.5):
        if not 0.0 <= offline_ratio <= 1.0:
            raise ValueError(f"offline_ratio must be in [0, 1], got {offline_ratio}")
        if offline.obs_spec != online.obs_spec:
            raise UserError(
                f"offline and online buffers have different observation specs: "
                f"{_spec_str(offline.obs_spec)} vs {_spec_str(online.obs_spec)}"
            )
        self.offline, self.online, self.offline_ratio = offline, online, offline_ratio

    def split(self, batch_size: int) -> tuple[int, int]:
        """(offline, online) counts for one batch."""
        if len(self.online) == 0:
            return batch_size, 0
        if len(self.offline) == 0:
            return 0, batch_size
        n_off = int(round(self.offline_ratio * batch_size))
        return n_off, batch_size - n_off

    def sample(
        self, batch_size: int, rng: np.random.Generator, keys: Sequence[str] | None = None
    ) -> Batch:
        """A batch with ``extras["offline"]`` = 1.0 for rows drawn from the offline buffer.

        Offline rows are spread evenly through the batch, not put first: an agent that cuts the
        batch into consecutive minibatches (SAC's UTD block) gets the ratio in every one of
        them (within one row), and so does its actor's minibatch."""
        n_off, n_on = self.split(batch_size)
        parts = []
        for buf, n in ((self.offline, n_off), (self.online, n_on)):
            if n > 0:
                parts.append(buf.sample_arrays(n, rng, keys))
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        is_off = spread_evenly(n_off, batch_size)
        order = np.empty(batch_size, dtype=np.int64)
        order[is_off] = np.arange(n_off)  # offline rows come first in the concatenation
        order[~is_off] = n_off + np.arange(n_on)
        arrays = {k: v[order] for k, v in arrays.items()}
        arrays["extras.offline"] = is_off.astype(np.float32)
        return self.offline.to_batch(arrays)

    @property
    def device(self) -> Any:
        return self.offline.device


def spread_evenly(k: int, n: int) -> np.ndarray:
    """Bool [n] with exactly k True, evenly spaced: every run of m consecutive rows holds
    floor or ceil of m * k / n of them."""
    r = np.arange(n + 1) * k // n  # floor(r k / n)
    return np.diff(r) > 0


def _spec_str(spec: dict[str, ArraySpec]) -> str:
    return ", ".join(f"{k}{list(s.shape)}:{s.dtype}" for k, s in sorted(spec.items()))


def _flat(t: torch.Tensor, idx: np.ndarray, name: str) -> np.ndarray:
    out = t.detach().to("cpu", torch.float32).numpy().reshape(-1)
    if out.shape != idx.shape:
        raise ValueError(f"{name} returned {tuple(t.shape)}, expected [{idx.size}]")
    return out
