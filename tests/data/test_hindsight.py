"""HER relabelling in the replay buffer: new goals come from later in the same episode, and the
reward and termination follow the task's success rule."""

from __future__ import annotations

import numpy as np

from robot_rl.data import Episode, ReplayBuffer
from robot_rl.data.hindsight import Hindsight, future_frames
from robot_rl.envs.tasks import get_task_info
from robot_rl.types import ArraySpec, GoalSpec

# state = (episode id, frame index, achieved x, goal x): a 1-D "position" task
SPEC = {"state": ArraySpec((4,), "float32")}
RULE = GoalSpec(achieved=(2, 3), goal=(3, 4), threshold=0.5, dims=1)


def line_episode(ep_id: int, length: int) -> Episode:
    """The achieved position walks 0, 1, 2, ... ; the goal is far away (never reached)."""
    frames = np.arange(length + 1, dtype=np.float32)
    state = np.stack(
        [np.full_like(frames, ep_id), frames, frames, np.full_like(frames, 100.0)], axis=1
    )
    zeros = np.zeros(length, bool)
    truncated = zeros.copy()
    truncated[-1] = True
    return Episode(
        obs={"state": state},
        action=np.zeros((length, 2), np.float32),
        rewards={"reward.env": np.zeros(length, np.float32)},
        terminated=zeros.copy(),
        truncated=truncated,
        success=zeros.copy(),
    )


def test_future_frames_stay_after_the_transition_within_its_episode() -> None:
    rng = np.random.default_rng(0)
    idx = np.array([0, 3, 4, 9] * 500)
    end = np.array([5, 5, 5, 10] * 500)
    later = future_frames(idx, end, rng)
    assert np.all(later > idx) and np.all(later <= end)
    assert set(later[idx == 3]) == {4, 5}  # both later frames are drawn
    assert set(later[idx == 4]) == {5} and set(later[idx == 9]) == {10}


def test_relabelled_goals_are_achieved_later_and_rewarded_by_the_rule() -> None:
    buf = ReplayBuffer(SPEC, 2, capacity=200, reward_scale=2.0, reward_bias=-1.0)
    for i in range(4):
        buf.add_episode(line_episode(i, 6 + i))
    buf.hindsight = Hindsight(RULE, ratio=1.0)
    batch = buf.sample(3000, np.random.default_rng(1))
    obs, nxt = batch.obs["state"].numpy(), batch.next_obs["state"].numpy()
    ep, t, goal = obs[:, 0].astype(int), obs[:, 1], obs[:, 3]
    np.testing.assert_array_equal(nxt[:, 3], goal)  # one goal for obs and next obs
    assert np.all(goal >= t + 1) and np.all(goal <= 6 + ep)  # a later frame, same episode
    reached = goal == t + 1  # the next frame achieved exactly this goal
    assert 0 < reached.mean() < 1
    # raw reward 1 on success, 0 otherwise, stored as 2 r - 1; success ends the episode
    np.testing.assert_array_equal(batch.reward.numpy(), np.where(reached, 1.0, -1.0))
    np.testing.assert_array_equal(batch.terminated.numpy(), reached.astype(np.float32))


def test_hindsight_ratio_zero_or_unset_leaves_the_batch_alone() -> None:
    buf = ReplayBuffer(SPEC, 2, capacity=200)
    for i in range(3):
        buf.add_episode(line_episode(i, 5))
    plain = buf.sample(500, np.random.default_rng(2))
    buf.hindsight = Hindsight(RULE, ratio=0.0)
    same = buf.sample(500, np.random.default_rng(2))
    np.testing.assert_array_equal(plain.obs["state"].numpy(), same.obs["state"].numpy())
    assert np.all(plain.obs["state"].numpy()[:, 3] == 100.0)
    buf.hindsight = Hindsight(RULE, ratio=0.5)
    half = buf.sample(4000, np.random.default_rng(3)).obs["state"].numpy()
    assert 0.45 < np.mean(half[:, 3] != 100.0) < 0.55


def test_task_goal_specs_match_the_state_layout() -> None:
    push = get_task_info("push").goal_spec()
    assert push is not None and push.goal == (25, 28) and push.achieved == (3, 6)
    zone = get_task_info("zone").goal_spec()
    assert zone is not None and zone.dims == 2 and zone.threshold == 0.06
    reach = get_task_info("reach").goal_spec()
    assert reach is not None and reach.goal == (10, 13) and reach.achieved == (0, 3)
    assert get_task_info("drawer").goal_spec() is None
