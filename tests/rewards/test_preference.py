"""Preference model: recovers the ordering of a synthetic per-step reward; ensemble members are
independent; pixel members run; ties train towards equal returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robot_rl.errors import UserError
from robot_rl.rewards.metrics import spearman
from robot_rl.rewards.preference import (
    PreferenceConfig,
    PreferenceModel,
    ensemble_probabilities,
    train_preference,
)
from robot_rl.rewards.segments import SegmentPairs, Segments
from robot_rl.types import ArraySpec

SPEC = {"state": ArraySpec((4,), "float32")}


def true_reward(s: np.ndarray) -> np.ndarray:
    return s[..., 0] - 0.5 * s[..., 1]


def make_pairs(n: int, length: int, seed: int, ties: bool = False) -> SegmentPairs:
    rng = np.random.default_rng(seed)

    def segs() -> Segments:
        obs = rng.uniform(-1, 1, size=(n, length, 4)).astype(np.float32)
        act = rng.uniform(-1, 1, size=(n, length, 2)).astype(np.float32)
        return Segments({"state": obs}, act, np.ones((n, length), np.float32))

    a, b = segs(), segs()
    ra, rb = true_reward(a.obs["state"]).sum(1), true_reward(b.obs["state"]).sum(1)
    pref = (ra > rb).astype(np.float32)
    if ties:
        pref[:] = 0.5
    return SegmentPairs(a, b, pref)


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_recovers_reward_ordering() -> None:
    cfg = PreferenceConfig(
        segment_length=5, hidden_dims=(64, 64), steps=300, batch_size=32, lr=1e-3
    )
    model, metrics = train_preference(cfg, make_pairs(300, 5, 0), SPEC, action_dim=2, seed=0)
    assert metrics["train/loss_last"] < metrics["train/loss_first"]
    rng = np.random.default_rng(99)
    s = rng.uniform(-1, 1, size=(500, 4)).astype(np.float32)
    a = rng.uniform(-1, 1, size=(500, 2)).astype(np.float32)
    with torch.no_grad():
        r = model.reward({"state": torch.as_tensor(s)}, torch.as_tensor(a)).numpy()
    assert spearman(r, true_reward(s)) > 0.8
    assert metrics["holdout/accuracy"] > 0.75


def test_ties_pull_returns_together() -> None:
    cfg = PreferenceConfig(segment_length=3, hidden_dims=(32,), steps=100, batch_size=16, lr=1e-3)
    pairs = make_pairs(64, 3, 1, ties=True)
    model, metrics = train_preference(cfg, pairs, SPEC, 2, seed=0)
    p = ensemble_probabilities(model, pairs)
    assert metrics["train/loss_last"] <= metrics["train/loss_first"] + 1e-6
    assert np.abs(p - 0.5).mean() < 0.05


def test_members_are_independent() -> None:
    torch.manual_seed(0)
    model = PreferenceModel(SPEC, 2, PreferenceConfig(hidden_dims=(16,)))
    obs = {"state": torch.randn(8, 4)}
    r = model.all_members(obs, torch.randn(8, 2))  # [M, B]
    assert r.shape == (3, 8) and not torch.allclose(r[0], r[1])
    # a gradient through member 0 touches only member 0's slice of every layer
    r[0].sum().backward()
    for layer in model.layers:
        assert layer.weight.grad[1:].abs().sum() == 0 and layer.weight.grad[0].abs().sum() > 0


def test_pixel_members_run_and_mask_padding() -> None:
    spec = {"pixels": ArraySpec((64, 64, 3), "uint8")}
    cfg = PreferenceConfig(
        obs_keys=("pixels",),
        segment_length=2,
        ensemble_size=2,
        hidden_dims=(8,),
        channels=4,
        feature_dim=8,
        steps=2,
        batch_size=2,
    )
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(4, 2, 64, 64, 3)).astype(np.uint8)
    mask = np.ones((4, 2), np.float32)
    mask[:, 1] = 0  # second step is padding
    seg = Segments({"pixels": img}, np.zeros((4, 2, 2), np.float32), mask)
    pairs = SegmentPairs(seg, seg, np.array([1, 0, 0.5, 1], np.float32))
    model, _ = train_preference(cfg, pairs, spec, 2, seed=0)
    changed = Segments({"pixels": img.copy()}, seg.action, mask)
    changed.obs["pixels"][:, 1] = 0  # padding content must not matter
    p1 = ensemble_probabilities(model, SegmentPairs(seg, changed, pairs.preference))
    assert p1.shape == (2, 4) and np.allclose(p1, 0.5, atol=1e-5)


def test_bad_inputs() -> None:
    with pytest.raises(UserError, match="pixels"):
        PreferenceModel(SPEC, 2, PreferenceConfig(obs_keys=("pixels",)))
    empty = make_pairs(1, 2, 0).take(np.array([], dtype=int))
    with pytest.raises(UserError, match="no answered"):
        train_preference(PreferenceConfig(), empty, SPEC, 2)


class _OneEpisode:
    """An episode source of one episode (what load_segments reads)."""

    obs_spec, action_dim, name = SPEC, 2, "toy"

    def __init__(self, episode):
        self.episode = episode

    def __getitem__(self, i):
        return self.episode


def test_a_state_model_scores_the_state_each_step_reaches() -> None:
    """r(s') for r(s) models, everywhere a step is scored: segments, whole episodes and the
    scorer the online loop and relabelling call; PEBBLE's r(s, a) keeps (s, a)."""
    from types import SimpleNamespace

    from robot_rl.data.labels import Segment
    from robot_rl.rewards.kinds import REWARD_KINDS
    from robot_rl.rewards.preference import episode_rewards
    from robot_rl.rewards.segments import load_segments

    rng = np.random.default_rng(0)
    states = np.arange(6, dtype=np.float32)[:, None].repeat(4, 1)  # obs[t] = t, T = 5 steps
    ep = SimpleNamespace(obs={"state": states}, action=rng.normal(size=(5, 2)), length=5)
    ep.action = ep.action.astype(np.float32)
    seg, src = [Segment(0, 3, 2)], _OneEpisode(ep)
    assert load_segments(src, seg, ("state",), 2).obs["state"][0, :, 0].tolist() == [3, 4]
    reached = load_segments(src, seg, ("state",), 2, next_state=True).obs["state"][0, :, 0]
    assert reached.tolist() == [4, 5]  # the final state (a success's) is scored
    obs, nxt = {"state": torch.as_tensor(states[:-1])}, {"state": torch.as_tensor(states[1:])}
    act = torch.as_tensor(ep.action)
    for use_action in (False, True):
        model = PreferenceModel(SPEC, 2, PreferenceConfig(use_action=use_action, hidden_dims=(8,)))
        assert model.scores_next == (not use_action)
        with torch.no_grad():
            direct = model.reward(nxt if model.scores_next else obs, act).numpy()
            scored = REWARD_KINDS["preference"].scorer(model, "m").reward(obs, act, nxt).numpy()
        assert np.allclose(scored, direct)
        assert np.allclose(episode_rewards(model, [ep])[0], direct, atol=1e-6)


def test_uncertainty_penalty_lowers_the_reward_where_members_disagree() -> None:
    cfg = PreferenceConfig(hidden_dims=(8,), ensemble_size=3)
    plain = PreferenceModel(SPEC, 2, cfg)
    penalised = PreferenceModel(
        SPEC, 2, PreferenceConfig(**{**cfg.__dict__, "uncertainty_penalty": 2.0})
    )
    penalised.load_state_dict(plain.state_dict())
    obs, act = {"state": torch.randn(64, 4)}, torch.zeros(64, 2)
    with torch.no_grad():
        members = plain.all_members(obs, act)
        expected = members.mean(0) - 2.0 * members.std(0)
        assert torch.allclose(penalised.reward(obs, act), expected)
        assert torch.allclose(plain.reward(obs, act), members.mean(0))
    with pytest.raises(UserError, match="uncertainty_penalty"):
        PreferenceConfig(uncertainty_penalty=-1.0).validate()
