"""The offline loop: runs any agent, checkpoints, resumes, refuses bad input clearly."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from robot_rl.agents import config_with
from robot_rl.errors import UserError
from robot_rl.training.checkpoint import load_agent
from robot_rl.training.evaluate import EvalConfig
from robot_rl.training.offline import PretrainConfig, pretrain

TINY = {"hidden_dims": [32, 32], "batch_size": 16}


def cfg_for(dataset, out, agent="iql", steps=20, **kw) -> PretrainConfig:
    return PretrainConfig(
        dataset=str(dataset),
        agent_name=agent,
        agent=config_with(agent, **TINY),
        steps=steps,
        out=str(out),
        log_every=5,
        checkpoint_every=10,
        eval=EvalConfig(every=0, episodes=0),
        progress=False,
        device="cpu",
        **kw,
    )


def steps_logged(run) -> list[int]:
    with open(run / "train.csv") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_pretrain_writes_checkpoint_that_rebuilds_the_agent(tiny_state_dataset, tmp_path):
    run = pretrain(cfg_for(tiny_state_dataset, tmp_path / "run"))
    agent, info = load_agent(run)
    assert info.agent == "iql" and info.step == 20 and info.obs_mode == "state"
    a = agent.act({"state": np.zeros(25, np.float32)})
    assert a.shape == (4,) and np.all(np.abs(a) <= 1)


def test_checkpoint_carries_the_datasets_observation_statistics(tiny_state_dataset, tmp_path):
    from robot_rl.data import Dataset

    ds = Dataset(tiny_state_dataset)
    states = np.concatenate([ds.load(i).obs["state"][:-1] for i in ds.episode_ids])
    agent, _ = load_agent(pretrain(cfg_for(tiny_state_dataset, tmp_path / "n")))
    np.testing.assert_allclose(agent.encoder.shift.numpy(), states.mean(0), rtol=1e-4, atol=1e-5)
    std = np.maximum(states.std(0), 1e-3)
    np.testing.assert_allclose(agent.encoder.scale.numpy(), std, rtol=1e-4, atol=1e-5)
    raw, _ = load_agent(pretrain(cfg_for(tiny_state_dataset, tmp_path / "r", normalize_obs=False)))
    assert np.all(raw.encoder.shift.numpy() == 0) and np.all(raw.encoder.scale.numpy() == 1)


def test_resume_continues_without_duplicate_steps(tiny_state_dataset, tmp_path):
    out = tmp_path / "run"
    pretrain(cfg_for(tiny_state_dataset, out, steps=20))
    pretrain(cfg_for(tiny_state_dataset, out, steps=40))  # a longer budget continues the run
    assert steps_logged(out) == [5, 10, 15, 20, 25, 30, 35, 40]
    _, info = load_agent(out)
    assert info.step == 40


def test_different_config_in_same_dir_is_refused(tiny_state_dataset, tmp_path):
    out = tmp_path / "run"
    pretrain(cfg_for(tiny_state_dataset, out))
    with pytest.raises(UserError, match="different config"):
        pretrain(cfg_for(tiny_state_dataset, out, agent="cql"))


@pytest.mark.parametrize("agent", ["bc", "filtered_bc", "cql", "calql"])
def test_every_offline_agent_trains(tiny_state_dataset, tmp_path, agent):
    run = pretrain(cfg_for(tiny_state_dataset, tmp_path / agent, agent=agent, steps=10))
    assert load_agent(run)[1].agent == agent


def test_missing_reward_column(tiny_state_dataset, tmp_path):
    with pytest.raises(UserError, match="reward column 'reward.nope' not found"):
        pretrain(cfg_for(tiny_state_dataset, tmp_path / "r", reward_key="reward.nope"))


def test_pixel_agent_on_state_dataset(tiny_state_dataset, tmp_path):
    with pytest.raises(UserError, match="pixel agent"):
        pretrain(cfg_for(tiny_state_dataset, tmp_path / "r", obs="pixels"))


def test_nan_rewards_name_the_file(tiny_state_dataset, tmp_path):
    path = sorted((tiny_state_dataset / "episodes").glob("*.npz"))[0]
    arrays = dict(np.load(path))
    arrays["reward.env"][0] = np.nan
    np.savez(path, **arrays)
    with pytest.raises(UserError, match=f"{path.name}.*NaN"):
        pretrain(cfg_for(tiny_state_dataset, tmp_path / "r"))


def test_empty_dataset(tiny_state_dataset, tmp_path):
    shutil.rmtree(tiny_state_dataset / "episodes")
    (tiny_state_dataset / "episodes").mkdir()
    with pytest.raises(UserError, match="no episodes|not found"):
        pretrain(cfg_for(tiny_state_dataset, tmp_path / "r"))


def test_checkpoint_of_another_agent_is_refused(tiny_state_dataset, tmp_path):
    run = pretrain(cfg_for(tiny_state_dataset, tmp_path / "run", agent="bc", steps=5))
    with pytest.raises(UserError, match="holds a 'bc' agent, not 'iql'"):
        load_agent(run, expect="iql")


def test_pixel_agent_trains_on_pixel_dataset(tiny_pixel_dataset, tmp_path):
    run = pretrain(cfg_for(tiny_pixel_dataset, tmp_path / "run", agent="iql", steps=4))
    _, info = load_agent(run)
    assert info.obs_mode == "pixels" and set(info.obs_spec) == {"pixels", "proprio"}


def test_end_at_first_success_cuts_and_terminates():
    from robot_rl.data import Episode
    from robot_rl.training.offline import end_at_first_success

    T = 5
    ep = Episode(
        obs={"state": np.arange(T + 1, dtype=np.float32)[:, None]},
        action=np.zeros((T, 4), np.float32),
        rewards={"reward.clf": np.array([0, 0, 1, 1, 0], np.float32)},
        terminated=np.zeros(T, bool),
        truncated=np.eye(T, dtype=bool)[-1],
        success=np.zeros(T, bool),
        info={},
    )
    cut = end_at_first_success(ep, "reward.clf")
    assert cut.length == 3 and cut.terminated.tolist() == [False, False, True]
    assert not cut.truncated.any() and cut.obs["state"][:, 0].tolist() == [0, 1, 2, 3]
    never = Episode(**{**ep.__dict__, "rewards": {"reward.clf": np.zeros(T, np.float32)}})
    assert end_at_first_success(never, "reward.clf") is never  # no success: unchanged
