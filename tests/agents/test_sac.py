"""SAC (RLPD/REDQ settings) and WSRL initialisation from a CQL/Cal-QL agent."""

from __future__ import annotations

from dataclasses import replace
from math import comb

import numpy as np
import pytest
import torch

from robot_rl.agents.cql import CQL, CQLConfig
from robot_rl.agents.init_from import init_from_checkpoint_state
from robot_rl.agents.sac import SAC, SACConfig, subset_q
from robot_rl.errors import UserError
from robot_rl.methods import method_agent_config
from robot_rl.types import ActionSpec, ArraySpec, Batch

STATE = {"state": ArraySpec((6,), "float32")}
PIXELS = {"pixels": ArraySpec((64, 64, 3), "uint8"), "proprio": ArraySpec((3,), "float32")}
ACT = ActionSpec(2)
CPU = torch.device("cpu")
SMALL = {"hidden_dims": (32, 32), "batch_size": 16}


def make_batch(obs_spec: dict, n: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)

    def obs() -> dict[str, torch.Tensor]:
        out = {}
        for k, s in obs_spec.items():
            if s.dtype == "uint8":
                out[k] = torch.randint(0, 256, (n, *s.shape), generator=g, dtype=torch.uint8)
            else:
                out[k] = torch.randn(n, *s.shape, generator=g)
        return out

    return Batch(
        obs=obs(),
        action=torch.rand(n, ACT.dim, generator=g) * 2 - 1,
        reward=torch.randn(n, generator=g),
        next_obs=obs(),
        terminated=(torch.rand(n, generator=g) < 0.1).float(),
    )


def test_critic_loss_falls_and_actor_raises_q() -> None:
    torch.manual_seed(0)
    agent = SAC(SACConfig(**SMALL, num_qs=4, num_min_qs=2, critic_lr=1e-3), STATE, ACT, CPU)
    batch = make_batch(STATE, agent.sample_size)
    first = agent.update(batch)
    for _ in range(100):
        last = agent.update(batch)
    assert torch.isfinite(torch.stack(list(last.values()))).all()
    assert last["critic/loss"] < first["critic/loss"]
    # The actor moves toward actions the (now fixed) critic values more.
    feat = agent.encoder(batch.obs)
    with torch.no_grad():
        q_before = agent.critic(feat, agent.actor.mode(feat)).mean()
    for _ in range(50):
        agent._update_actor(feat.detach())
    with torch.no_grad():
        q_after = agent.critic(feat, agent.actor.mode(feat)).mean()
    assert q_after > q_before


def test_temperature_rises_when_entropy_is_below_target() -> None:
    torch.manual_seed(0)
    agent = SAC(SACConfig(**SMALL, target_entropy=10.0), STATE, ACT, CPU)  # unreachable
    batch = make_batch(STATE, agent.sample_size)
    alpha0 = agent.alpha.item()
    for _ in range(20):
        metrics = agent.update(batch)
    assert metrics["alpha/value"].item() > alpha0


