"""Preference reward model: an ensemble of per-step rewards r(s, a) trained with Bradley-Terry on
segment returns (Christiano et al. 2017; PEBBLE / B-Pref, Lee et al. 2021)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.errors import UserError
from robot_rl.networks.encoders import ObsEncoder, random_shift
from robot_rl.networks.ensemble import EnsembleLinear
from robot_rl.networks.mlp import MLP
from robot_rl.networks.modes import eval_mode
from robot_rl.rewards.losses import bradley_terry_loss
from robot_rl.rewards.segments import SegmentPairs, Segments
from robot_rl.types import ObsSpec, is_image_key


@dataclass
class PreferenceConfig:
    """Preference model settings (B-Pref/PEBBLE defaults where this CPU affords them)."""

    obs_keys: tuple[str, ...] = ("state",)  # e.g. ("pixels",) or ("pixels", "proprio")
    # r(s) by default; True gives PEBBLE's r(s, a). With actions the model tells episodes apart by
    # the policy that acted (a random policy's jerky actions, an expert's smooth ones) instead of
    # learning progress: on push, step-level Spearman with the teacher 0.37 with actions against
    # 0.84 without (1,000 oracle queries; scripts/bench_preferences.py --parts recipes).
    # Without the action the model scores the state each step *reaches*, r(s'): the teacher's
    # reward of a step is what the step achieved, and the state a success ends in is then scored
    # (r(s) of the state the step starts from never sees it). PEBBLE's r(s, a) scores (s, a).
    use_action: bool = False
    segment_length: int = 25  # B-Pref uses 50; 25 halves the cost per query here
    ensemble_size: int = 3
    hidden_dims: tuple[int, ...] = (256, 256, 256)
    output_tanh: bool = True  # PEBBLE bounds per-step rewards in [-1, 1]
    lr: float = 3e-4
    steps: int = 500  # gradient steps per (re)training
    batch_size: int = 64  # pairs per member per step
    holdout_fraction: float = 0.1
    augment: bool = True  # random shift on image keys
    channels: int = 32
    feature_dim: int = 50
    # The reward is the ensemble mean minus this many member standard deviations: states the
    # labels never covered (where the policy goes to exploit the model) score lower. 0 = mean.
    uncertainty_penalty: float = 0.0

    @property
    def scores_next(self) -> bool:
        """Whether a step is scored by the state it reaches, r(s'): see ``use_action``."""
        return not self.use_action

    def validate(self) -> None:
        if not self.obs_keys:
            raise UserError("preference config: field 'obs_keys' is empty")
        if self.segment_length < 1 or self.ensemble_size < 1 or self.batch_size < 1:
            raise UserError(
                "preference config: segment_length, ensemble_size, batch_size must be >= 1"
            )
        if self.uncertainty_penalty < 0:
            raise UserError("preference config: uncertainty_penalty must be >= 0")
        if self.lr <= 0 or self.steps < 0 or not 0.0 <= self.holdout_fraction < 1.0:
            raise UserError("preference config: need lr > 0, steps >= 0, holdout in [0, 1)")


class PreferenceModel(nn.Module):
    """Per-step reward ensemble r_m(s, a) (PEBBLE); loss -log sigmoid(sum r(win) - sum r(lose)).

    State inputs run all members in one batched matmul (EnsembleLinear); image inputs need a
    conv net per member, so those members run one after another.
    """

    def __init__(self, obs_spec: ObsSpec, action_dim: int, cfg: PreferenceConfig):
        super().__init__()
        cfg.validate()
        missing = [k for k in cfg.obs_keys if k not in obs_spec]
        if missing:
            raise UserError(
                f"preference model needs observation key(s) {missing}, data has {sorted(obs_spec)}"
            )
        self.obs_keys = tuple(sorted(cfg.obs_keys))
        self.obs_spec: ObsSpec = {k: obs_spec[k] for k in self.obs_keys}
        self.action_dim = action_dim
        self.use_action, self.output_tanh = cfg.use_action, cfg.output_tanh
        self.scores_next = cfg.scores_next
        self.num_members = cfg.ensemble_size
        self.uncertainty_penalty = cfg.uncertainty_penalty
        self.has_images = any(is_image_key(k) for k in self.obs_keys)
        act_dim = action_dim if cfg.use_action else 0
        if self.has_images:
            self.members = nn.ModuleList()
            for _ in range(cfg.ensemble_size):
                enc = ObsEncoder(self.obs_spec, cfg.channels, cfg.feature_dim)
                self.members.append(
                    nn.ModuleDict(
                        {"encoder": enc, "head": MLP(enc.out_dim + act_dim, cfg.hidden_dims, 1)}
                    )
                )
        else:
            in_dim = sum(int(np.prod(self.obs_spec[k].shape)) for k in self.obs_keys) + act_dim
            dims = [in_dim, *cfg.hidden_dims, 1]
            self.layers = nn.ModuleList(
                EnsembleLinear(i, o, cfg.ensemble_size) for i, o in zip(dims[:-1], dims[1:])
            )

    def member_rewards(self, obs: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        """Per-member inputs obs [M, B, ...], action [M, B, A] -> rewards [M, B]."""
        m, b = action.shape[:2]
        if self.has_images:
            outs = []
            for i, member in enumerate(self.members):
                assert isinstance(member, nn.ModuleDict)
                feat = member["encoder"]({k: obs[k][i] for k in self.obs_keys})  # [B, F]
                if self.use_action:
                    feat = torch.cat([feat, action[i]], -1)
                outs.append(member["head"](feat).squeeze(-1))
            r = torch.stack(outs)  # [M, B]
        else:
            parts = [obs[k].reshape(m, b, -1).float() for k in self.obs_keys]
            x = torch.cat([*parts, action] if self.use_action else parts, -1)  # [M, B, D]
            for layer in self.layers[:-1]:
                x = F.leaky_relu(layer(x))
            r = self.layers[-1](x).squeeze(-1)  # [M, B]
        return torch.tanh(r) if self.output_tanh else r

    def all_members(self, obs: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        """Shared inputs obs [B, ...], action [B, A] -> [M, B] (expand is a view, no copy)."""
        m = self.num_members
        return self.member_rewards(
            {k: obs[k].unsqueeze(0).expand(m, *obs[k].shape) for k in self.obs_keys},
            action.unsqueeze(0).expand(m, *action.shape),
        )

    def reward(self, obs: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        """Ensemble-mean reward [B], minus ``uncertainty_penalty`` member standard deviations."""
        r = self.all_members(obs, action)
        if self.uncertainty_penalty == 0 or self.num_members < 2:
            return r.mean(0)
        return r.mean(0) - self.uncertainty_penalty * r.std(0)

    def segment_returns(
        self, seg: dict[str, torch.Tensor], action: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """obs [M, N, L, ...], action [M, N, L, A], mask [M, N, L] -> summed rewards [M, N]."""
        m, n, length = mask.shape
        flat = {k: v.reshape(m, n * length, *v.shape[3:]) for k, v in seg.items()}
        r = self.member_rewards(flat, action.reshape(m, n * length, -1))  # [M, N*L]
        return (r.view(m, n, length) * mask).sum(-1)


def _to_torch(
    segs: Segments, idx: np.ndarray, keys: tuple[str, ...], device: torch.device, augment: bool
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Index [M, B] into segments -> obs [M, B, L, ...], action [M, B, L, A], mask [M, B, L]."""
    obs = {k: torch.as_tensor(segs.obs[k][idx], device=device) for k in keys}
    if augment:
        for k in keys:
            if is_image_key(k):
                x = obs[k]
                obs[k] = random_shift(x.reshape(-1, *x.shape[-3:])).view(x.shape)
    action = torch.as_tensor(segs.action[idx], device=device)
    return obs, action, torch.as_tensor(segs.mask[idx], device=device)


def pair_returns(
    model: PreferenceModel, pairs: SegmentPairs, idx: np.ndarray, augment: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Member returns [M, B] of both sides of the pairs at ``idx`` [M, B]."""
    dev = next(model.parameters()).device
    ra = model.segment_returns(*_to_torch(pairs.a, idx, model.obs_keys, dev, augment))
    rb = model.segment_returns(*_to_torch(pairs.b, idx, model.obs_keys, dev, augment))
    return ra, rb


@torch.no_grad()
def member_segment_returns(
    model: PreferenceModel, segs: Segments, batch_size: int = 64
) -> np.ndarray:
    """Every member's summed reward of every segment [M, N], in batches, without gradients."""
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(segs), batch_size):
        idx = np.arange(i, min(i + batch_size, len(segs)))
        idx = np.broadcast_to(idx, (model.num_members, len(idx)))  # same segments, every member
        out.append(model.segment_returns(*_to_torch(segs, idx, model.obs_keys, dev, False)))
    if not out:
        return np.zeros((model.num_members, 0), np.float32)
    return torch.cat(out, 1).cpu().numpy()


@torch.no_grad()
def episode_rewards(model: PreferenceModel, episodes: list[Any]) -> list[np.ndarray]:
    """The ensemble-mean reward of every step of each episode ([T] each), in eval mode."""
    dev = next(model.parameters()).device
    out = []
    with eval_mode(model):
        for e in episodes:
            states = slice(1, None) if model.scores_next else slice(None, -1)
            obs = {k: torch.as_tensor(e.obs[k][states], device=dev) for k in model.obs_keys}
            out.append(model.reward(obs, torch.as_tensor(e.action, device=dev)).cpu().numpy())
    return out


def ensemble_probabilities(
    model: PreferenceModel, pairs: SegmentPairs, batch_size: int = 64
) -> np.ndarray:
    """P_m(a better than b) for every member and pair [M, N]."""
    ra = member_segment_returns(model, pairs.a, batch_size)
    rb = member_segment_returns(model, pairs.b, batch_size)
    return 1.0 / (1.0 + np.exp(-(ra - rb)))


def preference_accuracy(model: PreferenceModel, pairs: SegmentPairs) -> float:
    """Share of non-tied labelled pairs whose preferred side has the larger ensemble return."""
    keep = np.abs(pairs.preference - 0.5) > 1e-6
    if not keep.any():
        return float("nan")
    p = ensemble_probabilities(model, pairs.take(np.flatnonzero(keep))).mean(0)
    return float(((p > 0.5) == (pairs.preference[keep] > 0.5)).mean())


def train_preference(
    cfg: PreferenceConfig,
    pairs: SegmentPairs,
    obs_spec: ObsSpec,
    action_dim: int,
    seed: int = 0,
    progress: bool = False,
    model: PreferenceModel | None = None,
    device: str | torch.device = "cpu",
) -> tuple[PreferenceModel, dict[str, float]]:
    """Fit the ensemble on labelled pairs (each member draws its own batches); pass ``model`` to
    continue training one (PEBBLE retrains after every query round)."""
    cfg.validate()
    if len(pairs) == 0:
        raise UserError("no answered preference pairs to train the preference model on")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    perm = rng.permutation(len(pairs))
    n_hold = min(int(len(pairs) * cfg.holdout_fraction), len(pairs) - 1)
    train, hold = pairs.take(perm[n_hold:]), pairs.take(perm[:n_hold])
    if model is None:
        model = PreferenceModel(obs_spec, action_dim, cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.train()
    losses = []
    for step in range(cfg.steps):
        idx = rng.integers(0, len(train), (model.num_members, cfg.batch_size))  # [M, B]
        ra, rb = pair_returns(model, train, idx, augment=cfg.augment)
        pref = torch.as_tensor(train.preference[idx], device=ra.device)  # [M, B]
        loss = bradley_terry_loss(ra, rb, pref)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        if progress and (step + 1) % max(1, cfg.steps // 10) == 0:
            print(f"preference step {step + 1}/{cfg.steps} loss {float(loss):.4f}", file=sys.stderr)
    model.eval()
    head = torch.stack(losses[:10]).mean() if losses else torch.tensor(float("nan"))
    tail = torch.stack(losses[-10:]).mean() if losses else torch.tensor(float("nan"))
    metrics = {
        "train/loss_first": float(head),
        "train/loss_last": float(tail),
        "train/pairs": float(len(train)),
        "train/accuracy": preference_accuracy(model, train),
        "holdout/pairs": float(len(hold)),
        "holdout/accuracy": preference_accuracy(model, hold) if len(hold) else float("nan"),
    }
    return model, metrics
