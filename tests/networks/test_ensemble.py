"""Vectorised ensembles: shapes, equivalence to separate networks, member independence."""

from __future__ import annotations

import math

import pytest
import torch

from robot_rl.networks.ensemble import CriticEnsemble, EnsembleLinear


def test_ensemble_linear_matches_separate_linear_layers():
    torch.manual_seed(0)
    layer = EnsembleLinear(5, 3, num_members=4)
    x = torch.randn(4, 7, 5)
    out = layer(x)
    assert out.shape == (4, 7, 3)
    for i in range(4):
        ref = x[i] @ layer.weight[i] + layer.bias[i]
        torch.testing.assert_close(out[i], ref)


def test_ensemble_linear_init_like_torch_linear():
    torch.manual_seed(0)
    layer = EnsembleLinear(64, 32, num_members=3)
    bound = 1.0 / math.sqrt(64)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    # uniform on [-b, b] has std b / sqrt(3); members are initialised differently
    assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert not torch.equal(layer.weight[0], layer.weight[1])


def _reference_q(critic: CriticEnsemble, member: int, feat: torch.Tensor, act: torch.Tensor):
    """Member ``member`` evaluated as a plain MLP on cat(features, action)."""
    x = torch.cat([feat, act], dim=-1)
    for linear, norm in zip(critic.linears, critic.norms):
        x = x @ linear.weight[member] + linear.bias[member]
        if not isinstance(norm, torch.nn.Identity):
            x = torch.nn.functional.layer_norm(x, (x.shape[-1],))
            x = x * norm.weight[member] + norm.bias[member]
        x = torch.relu(x)
    return (x @ critic.head.weight[member] + critic.head.bias[member]).squeeze(-1)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_critic_ensemble_single_and_many_actions_match_reference(layer_norm):
    torch.manual_seed(0)
    critic = CriticEnsemble(6, 2, (16, 16), num_qs=3, layer_norm=layer_norm)
    with torch.no_grad():  # make the LayerNorm affine non-trivial
        for p in critic.parameters():
            p.add_(0.1 * torch.randn_like(p))
    feat, act = torch.randn(5, 6), torch.rand(5, 2) * 2 - 1
    q = critic(feat, act)
    assert q.shape == (3, 5)
    many = torch.rand(4, 5, 2) * 2 - 1  # [N, B, A]
    q_many = critic(feat, many)
    assert q_many.shape == (3, 4, 5)
    for m in range(3):
        torch.testing.assert_close(q[m], _reference_q(critic, m, feat, act))
        for n in range(4):
            torch.testing.assert_close(q_many[m, n], _reference_q(critic, m, feat, many[n]))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_member_gradients_are_independent(layer_norm):
    torch.manual_seed(0)
    critic = CriticEnsemble(6, 2, (16, 16), num_qs=4, layer_norm=layer_norm)
    feat, act = torch.randn(8, 6), torch.rand(3, 8, 2)
    q = critic(feat, act)  # [M, N, B]
    q[2].sum().backward()
    for name, p in critic.named_parameters():
        assert p.grad is not None, name
        others = torch.cat([p.grad[i].flatten() for i in (0, 1, 3)])
        assert torch.all(others == 0), f"{name}: member 2's output reached another member"
        assert p.grad[2].abs().sum() > 0, f"{name}: member 2 got no gradient"


def test_critic_gradient_reaches_features_for_the_encoder():
    critic = CriticEnsemble(6, 2, (16,), num_qs=2)
    feat = torch.randn(4, 6, requires_grad=True)
    critic(feat, torch.rand(5, 4, 2)).sum().backward()
    assert feat.grad is not None and feat.grad.abs().sum() > 0
