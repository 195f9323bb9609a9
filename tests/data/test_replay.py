from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tinydata import tiny_episode, tiny_meta

from robot_rl.data import Dataset, Episode, MixedSampler, ReplayBuffer, mc_returns
from robot_rl.errors import UserError
from robot_rl.types import ArraySpec

SPEC = {"state": ArraySpec((3,), "float32")}


def tagged_episode(ep_id: int, length: int, success: bool) -> Episode:
    """state = (episode id, frame index, 0): lets a test see which frame a sample came from."""
    frames = np.arange(length + 1, dtype=np.float32)
    state = np.stack([np.full_like(frames, ep_id), frames, np.zeros_like(frames)], axis=1)
    action = np.zeros((length, 2), np.float32)
    action[:, 0] = ep_id / 1000
    action[:, 1] = np.arange(length) / 1000
    succ = np.zeros(length, bool)
    succ[-1] = success
    trunc = np.zeros(length, bool)
    trunc[-1] = not success
    return Episode(
        obs={"state": state},
        action=action,
        rewards={"reward.env": succ.astype(np.float32)},
        terminated=succ.copy(),
        truncated=trunc,
        success=succ,
    )


def check_pairing(batch, lengths: dict[int, int]) -> None:
    obs, nxt = batch.obs["state"].numpy(), batch.next_obs["state"].numpy()
    np.testing.assert_array_equal(nxt[:, 0], obs[:, 0])  # never across episodes
    np.testing.assert_array_equal(nxt[:, 1], obs[:, 1] + 1)  # next frame of the same episode
    ep, t = obs[:, 0].astype(int), obs[:, 1].astype(int)
    assert all(t[i] < lengths[ep[i]] for i in range(len(t)))  # the final frame starts nothing
    np.testing.assert_allclose(batch.action.numpy(), np.stack([ep, t], 1) / 1000, rtol=1e-6)
    last = np.array([t[i] == lengths[ep[i]] - 1 for i in range(len(t))])
    success = np.array([ep[i] % 2 == 0 for i in range(len(t))])
    np.testing.assert_array_equal(batch.terminated.numpy(), (last & success).astype(np.float32))
    np.testing.assert_array_equal(batch.reward.numpy(), (last & success).astype(np.float32))


def test_next_obs_pairs_within_episode_and_covers_all() -> None:
    buf = ReplayBuffer(SPEC, 2, capacity=1000, gamma=0.9)
    lengths = {i: 3 + i for i in range(8)}
    for i, n in lengths.items():
        buf.add_episode(tagged_episode(i, n, success=i % 2 == 0))
    assert len(buf) == sum(lengths.values())
    rng = np.random.default_rng(0)
    batch = buf.sample(4000, rng)
    assert batch.obs["state"].dtype == torch.float32 and batch.action.shape == (4000, 2)
    check_pairing(batch, lengths)
    seen = {(int(e), int(t)) for e, t in batch.obs["state"].numpy()[:, :2]}
    assert seen == {(e, t) for e, n in lengths.items() for t in range(n)}


def test_ring_evicts_whole_oldest_episodes() -> None:
    buf = ReplayBuffer(SPEC, 2, capacity=40)
    lengths: dict[int, int] = {}
    rng = np.random.default_rng(1)
    for i in range(30):
        lengths[i] = int(rng.integers(2, 12))
        buf.add_episode(tagged_episode(i, lengths[i], success=i % 2 == 0))
        assert len(buf) <= 40 - buf.num_episodes
        batch = buf.sample(512, rng)
        check_pairing(batch, lengths)
        present = set(batch.obs["state"].numpy()[:, 0].astype(int))
        assert i in present and max(present) == i
    assert min(present) > 20  # the oldest episodes are gone
    with pytest.raises(ValueError, match="does not fit"):
        buf.add_episode(tagged_episode(99, 40, True))


def test_pixels_stay_uint8_and_pair(tiny_pixel_dataset: Path) -> None:
    ds = Dataset(tiny_pixel_dataset)
    buf = ReplayBuffer.from_dataset(ds)
    assert len(buf) == sum(e.length for e in ds)
    assert buf._obs["pixels"].shape[0] == sum(e.length + 1 for e in ds)  # frames stored once
    batch = buf.sample(64, np.random.default_rng(0))
    assert batch.obs["pixels"].dtype == torch.uint8 and batch.obs["pixels"].shape == (64, 64, 64, 3)
    # Locate each sampled proprio frame in the dataset and check the next frame's pixels.
    eps = list(ds)
    for i in range(64):
        p = batch.obs["proprio"][i].numpy()
        hits = [
            (e, t) for e in eps for t in range(e.length) if np.array_equal(e.obs["proprio"][t], p)
        ]
        assert len(hits) == 1
        e, t = hits[0]
        np.testing.assert_array_equal(batch.next_obs["pixels"][i].numpy(), e.obs["pixels"][t + 1])
        np.testing.assert_array_equal(batch.action[i].numpy(), e.action[t])


