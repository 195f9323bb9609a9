"""Tanh-Gaussian policy and MLP."""

from __future__ import annotations

import math

import pytest
import torch

from robot_rl.networks.mlp import MLP
from robot_rl.networks.policies import TanhGaussianPolicy


def test_mlp_shapes_and_layer_norm():
    mlp = MLP(5, (8, 8), 3, layer_norm=True, dropout=0.1)
    assert mlp(torch.randn(4, 5)).shape == (4, 3)
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in mlp.modules()) == 2
    assert sum(isinstance(m, torch.nn.Dropout) for m in mlp.modules()) == 2


def test_sample_shapes_bounds_and_log_prob_agree():
    torch.manual_seed(0)
    pi = TanhGaussianPolicy(6, 3, (32,))
    feat = torch.randn(10, 6)
    a, logp = pi.sample(feat)
    assert a.shape == (10, 3) and logp.shape == (10,)
    assert a.abs().max() < 1.0
    # the density of a sample recomputed from the action (via atanh) matches
    torch.testing.assert_close(logp, pi.log_prob(feat, a), atol=1e-3, rtol=1e-4)
    a_n, logp_n = pi.sample(feat, num_samples=7)
    assert a_n.shape == (7, 10, 3) and logp_n.shape == (7, 10)


def test_log_prob_matches_change_of_variables_by_hand():
    pi = TanhGaussianPolicy(1, 1, (4,))
    with torch.no_grad():  # mean 0, log_std 0 for every input
        last = pi.net.net[-1]
        last.weight.zero_()
        last.bias.zero_()
    mean, log_std = pi(torch.zeros(1, 1))
    std = math.exp(log_std.item())
    a = 0.5
    u = math.atanh(a)
    expected = -0.5 * (u / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
    expected -= math.log(1 - a**2)
    assert pi.log_prob(torch.zeros(1, 1), torch.tensor([[a]])).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_log_prob_finite_at_action_bounds_and_mode_is_tanh_mean():
    pi = TanhGaussianPolicy(4, 2, (8,))
    feat = torch.randn(3, 4)
    lp = pi.log_prob(feat, torch.tensor([[1.0, -1.0]] * 3))
    assert torch.isfinite(lp).all()
    torch.testing.assert_close(pi.mode(feat), torch.tanh(pi(feat)[0]))


def test_log_std_stays_within_bounds():
    pi = TanhGaussianPolicy(2, 2, (8,), log_std_min=-5.0, log_std_max=2.0)
    _, log_std = pi(1e4 * torch.randn(100, 2))
    assert log_std.min() >= -5.0 and log_std.max() <= 2.0


def test_encoder_standardises_vector_keys_and_leaves_images_alone():
    import numpy as np

    from robot_rl.networks.encoders import ObsEncoder
    from robot_rl.types import ArraySpec

    spec = {
        "pixels": ArraySpec((16, 16, 3), "uint8"),
        "proprio": ArraySpec((2,), "float32"),
        "state": ArraySpec((3,), "float32"),
    }
    enc = ObsEncoder(spec, channels=4, feature_dim=5)
    obs = {
        "pixels": torch.zeros(2, 16, 16, 3, dtype=torch.uint8),
        "proprio": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        "state": torch.tensor([[10.0, 0.0, 5.0], [12.0, 0.0, 5.0]]),
    }
    before = enc(obs)
    enc.set_normalization({"state": (np.array([11.0, 0.0, 5.0]), np.array([1.0, 0.0, 2.0]))})
    after = enc(obs)
    assert torch.equal(after[:, :7], before[:, :7])  # image features, then proprio: unchanged
    # state: (x - mean) / std, with a zero std floored at 1e-3 (a constant input stays finite)
    assert torch.allclose(after[:, 7:], torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    assert set(enc.state_dict()) >= {"shift", "scale"}  # saved with the agent


def test_encoder_loads_a_state_saved_before_standardisation_as_identity():
    from robot_rl.networks.encoders import ObsEncoder
    from robot_rl.types import ArraySpec

    enc = ObsEncoder({"state": ArraySpec((3,), "float32")})
    old = {k: v for k, v in enc.state_dict().items() if k not in ("shift", "scale")}
    enc.shift.fill_(5.0)
    enc.load_state_dict(old)  # strict: the missing buffers are filled, not an error
    assert torch.all(enc.shift == 0) and torch.all(enc.scale == 1)
