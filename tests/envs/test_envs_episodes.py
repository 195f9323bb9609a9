"""Success, termination and truncation; scripted experts beat random and play policies."""

from __future__ import annotations

import numpy as np
import pytest
from envs_helpers import cached_env, run_episode

from robot_rl.envs import get_task_info, list_tasks, make_scripted_policy
from robot_rl.errors import UserError


@pytest.mark.parametrize("task", ["push", "pick_and_place", "drawer", "zone"])
def test_expert_success_terminates_within_the_time_limit(task: str) -> None:
    env = cached_env(task)
    limit = get_task_info(task).max_episode_steps
    for seed in range(3):
        r = run_episode(env, make_scripted_policy(task, seed=seed), seed)
        assert r["success_at_end"] and r["terminated"] and not r["truncated"], (task, seed, r)
        assert r["steps"] < limit


def test_without_terminate_on_success_episodes_only_truncate() -> None:
    env = cached_env("push", terminate_on_success=False)
    r = run_episode(env, make_scripted_policy("push"), seed=0)
    assert r["success"] and not r["terminated"] and r["truncated"]
    assert r["steps"] == get_task_info("push").max_episode_steps


@pytest.mark.parametrize("limit", [7, 20])
def test_truncation_at_max_episode_steps(limit: int) -> None:
    env = cached_env("reach", max_episode_steps=limit)
    r = run_episode(env, make_scripted_policy("reach", "random"), seed=0)
    assert r["truncated"] and not r["terminated"] and r["steps"] == limit


def test_info_reports_success_and_dense_reward() -> None:
    env = cached_env("push")
    _, info = env.reset(seed=0)
    assert info["success"] is False and info["dense_reward"] < 0
    pi = make_scripted_policy("push")
    pi.reset(env)
    dense = [info["dense_reward"]]
    done = False
    while not done:
        _, reward, term, trunc, info = env.step(pi.act(env))
        dense.append(info["dense_reward"])
        done = term or trunc
    assert reward == 1.0 and info["success"]
    assert dense[-1] > dense[0]  # the expert makes progress on the dense signal


# -- experts: success by direction, not by luck ---------------------------------------------
EXPERT_TASKS = [t for t in list_tasks() if t != "slide"]


def _success_rate(task: str, kind: str, seeds: range, noise: float = 0.0) -> float:
    env = cached_env(task)
    wins = [
        run_episode(env, make_scripted_policy(task, kind, noise, seed=s), s)["success"]
        for s in seeds
    ]
    return float(np.mean(wins))


@pytest.mark.parametrize("task", EXPERT_TASKS)
def test_noiseless_expert_succeeds(task: str) -> None:
    assert _success_rate(task, "expert", range(100, 105)) >= 0.8


def test_slide_expert_succeeds_mostly() -> None:
    assert _success_rate("slide", "expert", range(100, 105)) >= 0.6


@pytest.mark.parametrize("task", ["push", "pick_and_place", "drawer"])
def test_random_policy_is_worse_than_the_expert(task: str) -> None:
    seeds = range(200, 205)
    assert _success_rate(task, "random", seeds) < _success_rate(task, "expert", seeds)


def test_noisy_expert_actions_differ_and_stay_in_bounds() -> None:
    env = cached_env("push")
    env.reset(seed=0)
    clean, noisy = make_scripted_policy("push"), make_scripted_policy("push", "noisy", 0.5)
    clean.reset(env)
    noisy.reset(env)
    a, b = clean.act(env), noisy.act(env)
    assert a.shape == b.shape == (4,) and a.dtype == np.float32
    assert np.all(np.abs(b) <= 1.0) and not np.allclose(a[:3], b[:3])
    assert a[3] == b[3]  # noise on xyz only unless gripper_noise is set


def test_play_policy_moves_around() -> None:
    env = cached_env("pick_and_place")
    env.reset(seed=0)
    pi = make_scripted_policy("pick_and_place", "play", seed=0)
    pi.reset(env)
    grips = []
    for _ in range(40):
        env.step(pi.act(env))
        grips.append(env.unwrapped.task_state()["grip"])
    assert np.ptp(np.array(grips), axis=0).max() > 0.05


def test_bad_policy_arguments_are_user_errors() -> None:
    with pytest.raises(UserError, match="kind"):
        make_scripted_policy("push", "teleop")
    with pytest.raises(UserError, match="noise"):
        make_scripted_policy("push", "noisy", noise=-0.1)
    with pytest.raises(UserError, match="unknown task"):
        make_scripted_policy("pusj")
