"""Policies: a tanh-squashed Gaussian (SAC, CQL, IQL, BC)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.networks.mlp import MLP

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def _gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Sum over the last dim of log N(u; mean, exp(log_std))."""
    z = (u - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std - 0.5 * _LOG_2PI).sum(-1)


def _tanh_log_det(u: torch.Tensor) -> torch.Tensor:
    """log |d tanh(u)/du| summed over the last dim: 2(log 2 - u - softplus(-2u)), stable."""
    return (2.0 * (_LOG_2 - u - F.softplus(-2.0 * u))).sum(-1)


class TanhGaussianPolicy(nn.Module):
    """a = tanh(u), u ~ N(mean(s), std(s)); log_std squashed smoothly into [min, max]."""

    def __init__(
        self,
        in_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int],
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        layer_norm: bool = False,
    ):
        super().__init__()
        self.action_dim = action_dim
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        self.net = MLP(in_dim, hidden_dims, 2 * action_dim, layer_norm=layer_norm)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features [B, F] -> (mean [B, A], log_std [B, A])."""
        mean, raw = self.net(features).chunk(2, dim=-1)
        # tanh squashing instead of a hard clamp keeps a gradient at the bounds.
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            torch.tanh(raw) + 1.0
        )
        return mean, log_std

    def sample(
        self, features: torch.Tensor, num_samples: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised sample: ([B, A], [B]) or, with num_samples N, ([N, B, A], [N, B])."""
        mean, log_std = self(features)
        shape = mean.shape if num_samples is None else (num_samples, *mean.shape)
        eps = torch.randn(shape, device=mean.device, dtype=mean.dtype)
        std = torch.exp(log_std)
        u = mean + std * eps
        # log N(u) with z = eps exactly (no division round trip).
        log_prob = (-0.5 * eps.square() - log_std - 0.5 * _LOG_2PI).sum(-1) - _tanh_log_det(u)
        return torch.tanh(u), log_prob

    def mode(self, features: torch.Tensor) -> torch.Tensor:
        """Deterministic action tanh(mean) [B, A]."""
        return torch.tanh(self(features)[0])

    def log_prob(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi(action | s) [B] for dataset actions (clamped inside (-1, 1) before atanh)."""
        mean, log_std = self(features)
        a = action.clamp(-1.0 + 1e-6, 1.0 - 1e-6)
        u = torch.atanh(a)
        return _gaussian_log_prob(u, mean, log_std) - _tanh_log_det(u)
