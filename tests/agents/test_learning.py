"""Directions: losses fall on tiny fixed data; variants and options are wired in."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from robot_rl.agents import default_config, filter_top_episodes, make_agent
from robot_rl.data import Dataset, ReplayBuffer
from robot_rl.errors import UserError
from robot_rl.types import ActionSpec, ArraySpec, Batch

SPEC = {"state": ArraySpec((6,), "float32")}


def fixed_batch(b: int = 32, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(b, 6, generator=g)
    action = torch.tanh(obs[:, :2] + 0.1 * torch.randn(b, 2, generator=g))  # learnable
    return Batch(
        obs={"state": obs},
        action=action,
        reward=obs[:, 0].clone(),
        next_obs={"state": torch.randn(b, 6, generator=g)},
        terminated=(torch.rand(b, generator=g) < 0.2).float(),
        mc_return=torch.full((b,), 5.0),
    )


def agent(name: str, **overrides):
    cfg = dataclasses.replace(default_config(name), hidden_dims=(64, 64), batch_size=32)
    cfg = dataclasses.replace(cfg, **overrides)
    return make_agent(name, cfg, SPEC, ActionSpec(2), "cpu")


def run(ag, batch: Batch, key: str, steps: int) -> list[float]:
    return [float(ag.update(batch)[key]) for _ in range(steps)]


@pytest.mark.parametrize("loss", ["nll", "mse"])
def test_bc_loss_falls_on_tiny_dataset(tiny_state_dataset, loss):
    torch.manual_seed(0)
    buf = ReplayBuffer.from_dataset(Dataset(tiny_state_dataset))
    cfg = dataclasses.replace(default_config("bc"), hidden_dims=(64, 64), batch_size=64, loss=loss)
    ag = make_agent("bc", cfg, buf.obs_spec, ActionSpec(4), "cpu")
    rng = np.random.default_rng(0)
    curve = [float(ag.update(buf.sample(64, rng))["actor/loss"]) for _ in range(60)]
    assert np.mean(curve[-5:]) < np.mean(curve[:5]) - 0.1 * abs(np.mean(curve[:5]))


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("iql", "critic/loss"),
        ("iql", "value/loss"),
        ("cql", "critic/td_loss"),
        ("calql", "critic/td_loss"),
    ],
)
def test_critic_loss_falls_on_fixed_batch(name, key):
    # CQL's full loss has a floor (logsumexp over 3N samples), so its TD part is what must fall.
    torch.manual_seed(0)
    batch = dataclasses.replace(fixed_batch(), mc_return=torch.full((32,), -1.0))
    curve = run(agent(name), batch, key, 60)
    assert np.isfinite(curve).all()
    assert np.mean(curve[-5:]) < 0.7 * np.mean(curve[:5])


def test_iql_actor_moves_toward_high_advantage_actions():
    torch.manual_seed(0)
    ag = agent("iql", beta=3.0)
    curve = run(ag, fixed_batch(), "actor/loss", 60)
    assert np.mean(curve[-5:]) < np.mean(curve[:5])


def test_calql_keeps_policy_values_above_cql_when_mc_return_is_high():
    batch = fixed_batch()  # mc_return = 5 everywhere, rewards ~ N(0, 1)
    q_pi = {}
    for name in ("cql", "calql"):
        torch.manual_seed(0)
        ag = agent(name)
        metrics = [ag.update(batch) for _ in range(100)]
        with torch.no_grad():
            feat = ag.encoder(batch.obs)
            q_pi[name] = ag.critic(feat, ag.actor.mode(feat)).mean().item()
        assert np.isfinite([float(m["critic/loss"]) for m in metrics]).all()
    # CQL pushes Q(s, pi(s)) down without limit; Cal-QL stops at the MC return.
    assert q_pi["calql"] > q_pi["cql"] + 0.5


def test_calql_requires_mc_return():
    batch = dataclasses.replace(fixed_batch(), mc_return=None)
    with pytest.raises(UserError, match="mc_return"):
        agent("calql").update(batch)


def test_cql_options_lagrange_max_backup_entropy_backup():
    torch.manual_seed(0)
    ag = agent("cql", lagrange=True, max_target_backup=True, backup_entropy=True, layer_norm=True)
    batch = fixed_batch()
    first = ag.update(batch)
    for _ in range(5):
        last = ag.update(batch)
    assert all(torch.isfinite(v) for v in last.values())
    assert float(last["cql/alpha"]) != pytest.approx(float(first["cql/alpha"]), abs=1e-7)


def test_iql_deterministic_actor_and_cosine_schedule():
    torch.manual_seed(0)
    ag = agent("iql", actor="deterministic", cosine_steps=10)
    lr0 = ag.actor_opt.param_groups[0]["lr"]
    curve = run(ag, fixed_batch(), "actor/loss", 10)
    assert np.isfinite(curve).all()
    assert lr0 > 0 and ag.actor_opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_bad_config_values_are_user_errors():
    with pytest.raises(UserError, match="loss"):
        agent("bc", loss="l1")
    with pytest.raises(UserError, match="actor"):
        agent("iql", actor="mixture")


def test_pixel_encoder_is_trained_by_the_critic_only():
    torch.manual_seed(0)
    spec = {"pixels": ArraySpec((32, 32, 3), "uint8"), "proprio": ArraySpec((3,), "float32")}
    for name in ("iql", "cql"):
        cfg = dataclasses.replace(
            default_config(name), hidden_dims=(16,), batch_size=4, critic_lr=0.0
        )
        ag = make_agent(name, cfg, spec, ActionSpec(2), "cpu")
        b = 4
        g = torch.Generator().manual_seed(0)
        obs = {
            "pixels": torch.randint(0, 255, (b, 32, 32, 3), dtype=torch.uint8, generator=g),
            "proprio": torch.randn(b, 3, generator=g),
        }
        batch = Batch(obs, torch.rand(b, 2) * 2 - 1, torch.randn(b), obs, torch.zeros(b))
        enc0 = [p.detach().clone() for p in ag.encoder.parameters()]
        act0 = [p.detach().clone() for p in ag.actor.parameters()]
        ag.update(batch)
        # critic lr 0: the encoder must not move even though the actor did.
        assert all(torch.equal(a, p) for a, p in zip(enc0, ag.encoder.parameters())), name
        assert not all(torch.equal(a, p) for a, p in zip(act0, ag.actor.parameters())), name


def test_filter_top_episodes_keeps_highest_returns(tiny_state_dataset):
    ds = Dataset(tiny_state_dataset)  # even episodes succeed (return 1), odd ones return 0
    assert filter_top_episodes(ds, "reward.env", 0.5) == [0, 2, 4]
    assert filter_top_episodes(ds, "env", 0.01) == [0]  # at least one; ties -> lowest id
    assert filter_top_episodes(ds, "reward.env", 1.0) == ds.episode_ids
    with pytest.raises(UserError, match="reward.nope"):
        filter_top_episodes(ds, "reward.nope", 0.5)
    with pytest.raises(UserError, match="top_fraction"):
        filter_top_episodes(ds, "reward.env", 0.0)
