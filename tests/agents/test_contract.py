"""One contract over every registered agent x {state, pixel} observations."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from robot_rl.agents import AGENTS, default_config, make_agent
from robot_rl.agents.common import EncoderConfig
from robot_rl.data import Dataset, ReplayBuffer
from robot_rl.types import ActionSpec, Agent

ACTION_DIM = 4


def tiny_config(name: str):
    """The agent's default config with tiny networks and batch 8."""
    cfg = default_config(name)
    small = {"hidden_dims": (32, 32), "batch_size": 8, "encoder": EncoderConfig(8, 16)}
    small |= {"cql_n_actions": 3, "num_qs": 2, "utd_ratio": 2}
    known = {f.name for f in dataclasses.fields(cfg)}
    return dataclasses.replace(cfg, **{k: v for k, v in small.items() if k in known})


@pytest.fixture(params=["state", "pixels"])
def buffer(request, tiny_state_dataset, tiny_pixel_dataset) -> ReplayBuffer:
    root = tiny_state_dataset if request.param == "state" else tiny_pixel_dataset
    return ReplayBuffer.from_dataset(Dataset(root), reward_key="reward.env")


def _params(agent) -> dict[str, torch.Tensor]:
    mods = {k: v for k, v in vars(agent).items() if isinstance(v, torch.nn.Module)}
    return {
        f"{m}.{n}": p.detach().clone() for m, mod in mods.items() for n, p in mod.named_parameters()
    }


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_agent_contract(name, buffer):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    spec = buffer.obs_spec
    agent = make_agent(name, tiny_config(name), spec, ActionSpec(ACTION_DIM), "cpu")
    assert isinstance(agent, Agent)
    assert agent.sample_size >= 8

    before = _params(agent)
    for _ in range(2):
        metrics = agent.update(buffer.sample(agent.sample_size, rng))
    assert metrics and all("/" in k for k in metrics)
    for k, v in metrics.items():
        assert isinstance(v, torch.Tensor) and v.numel() == 1 and not v.requires_grad, k
        assert torch.isfinite(v), f"{name}: metric {k} = {v}"
    after = _params(agent)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    for module in ("actor", "encoder", "critic"):
        names = [k for k in before if k.startswith(module + ".")]
        if names:  # the state encoder has no parameters
            assert any(k in changed for k in names), f"{name}: {module} did not change"

    batch = buffer.sample(5, rng)
    obs_batch = {k: v.numpy() for k, v in batch.obs.items()}
    obs_one = {k: v[0] for k, v in obs_batch.items()}
    for deterministic in (True, False):
        a1 = agent.act(obs_one, deterministic=deterministic)
        an = agent.act(obs_batch, deterministic=deterministic)
        assert a1.shape == (ACTION_DIM,) and an.shape == (5, ACTION_DIM)
        assert np.all(np.abs(an) <= 1.0) and np.all(np.abs(a1) <= 1.0)
        assert np.isfinite(an).all()

    # Checkpoint round trip: a fresh agent with loaded state acts identically and resumes.
    buf = io.BytesIO()
    torch.save(agent.state_dict(), buf)  # as a checkpoint file would (no shared tensors)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    torch.manual_seed(1)
    clone = make_agent(name, tiny_config(name), spec, ActionSpec(ACTION_DIM), "cpu")
    clone.load_state_dict(state)
    np.testing.assert_array_equal(agent.act(obs_batch), clone.act(obs_batch))
    resume = buffer.sample(agent.sample_size, rng)
    torch.manual_seed(2)
    m1 = agent.update(resume)
    torch.manual_seed(2)
    m2 = clone.update(resume)
    for k in m1:
        torch.testing.assert_close(m1[k], m2[k], msg=f"{name}: resumed metric {k} differs")
    np.testing.assert_allclose(agent.act(obs_batch), clone.act(obs_batch), rtol=1e-6, atol=1e-6)


def test_registry_presets():
    assert default_config("calql").calibrate and not default_config("cql").calibrate
    assert default_config("filtered_bc").top_fraction < 1.0 == default_config("bc").top_fraction
    with pytest.raises(Exception, match="unknown agent"):
        default_config("nope")