def test_reward_scale_and_mc_returns() -> None:
    buf = ReplayBuffer(
        SPEC, 2, 100, gamma=0.9, reward_scale=10.0, reward_bias=-5.0, fail_reward=0.0
    )
    buf.add_episode(tagged_episode(0, 3, success=True))
    buf.add_episode(tagged_episode(1, 3, success=False))
    batch = buf.sample(500, np.random.default_rng(0))
    ep, t = batch.obs["state"][:, 0].numpy(), batch.obs["state"][:, 1].numpy()
    expected_r = np.where((ep == 0) & (t == 2), 5.0, -5.0)
    np.testing.assert_allclose(batch.reward.numpy(), expected_r)
    # success episode: rewards (-5, -5, 5), terminated: G = (-5 - 4.5 + 4.05, -5 + 4.5, 5)
    g_success = np.array([-5.45, -0.5, 5.0])
    expected_g = np.where(ep == 0, g_success[t.astype(int)], -5.0 / (1 - 0.9))  # fail forever
    np.testing.assert_allclose(batch.mc_return.numpy(), expected_g, rtol=1e-5)


def test_relabel_replaces_rewards_and_returns() -> None:
    buf = ReplayBuffer(SPEC, 2, 100, gamma=0.5, reward_scale=2.0)
    buf.add_episode(tagged_episode(0, 3, success=True))
    buf.add_episode(tagged_episode(1, 4, success=False))
    calls = []

    def reward_fn(obs, action, next_obs):
        calls.append(len(action))
        return next_obs["state"][:, 1]  # reward = index of the next frame

    buf.relabel(reward_fn, batch_size=3)
    assert calls == [3, 3, 1]
    batch = buf.sample(300, np.random.default_rng(0))
    t = batch.obs["state"][:, 1].numpy()
    np.testing.assert_allclose(batch.reward.numpy(), 2.0 * (t + 1))
    for e, n in ((0, 3), (1, 4)):
        r = 2.0 * np.arange(1, n + 1, dtype=np.float32)
        term, trunc = np.zeros(n, bool), np.zeros(n, bool)
        (term if e == 0 else trunc)[-1] = True
        g = mc_returns(r, term, trunc, 0.5)
        m = batch.obs["state"][:, 0].numpy() == e
        np.testing.assert_allclose(batch.mc_return.numpy()[m], g[t[m].astype(int)])


