"""Pure loss functions of reward learning: balanced BCE for goal classifiers, mixup, a gradient
penalty, and the Bradley-Terry preference loss (each unit-tested against hand-computed numbers)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def smooth_labels(targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Move targets towards 0.5: y * (1 - eps) + eps / 2 (1 -> 0.9, 0 -> 0.1 at eps=0.2)."""
    return targets * (1.0 - label_smoothing) + 0.5 * label_smoothing


def balanced_bce(
    logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """BCE where the positive (target >= 0.5) and negative samples each weigh one half.

    ``targets`` may be soft (mixup); the class of a sample is its target rounded. If a batch holds
    one class only, that class weighs the whole loss.
    """
    per = F.binary_cross_entropy_with_logits(
        logits, smooth_labels(targets, label_smoothing), reduction="none"
    )
    pos = targets >= 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return per.mean()
    return 0.5 * per[pos].mean() + 0.5 * per[~pos].mean()


def mixup(
    inputs: dict[str, torch.Tensor], targets: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Mixup (Zhang et al. 2018): x = lam x + (1 - lam) x[perm], same for targets.

    ``lam`` [B] per sample; uint8 images come back as float in [0, 255] (the encoder scales both).
    """
    out = {}
    for k, x in inputs.items():
        w = lam.view(-1, *([1] * (x.dim() - 1)))  # [B, 1, ...] broadcast over the sample
        out[k] = w * x.float() + (1.0 - w) * x[perm].float()
    return out, lam * targets + (1.0 - lam) * targets[perm]


def sample_mixup(
    batch_size: int, alpha: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw mixup weights lam ~ Beta(alpha, alpha) [B] and a partner permutation [B]."""
    if alpha <= 0:
        return torch.ones(batch_size), torch.arange(batch_size)
    lam = torch.as_tensor(rng.beta(alpha, alpha, size=batch_size), dtype=torch.float32)
    return lam, torch.as_tensor(rng.permutation(batch_size))


def gradient_penalty(outputs: torch.Tensor, inputs: list[torch.Tensor]) -> torch.Tensor:
    """Mean over the batch of ||d outputs_i / d inputs_i||^2 (R1-style), summed over inputs.

    ``inputs`` must require grad and ``outputs`` [B] must depend on them per sample.
    """
    grads = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return sum(g.flatten(1).pow(2).sum(1).mean() for g in grads)  # type: ignore[return-value]


def preference_probability(returns_a: torch.Tensor, returns_b: torch.Tensor) -> torch.Tensor:
    """P(a preferred to b) = sigmoid(R(a) - R(b)) (Bradley-Terry)."""
    return torch.sigmoid(returns_a - returns_b)


def bradley_terry_loss(
    returns_a: torch.Tensor, returns_b: torch.Tensor, preference: torch.Tensor
) -> torch.Tensor:
    """-[p log P(a > b) + (1 - p) log P(b > a)], mean; p = 1 (a), 0 (b), 0.5 (tie).

    ``returns_*`` may carry a leading ensemble axis [M, B]; ``preference`` [B] broadcasts.
    """
    target = preference.expand_as(returns_a)
    return F.binary_cross_entropy_with_logits(returns_a - returns_b, target)
