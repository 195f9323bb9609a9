"""The online loop on a real task: every method runs, checkpoints carry the replay buffer and
resume, learned rewards plug in (with policy-visited negatives), bad settings fail early."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from robot_rl.agents import config_with
from robot_rl.errors import UserError
from robot_rl.training.checkpoint import load_agent, load_loop_state
from robot_rl.training.evaluate import EvalConfig
from robot_rl.training.logger import read_csv
from robot_rl.training.offline import PretrainConfig, pretrain
from robot_rl.training.online import ClassifierUpdateConfig, FinetuneConfig, finetune

TINY = {"hidden_dims": [32, 32], "batch_size": 16}


@pytest.fixture(scope="module")
def push_data(tmp_path_factory):
    from robot_rl.envs.collect import collect

    out = tmp_path_factory.mktemp("data") / "push"
    collect(
        "push",
        out,
        episodes=6,
        mixture="expert:0.5+play:0.5",
        obs="both",
        image_size=32,
        workers=1,
        progress=False,
    )
    return out


@pytest.fixture(scope="module")
def calql_ckpt(push_data, tmp_path_factory):
    cfg = PretrainConfig(
        dataset=str(push_data),
        agent_name="calql",
        agent=config_with("calql", layer_norm=True, **TINY),
        obs="state",
        steps=10,
        out=str(tmp_path_factory.mktemp("pre") / "calql"),
        eval=EvalConfig(every=0, episodes=0),
        progress=False,
        device="cpu",
    )
    return pretrain(cfg)


def ft(out, method="sac", agent="sac", **kw) -> FinetuneConfig:
    agent_kw = kw.pop("agent_kw", {})
    base = dict(
        method=method,
        agent_name=agent,
        agent=config_with(agent, **TINY, **agent_kw),
        task="push",
        obs="state",
        offline_ratio=0.0,
        env_steps=60,
        log_every=20,
        checkpoint_every=30,
        eval=EvalConfig(every=30, episodes=1, video=False),
        out=str(out),
        progress=False,
        device="cpu",
    )
    return FinetuneConfig(**{**base, **kw})


def test_sac_from_scratch_logs_and_checkpoints_the_buffer(tmp_path):
    run = finetune(ft(tmp_path / "sac", random_steps=20))
    assert read_csv(run / "eval.csv")["step"] == [0, 30, 60]
    state = load_loop_state(run / "checkpoint")
    assert state["step"] == 60 and state["online"]["valid"].sum() > 0
    assert (run / "learning_curve.png").exists() and (run / "episodes" / "meta.json").exists()


def test_resume_restores_the_replay_buffer(tmp_path):
    cfg = ft(tmp_path / "r", random_steps=10)
    finetune(cfg)
    before = load_loop_state(tmp_path / "r" / "checkpoint")["online"]["valid"].sum()
    finetune(dataclasses.replace(cfg, env_steps=120))  # a new episode starts at 60, ends at 110
    state = load_loop_state(tmp_path / "r" / "checkpoint")
    assert state["step"] == 120 and state["online"]["valid"].sum() > before
    assert read_csv(tmp_path / "r" / "train.csv")["step"] == [20, 40, 60, 80, 100, 120]


def _spy_updates(monkeypatch, agent_cls) -> list[tuple[Any, Any]]:
    """Record (agent, batch) of every ``agent_cls.update`` call, before the update runs."""
    calls: list[tuple[Any, Any]] = []
    original = agent_cls.update

    def update(self, batch):
        calls.append((self, batch))
        return original(self, batch)

    monkeypatch.setattr(agent_cls, "update", update)
    return calls


def test_rlpd_samples_offline_data(push_data, tmp_path, monkeypatch):
    from robot_rl.agents.sac import SAC

    calls = _spy_updates(monkeypatch, SAC)
    run = finetune(
        ft(
            tmp_path / "rlpd",
            method="rlpd",
            dataset=str(push_data),
            offline_ratio=0.5,
            agent_kw={"num_qs": 4, "num_min_qs": 2, "critic_layer_norm": True, "utd_ratio": 2},
        )
    )
    assert load_agent(run)[1].step == 60
    assert len(calls) == 60  # an update every env step: offline data is there from the start
    shares = [float(batch.extras["offline"].mean()) for _, batch in calls]
    # All offline until the first online episode ends, then exactly half of every batch.
    assert shares[0] == 1.0 and 0.5 in shares and set(shares) <= {0.5, 1.0}
    assert shares == sorted(shares, reverse=True)  # once online data exists, it stays mixed


def _actor_and_normaliser(agent) -> dict[str, torch.Tensor]:
    state = {f"actor.{k}": v for k, v in agent.actor.state_dict().items()}
    return {**state, "shift": agent.encoder.shift, "scale": agent.encoder.scale}


def test_wsrl_initialises_from_calql_and_warms_up(calql_ckpt, tmp_path, monkeypatch):
    from robot_rl.agents.sac import SAC

    calls = _spy_updates(monkeypatch, SAC)
    acts_before_update: list[int] = []
    original_act = SAC.act

    def act(self, obs, deterministic=True):
        if not calls and not deterministic:  # a rollout step (evaluation acts deterministically)
            acts_before_update.append(1)
        return original_act(self, obs, deterministic)

    monkeypatch.setattr(SAC, "act", act)
    first_actor: dict[str, torch.Tensor] = {}
    original_update = SAC.update

    def snapshot_then_update(self, batch):
        if not first_actor:
            first_actor.update({k: v.clone() for k, v in _actor_and_normaliser(self).items()})
        return original_update(self, batch)

    monkeypatch.setattr(SAC, "update", snapshot_then_update)
    run = finetune(
        ft(
            tmp_path / "wsrl",
            method="wsrl",
            init=str(calql_ckpt),
            # Longer than push's 50-step episode, so the warm-up, not the first episode's end
            # (the online buffer's first data), is what holds the updates back.
            warmup_steps=55,
            agent_kw={"num_qs": 4, "critic_layer_norm": True, "utd_ratio": 2},
        )
    )
    assert load_agent(run)[1].agent == "sac"
    # Warm-up: exactly 55 env steps with the frozen policy, then updates on every step.
    assert len(acts_before_update) == 55 and len(calls) == 60 - 55 + 1
    # At the first update the actor (and its input normalisation) is still Cal-QL's, exactly.
    calql = _actor_and_normaliser(load_agent(calql_ckpt)[0])
    assert first_actor.keys() == calql.keys()
    for k, v in calql.items():
        assert torch.equal(first_actor[k], v), k
    # ... and fine-tuning did change it afterwards.
    final = _actor_and_normaliser(load_agent(run)[0])
    assert any(not torch.equal(final[k], v) for k, v in calql.items())


def test_calql_baseline_keeps_its_losses(calql_ckpt, push_data, tmp_path, monkeypatch):
    from robot_rl.agents.cql import CQL

    calls = _spy_updates(monkeypatch, CQL)
    run = finetune(
        ft(
            tmp_path / "cq",
            method="calql",
            agent="calql",
            init=str(calql_ckpt),
            dataset=str(push_data),
            offline_ratio=0.5,  # the preset's calql config has no LayerNorm; the checkpoint does
        )
    )
    agent, info = load_agent(run)
    assert info.agent == "calql" and info.agent_config.layer_norm  # the checkpoint's architecture
    cfg = info.agent_config
    assert cfg.calibrate and not cfg.lagrange
    # Every batch carries Monte-Carlo returns, the Cal-QL lower bound's input.
    assert calls and all(batch.mc_return is not None for _, batch in calls)
    # train.csv logs the CQL losses, and the critic loss is TD + alpha * the CQL gap of each
    # critic (the mean gap times num_qs): the conservative term is in the objective.
    train = read_csv(run / "train.csv")
    td, gap, total = (np.array(train[k]) for k in ("critic/td_loss", "cql/gap", "critic/loss"))
    assert len(total) == 3 and np.isfinite(total).all()
    np.testing.assert_allclose(total, td + cfg.cql_alpha * cfg.num_qs * gap, rtol=1e-4)
    np.testing.assert_allclose(train["cql/alpha"], cfg.cql_alpha)


def test_learned_classifier_reward_with_visited_negatives(push_data, tmp_path):
    from robot_rl.rewards.classifier import ClassifierConfig
    from robot_rl.rewards.train import synthetic_goal_labels, train_reward

    synthetic_goal_labels(push_data, n_pos=10, n_neg=30)
    ckpt = tmp_path / "clf"
    train_reward(
        "classifier", push_data, ckpt, ClassifierConfig(steps=5, channels=8), seed=0, progress=False
    )
    run = finetune(
        ft(
            tmp_path / "vice",
            reward=str(ckpt),
            random_steps=20,
            classifier=ClassifierUpdateConfig(every=30, steps=2, max_queries=2),
        )
    )
    cols = read_csv(run / "train.csv")
    assert "classifier/loss" in cols and np.nanmax(cols["classifier/queries"]) >= 1
    from robot_rl.data import Dataset

    assert "reward.clf" in Dataset(run / "episodes").reward_keys  # learned column stored


def test_pebble_queries_retrains_and_relabels_online(push_data, tmp_path):
    """PEBBLE: every K env steps the teacher answers pairs from the policy's own episodes, the
    ensemble retrains on all answers so far, and the replay buffer is relabelled; a resumed run
    continues with the same pairs and budget."""
    import torch

    from robot_rl.rewards.pebble import PreferenceUpdateConfig
    from robot_rl.rewards.preference import PreferenceConfig
    from robot_rl.rewards.train import synthetic_preferences, train_reward

    pcfg = PreferenceConfig(obs_keys=("state",), segment_length=10, steps=5, hidden_dims=(16,))
    synthetic_preferences(push_data, n_queries=12, cfg=pcfg)
    ckpt = tmp_path / "pref"
    train_reward("preference", push_data, ckpt, pcfg, seed=0, progress=False)
    before = {k: v.clone() for k, v in torch.load(ckpt / "model.pt").items()}
    cfg = ft(
        tmp_path / "pebble",
        reward=str(ckpt),
        random_steps=20,
        env_steps=110,  # episodes end every 50 steps: rounds at 50 (4 queries) and 75 (2)
        preference=PreferenceUpdateConfig(every=25, queries_per_update=4, max_queries=6, steps=3),
    )
    run = finetune(cfg)
    cols = read_csv(run / "train.csv")
    assert np.nanmax(cols["preference/queries"]) == 6  # 4, then the 2 left of the budget
    state = load_loop_state(run / "checkpoint")["reward"]
    # Retraining keeps the 12 pairs the model learned from offline beside the 6 new answers.
    assert len(state["updater"]["pairs"]["preference"]) == 12 + 6
    assert state["updater"]["rounds"] == 2
    after = state["updater"]["model"]
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the model learned
    from robot_rl.data import Dataset

    eps = Dataset(run / "episodes")
    assert "reward.dense" in eps.reward_keys and "reward.pref" in eps.reward_keys
    finetune(dataclasses.replace(cfg, env_steps=140))  # resume: budget already spent, no crash
    assert load_loop_state(run / "checkpoint")["reward"]["updater"]["used"] == 6
    # Without the pairs it learned from, online retraining would forget them: refused.
    labels = push_data / "labels" / "preferences.json"
    labels.rename(labels.with_name("moved.json"))  # the module's dataset: put back below
    try:
        with pytest.raises(UserError, match=r"preferences.json: not found; preference.every"):
            finetune(dataclasses.replace(cfg, out=str(tmp_path / "again")))
    finally:
        labels.with_name("moved.json").rename(labels)


def test_pebble_needs_a_preference_model(tmp_path):
    from robot_rl.rewards.pebble import PreferenceUpdateConfig

    with pytest.raises(UserError, match="reward=<preference model"):
        finetune(ft(tmp_path / "p", preference=PreferenceUpdateConfig(every=10)))
    with pytest.raises(UserError, match="preference.method"):
        finetune(
            ft(
                tmp_path / "p",
                reward="x",
                preference=PreferenceUpdateConfig(every=10, method="best"),
            )
        )


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"method": "wsrl", "warmup_steps": 10}, "init=CHECKPOINT"),
        ({"method": "rlpd", "offline_ratio": 0.5}, "dataset=DIR"),
        ({"agent_kw": {"utd_ratio": 0}}, "utd_ratio=0"),
        ({"env_steps": 0}, "env_steps=0"),
    ],
)
def test_bad_settings_fail_before_work(tmp_path, kw, match):
    with pytest.raises(UserError, match=match):
        finetune(ft(tmp_path / "bad", **kw))
    assert not (tmp_path / "bad").exists()


def test_checkpoint_for_another_task_is_refused(calql_ckpt, tmp_path):
    with pytest.raises(UserError, match="observation spec"):
        finetune(
            ft(
                tmp_path / "x",
                task="reach",
                init=str(calql_ckpt),
                agent="calql",
                agent_kw={"layer_norm": True},
            )
        )