def test_state_dict_round_trip(tmp_path: Path) -> None:
    buf = ReplayBuffer(SPEC, 2, 50, gamma=0.9)
    for i in range(12):  # wraps the ring
        buf.add_episode(tagged_episode(i, 3 + i % 4, success=i % 2 == 0))
    np.savez(tmp_path / "buf.npz", **buf.state_dict())
    with np.load(tmp_path / "buf.npz") as z:
        state = {k: z[k] for k in z.files}
    other = ReplayBuffer(SPEC, 2, 50, gamma=0.9)
    other.load_state_dict(state)
    assert len(other) == len(buf) and other.num_episodes == buf.num_episodes
    a, b = buf.sample(256, np.random.default_rng(3)), other.sample(256, np.random.default_rng(3))
    for name in ("action", "reward", "terminated", "mc_return"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert torch.equal(a.next_obs["state"], b.next_obs["state"])
    # Both keep evolving identically after more episodes.
    buf.add_episode(tagged_episode(50, 5, True))
    other.add_episode(tagged_episode(50, 5, True))
    a, b = buf.sample(256, np.random.default_rng(4)), other.sample(256, np.random.default_rng(4))
    assert torch.equal(a.obs["state"], b.obs["state"])
    with pytest.raises(UserError, match="capacity"):
        ReplayBuffer(SPEC, 2, 60, gamma=0.9).load_state_dict(state)
    with pytest.raises(UserError, match="gamma"):
        ReplayBuffer(SPEC, 2, 50, gamma=0.99).load_state_dict(state)


@pytest.mark.parametrize("ratio,batch_size", [(0.5, 256), (0.25, 256), (0.5, 7), (1.0, 10)])
def test_mixed_sampler_exact_split(ratio: float, batch_size: int) -> None:
    off, on = ReplayBuffer(SPEC, 2, 200), ReplayBuffer(SPEC, 2, 200)
    for i in range(5):
        off.add_episode(tagged_episode(i, 10, True))
        on.add_episode(tagged_episode(100 + i, 10, False))
    sampler = MixedSampler(off, on, offline_ratio=ratio)
    rng = np.random.default_rng(0)
    for _ in range(5):
        b = sampler.sample(batch_size, rng)
        from_offline = b.obs["state"][:, 0].numpy() < 100
        n_off = int(round(ratio * batch_size))
        assert from_offline.sum() == n_off and len(b) == batch_size
        np.testing.assert_array_equal(b.extras["offline"].numpy(), from_offline.astype(np.float32))
        np.testing.assert_array_equal(b.next_obs["state"][:, 0].numpy(), b.obs["state"][:, 0])


@pytest.mark.parametrize("ratio,utd", [(0.5, 2), (0.5, 20), (0.25, 4)])
def test_every_minibatch_of_a_utd_block_gets_the_offline_ratio(ratio: float, utd: int) -> None:
    """SAC cuts one sampled batch into utd consecutive minibatches: each must be mixed, not
    some all offline and the last (the actor's) all online."""
    off, on = ReplayBuffer(SPEC, 2, 200), ReplayBuffer(SPEC, 2, 200)
    for i in range(5):
        off.add_episode(tagged_episode(i, 10, True))
        on.add_episode(tagged_episode(100 + i, 10, False))
    b = MixedSampler(off, on, ratio).sample(64 * utd, np.random.default_rng(0))
    per_minibatch = (b.obs["state"][:, 0].numpy() < 100).reshape(utd, 64).sum(1)
    assert set(per_minibatch) <= {int(np.floor(64 * ratio)), int(np.ceil(64 * ratio))}


def test_spread_evenly_places_exactly_k_rows() -> None:
    from robot_rl.data.replay import spread_evenly

    np.testing.assert_array_equal(spread_evenly(2, 4), [False, True, False, True])
    np.testing.assert_array_equal(spread_evenly(0, 3), [False, False, False])
    np.testing.assert_array_equal(spread_evenly(3, 3), [True, True, True])
    assert spread_evenly(77, 256).sum() == 77


def test_mixed_sampler_all_offline_while_online_empty() -> None:
    off, on = ReplayBuffer(SPEC, 2, 200), ReplayBuffer(SPEC, 2, 200)
    off.add_episode(tagged_episode(0, 10, True))
    b = MixedSampler(off, on, 0.5).sample(64, np.random.default_rng(0))
    assert len(b) == 64 and b.extras["offline"].sum().item() == 64
    with pytest.raises(UserError, match="observation specs"):
        MixedSampler(off, ReplayBuffer({"state": ArraySpec((4,), "float32")}, 2, 10))


def test_from_dataset_options(tiny_pixel_dataset: Path) -> None:
    ds = Dataset(tiny_pixel_dataset)
    buf = ReplayBuffer.from_dataset(ds, obs_keys=["proprio"], gamma=0.8)
    b = buf.sample(8, np.random.default_rng(0))
    assert set(b.obs) == {"proprio"} and b.mc_return is not None
    with pytest.raises(UserError, match="reward.nope"):
        ReplayBuffer.from_dataset(ds, reward_key="reward.nope")
    with pytest.raises(UserError, match="obs_spec.depth"):
        ReplayBuffer.from_dataset(ds, obs_keys=["depth"])
    with pytest.raises(UserError, match="obs key 'pixels'"):
        ReplayBuffer(tiny_meta("pixels").obs_spec, 4, 100).add_episode(
            tiny_episode("state", np.random.default_rng(0), True, 5)
        )


def test_relabel_moves_the_episode_ends_of_a_reward_that_ends_them() -> None:
    """A goal classifier ended episode 0 at its last step (3); the updated one fires at step 1
    only: step 1 becomes terminal, step 3 a truncation (bootstrapped), so nothing after a
    success is learned from and the old end is no dead end."""
    buf = ReplayBuffer(SPEC, 2, 100, gamma=0.5)
    buf.add_episode(tagged_episode(0, 4, success=True))

    def fires_at_1(obs, action, next_obs):
        return (next_obs["state"][:, 1] == 2).float()  # the frame after step 1

    def reward_and_done(obs, action, next_obs):
        r = fires_at_1(obs, action, next_obs)
        return r, r > 0.5

    buf.relabel(reward_and_done, moves_ends=True)
    idx = buf._indices()
    np.testing.assert_array_equal(buf._reward[idx], [0, 1, 0, 0])
    np.testing.assert_array_equal(buf._terminated[idx], [False, True, False, False])
    np.testing.assert_array_equal(buf._truncated[idx], [False, False, False, True])
    buf.relabel(fires_at_1)  # without moves_ends the flags stay
    np.testing.assert_array_equal(buf._terminated[idx], [False, True, False, False])
