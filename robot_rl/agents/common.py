"""Helpers shared by every agent: Polyak averaging, observation conversion, augmentation,
optimisers and the `act` path."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from robot_rl.errors import UserError
from robot_rl.networks.encoders import ObsEncoder, random_shift
from robot_rl.networks.policies import TanhGaussianPolicy
from robot_rl.types import ObsSpec, is_image_key


@dataclass
class EncoderConfig:
    """DrQ-v2 conv encoder settings (used only when the observation has image keys)."""

    channels: int = 32
    feature_dim: int = 50


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging target <- (1 - tau) target + tau source, one fused op over all params."""
    tgt: list[torch.Tensor] = list(target.parameters())
    src: list[torch.Tensor] = list(source.parameters())
    torch._foreach_lerp_(tgt, src, tau)
    for t, s in zip(target.buffers(), source.buffers()):  # e.g. running stats: copy as is
        t.copy_(s)


def to_torch_obs(
    obs: dict[str, np.ndarray], obs_spec: ObsSpec, device: torch.device
) -> tuple[dict[str, torch.Tensor], bool]:
    """numpy dict obs (one or a batch) -> batched tensors on device, and whether it was single."""
    out: dict[str, torch.Tensor] = {}
    single: bool | None = None
    for key, spec in obs_spec.items():
        if key not in obs:
            raise UserError(f"observation is missing key {key!r} (expected {sorted(obs_spec)})")
        x = np.asarray(obs[key])
        if x.shape == tuple(spec.shape):
            is_single = True
        elif x.shape[1:] == tuple(spec.shape):
            is_single = False
        else:
            raise UserError(
                f"observation {key!r} has shape {x.shape}, expected {tuple(spec.shape)} "
                f"or [N, {', '.join(map(str, spec.shape))}]"
            )
        if single is not None and is_single != single:
            raise UserError("observation mixes single and batched entries")
        single = is_single
        t = torch.as_tensor(x, device=device)
        t = t.to(torch.uint8) if is_image_key(key) else t.to(torch.float32)
        out[key] = t.unsqueeze(0) if is_single else t
    return out, bool(single)


def augment_obs(obs: dict[str, torch.Tensor], pad: int = 4) -> dict[str, torch.Tensor]:
    """DrQ random shift on image keys; vector keys pass through unchanged."""
    return {k: random_shift(v, pad) if is_image_key(k) else v for k, v in obs.items()}


def make_adam(params: Iterable[torch.Tensor], lr: float, **kwargs: Any) -> torch.optim.Adam:
    """Adam with the fused kernel (3x faster than foreach on CPU, measured), else foreach."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # fused needs floating point tensors on a supported device
        return torch.optim.Adam(params, lr=lr, foreach=True, **kwargs)


def make_encoder(obs_spec: ObsSpec, cfg: EncoderConfig) -> ObsEncoder:
    """ObsEncoder for ``obs_spec`` (a no-parameter concatenation for state-only specs)."""
    return ObsEncoder(obs_spec, channels=cfg.channels, feature_dim=cfg.feature_dim)


def encode_batch(
    encoder: ObsEncoder,
    obs: dict[str, torch.Tensor],
    next_obs: dict[str, torch.Tensor],
    augment: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features of obs with grad, features of next_obs without grad), DrQ-v2 style.

    With images, obs and next_obs are augmented independently; next_obs features are computed
    under no_grad because the TD target must not train the encoder.
    """
    if encoder.has_images and augment:
        obs, next_obs = augment_obs(obs), augment_obs(next_obs)
    feat = encoder(obs)
    with torch.no_grad():
        next_feat = encoder(next_obs)
    return feat, next_feat


@torch.no_grad()
def policy_act(
    encoder: ObsEncoder,
    actor: TanhGaussianPolicy,
    obs_spec: ObsSpec,
    obs: dict[str, np.ndarray],
    deterministic: bool,
    device: torch.device,
) -> np.ndarray:
    """Shared `act`: [A] for a single observation, [N, A] for a batch, clipped to [-1, 1]."""
    t, single = to_torch_obs(obs, obs_spec, device)
    feat = encoder(t)
    action = actor.mode(feat) if deterministic else actor.sample(feat)[0]
    out = action.clamp(-1.0, 1.0).cpu().numpy().astype(np.float32)
    return out[0] if single else out


def optimizer_state(opts: dict[str, torch.optim.Optimizer]) -> dict[str, dict]:
    """state_dict of every optimiser, by name."""
    return {k: o.state_dict() for k, o in opts.items()}


def load_optimizer_state(opts: dict[str, torch.optim.Optimizer], state: dict[str, dict]) -> None:
    """Inverse of `optimizer_state`; a missing optimiser is an error (a resume must be exact)."""
    for k, o in opts.items():
        if k not in state:
            raise UserError(f"checkpoint has no optimiser state for {k!r}")
        # Deep copy: optimiser state tensors would otherwise be shared with the source agent.
        o.load_state_dict(copy.deepcopy(state[k]))