def _sparse_bandit_success(init_temperature: float, seed: int = 0) -> float:
    """One-step episodes rewarded 1 only when action[0] > 0.5 (a quarter of random actions):
    the share of the trained policy's samples that earn the reward."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    cfg = SACConfig(hidden_dims=(32, 32), batch_size=64, init_temperature=init_temperature)
    agent = SAC(cfg, STATE, ACT, CPU)
    for _ in range(300):
        action = torch.rand(64, ACT.dim, generator=g) * 2 - 1
        agent.update(
            Batch(
                obs={"state": torch.randn(64, 6, generator=g)},
                action=action,
                reward=(action[:, 0] > 0.5).float(),
                next_obs={"state": torch.randn(64, 6, generator=g)},
                terminated=torch.ones(64),
            )
        )
    with torch.no_grad():
        sampled, _ = agent.actor.sample(agent.encoder({"state": torch.randn(256, 6, generator=g)}))
    return float((sampled[:, 0] > 0.5).float().mean())


def test_default_temperature_lets_a_sparse_0_1_reward_drive_the_policy() -> None:
    # The default (0.01) learns where the reward is; SAC's textbook 1.0 is the control: its
    # entropy bonus outweighs a 0/1 reward and the policy stays closer to uniform. Directions
    # only (how well it learns is for benchmarks): both beat random (0.25), the default more.
    assert SACConfig().init_temperature == 0.01
    default, textbook = (
        _sparse_bandit_success(SACConfig().init_temperature),
        _sparse_bandit_success(1.0),
    )
    print(f"rewarded share: default temperature {default:.2f}, 1.0 {textbook:.2f}")
    assert default > textbook > 0.25


@pytest.mark.parametrize("block_targets", [False, True])
def test_utd_block_does_utd_critic_steps_and_one_actor_step(block_targets: bool) -> None:
    torch.manual_seed(0)
    cfg = SACConfig(**SMALL, utd_ratio=5, num_qs=3, num_min_qs=2, block_targets=block_targets)
    agent = SAC(cfg, STATE, ACT, CPU)
    assert agent.sample_size == 16 * 5
    steps = {"critic": 0, "actor": 0, "alpha": 0}
    for name, opt in agent._optimizers().items():
        opt.register_step_post_hook(lambda *_, name=name: steps.__setitem__(name, steps[name] + 1))
    target_before = [p.clone() for p in agent.critic_target.parameters()]
    agent.update(make_batch(STATE, agent.sample_size))
    assert steps == {"critic": 5, "actor": 1, "alpha": 1}
    after = agent.critic_target.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(target_before, after))
    with pytest.raises(UserError, match="utd_ratio"):
        agent.update(make_batch(STATE, 17))


def test_actor_update_every_skips_actor_steps() -> None:
    cfg = SACConfig(**SMALL, actor_update_every=3)
    agent = SAC(cfg, STATE, ACT, CPU)
    count = [0]
    agent.actor_opt.register_step_post_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    batch = make_batch(STATE, agent.sample_size)
    for _ in range(6):
        agent.update(batch)
    assert count[0] == 2


def test_subset_q_equals_the_chosen_members_of_the_ensemble() -> None:
    torch.manual_seed(0)
    agent = SAC(method_agent_config("rlpd", **SMALL, num_qs=5), STATE, ACT, CPU)
    for p in agent.critic_target.parameters():  # LayerNorm gains/biases away from 1/0 too
        p.data.add_(0.1 * torch.randn_like(p))
    feat, act = torch.randn(3, 7, 6), torch.rand(3, 7, 2) * 2 - 1
    idx = torch.tensor([[4, 1], [0, 2], [3, 3]])
    got = subset_q(agent.critic_target, idx, feat, act)  # [3, 2, 7]
    for g in range(3):
        full = agent.critic_target(feat[g], act[g])  # [5, 7]
        torch.testing.assert_close(got[g], full[idx[g]], rtol=1e-5, atol=1e-5)


def _constant_member_agent(values: list[float], num_min_qs: int, **kw) -> SAC:
    """Agent whose target member i outputs values[i] everywhere (zero last layer, bias = value)."""
    cfg = replace(
        SACConfig(**SMALL), num_qs=len(values), num_min_qs=num_min_qs, backup_entropy=False, **kw
    )
    agent = SAC(cfg, STATE, ACT, CPU)
    with torch.no_grad():
        agent.critic_target.head.weight.zero_()
        agent.critic_target.head.bias.copy_(torch.tensor(values).view(-1, 1, 1))
    return agent


@pytest.mark.parametrize("k", [1, 2, 3])
def test_target_is_min_over_a_random_subset_of_exactly_num_min_qs(k: int) -> None:
    """With member values 1..5, min over k distinct random members has a known distribution."""
    torch.manual_seed(k)
    values = [3.0, 1.0, 5.0, 2.0, 4.0]
    u, b = 4000, 1
    agent = _constant_member_agent(values, k, utd_ratio=u, batch_size=b, block_targets=True)
    batch = make_batch(STATE, u * b)
    reward, mask = torch.zeros(u, b), torch.ones(u, b)
    subsets = agent._draw_subsets(u)
    assert subsets.shape == (u, k)
    assert all(len(set(row.tolist())) == k for row in subsets[:200])  # distinct members
    next_obs = {key: v.view(u, b, -1) for key, v in batch.next_obs.items()}
    targets = agent._block_targets(next_obs, reward, mask, subsets) / agent.cfg.discount
    # Exactly the min over the drawn members ...
    expect = torch.tensor(values)[subsets].min(1).values
    torch.testing.assert_close(targets[:, 0], expect)
    # ... and the draw is uniform: P(min = j-th smallest of 5) = C(5-j, k-1) / C(5, k).
    values_sorted = sorted(values)

    hits = [torch.isclose(targets[:, 0], torch.tensor(v)).float().mean() for v in values_sorted]
    freq = torch.stack(hits)
    want = torch.tensor([comb(5 - j, k - 1) / comb(5, k) for j in range(1, 6)])
    assert (freq - want).abs().max() < 0.03
    # The exact per-step target agrees with the block target for the same subset.
    one = agent._target(0, next_obs, reward[0], mask[0], subsets[0], None)
    torch.testing.assert_close(one / agent.cfg.discount, expect[:1])


def test_update_is_reproducible_and_state_dict_round_trips() -> None:
    cfg = method_agent_config("rlpd", **SMALL, num_qs=4, utd_ratio=2)
    agents = []
    for _ in range(2):
        torch.manual_seed(1)
        agent = SAC(cfg, STATE, ACT, CPU)
        agent.update(make_batch(STATE, agent.sample_size))
        agents.append(agent)
    obs = {"state": np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)}
    np.testing.assert_array_equal(agents[0].act(obs), agents[1].act(obs))
    fresh = SAC(cfg, STATE, ACT, CPU)
    fresh.load_state_dict(agents[0].state_dict())
    np.testing.assert_array_equal(fresh.act(obs), agents[0].act(obs))
    assert fresh.act({"state": obs["state"][0]}).shape == (2,)
    _assert_same_state(fresh.state_dict(), agents[0].state_dict())  # optimiser moments too
    torch.manual_seed(5)
    m0 = agents[0].update(make_batch(STATE, fresh.sample_size, seed=3))
    torch.manual_seed(5)
    m1 = fresh.update(make_batch(STATE, fresh.sample_size, seed=3))
    # Not bitwise: MKL may change its thread split under CPU load, which reorders sums.
    torch.testing.assert_close(m0["critic/loss"], m1["critic/loss"], rtol=1e-2, atol=0)


def _assert_same_state(a: object, b: object) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            _assert_same_state(a[k], b[k])
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("block_targets", [False, True])
def test_pixel_variant_trains_the_shared_encoder(block_targets: bool) -> None:
    torch.manual_seed(0)
    cfg = method_agent_config(
        "rlpd",
        hidden_dims=(32, 32),
        batch_size=4,
        num_qs=3,
        utd_ratio=2,
        block_targets=block_targets,
    )
    agent = SAC(cfg, PIXELS, ACT, CPU)
    enc_before = [p.clone() for p in agent.encoder.parameters()]
    metrics = agent.update(make_batch(PIXELS, agent.sample_size))
    assert torch.isfinite(torch.stack(list(metrics.values()))).all()
    assert all(not torch.equal(a, b) for a, b in zip(enc_before, agent.encoder.parameters()))
    obs = {"pixels": np.zeros((64, 64, 3), np.uint8), "proprio": np.zeros(3, np.float32)}
    action = agent.act(obs, deterministic=False)
    assert action.shape == (2,) and np.all(np.abs(action) <= 1.0)


def test_bad_config_is_a_user_error() -> None:
    with pytest.raises(UserError, match="num_min_qs"):
        SAC(SACConfig(num_qs=2, num_min_qs=3), STATE, ACT, CPU)
    with pytest.raises(UserError, match="utd_ratio"):
        SAC(SACConfig(utd_ratio=0), STATE, ACT, CPU)


def _trained_cql(num_qs: int, layer_norm: bool) -> CQL:
    torch.manual_seed(2)
    cfg = CQLConfig(hidden_dims=(32, 32), batch_size=16, num_qs=num_qs, layer_norm=layer_norm)
    cql = CQL(cfg, STATE, ACT, CPU)
    batch = make_batch(STATE, 16)
    for _ in range(3):
        cql.update(batch)
    return cql


def test_init_from_cql_copies_actor_critic_and_temperature() -> None:
    cql = _trained_cql(num_qs=2, layer_norm=True)
    sac = SAC(method_agent_config("rlpd", **SMALL, num_qs=2), STATE, ACT, CPU)
    init_from_checkpoint_state(sac, cql.state_dict(), cql.cfg, STATE)
    obs = {"state": np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)}
    np.testing.assert_array_equal(sac.act(obs), cql.act(obs))
    feat, act = torch.randn(8, 6), torch.rand(8, 2) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(sac.critic(feat, act), cql.critic(feat, act), rtol=0, atol=0)
        torch.testing.assert_close(sac.critic_target(feat, act), cql.critic_target(feat, act))
    assert torch.equal(sac.log_alpha.detach(), cql.log_alpha.detach())
    sac.update(make_batch(STATE, sac.sample_size))  # fine-tuning runs from there


def test_init_from_tiles_members_cyclically_when_ensembles_differ() -> None:
    cql = _trained_cql(num_qs=2, layer_norm=True)
    sac = SAC(method_agent_config("rlpd", **SMALL, num_qs=5), STATE, ACT, CPU)
    init_from_checkpoint_state(sac, cql.state_dict(), cql.cfg)
    feat, act = torch.randn(8, 6), torch.rand(8, 2) * 2 - 1
    with torch.no_grad():
        src, dst = cql.critic(feat, act), sac.critic(feat, act)  # [2, 8], [5, 8]
    for j in range(5):
        torch.testing.assert_close(dst[j], src[j % 2], rtol=0, atol=0)


def test_init_from_rejects_mismatched_networks() -> None:
    cql = _trained_cql(num_qs=2, layer_norm=False)
    with pytest.raises(UserError, match="hidden_dims"):
        init_from_checkpoint_state(
            SAC(method_agent_config("rlpd", hidden_dims=(64, 64)), STATE, ACT, CPU),
            cql.state_dict(),
            cql.cfg,
        )
    with pytest.raises(UserError, match="LayerNorm"):  # RLPD critics have LayerNorm, these not
        init_from_checkpoint_state(
            SAC(method_agent_config("rlpd", **SMALL), STATE, ACT, CPU), cql.state_dict(), cql.cfg
        )
    other = {"state": ArraySpec((9,), "float32")}
    with pytest.raises(UserError, match="observation spec"):
        init_from_checkpoint_state(
            SAC(SACConfig(**SMALL), other, ACT, CPU), cql.state_dict(), cql.cfg, STATE
        )
    with pytest.raises(UserError, match="shape"):  # no spec given: caught by the layer shapes
        init_from_checkpoint_state(
            SAC(SACConfig(**SMALL), other, ACT, CPU), cql.state_dict(), replace(cql.cfg)
        )


@pytest.mark.slow
def test_compiled_update_matches_eager() -> None:
    cfg = method_agent_config("rlpd", **SMALL, num_qs=3, utd_ratio=2)
    metrics = []
    for compile_ in (False, True):
        torch.manual_seed(0)
        agent = SAC(replace(cfg, compile=compile_), STATE, ACT, CPU)
        torch.manual_seed(1)
        metrics.append(agent.update(make_batch(STATE, agent.sample_size)))
        assert not agent._compile_failed
    for k in metrics[0]:
        torch.testing.assert_close(metrics[1][k], metrics[0][k], rtol=1e-4, atol=1e-5)


def test_compile_failure_falls_back_to_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    agent = SAC(
        method_agent_config("rlpd", **SMALL, num_qs=3, utd_ratio=2, compile=True), STATE, ACT, CPU
    )
    with pytest.warns(UserWarning, match="eager"):
        metrics = agent.update(make_batch(STATE, agent.sample_size))
    assert agent._compile_failed
    assert torch.isfinite(torch.stack(list(metrics.values()))).all()


def test_init_from_copies_the_pixel_encoder() -> None:
    torch.manual_seed(3)
    cfg = CQLConfig(hidden_dims=(32, 32), batch_size=4, num_qs=2, layer_norm=True)
    cql = CQL(cfg, PIXELS, ACT, CPU)
    cql.update(make_batch(PIXELS, 4))
    sac = SAC(
        method_agent_config("rlpd", hidden_dims=(32, 32), batch_size=4, num_qs=4), PIXELS, ACT, CPU
    )
    init_from_checkpoint_state(sac, cql.state_dict(), cql.cfg, PIXELS)
    obs = {"pixels": np.full((2, 64, 64, 3), 90, np.uint8), "proprio": np.ones((2, 3), np.float32)}
    np.testing.assert_allclose(sac.act(obs), cql.act(obs), rtol=1e-6, atol=1e-6)
