"""Dataset collection: mixture parsing, deterministic assignment, resuming, parallel workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.data import Dataset, check_dataset
from robot_rl.envs.collect import Component, assign, collect, collect_episode, parse_mixture
from robot_rl.errors import UserError


def test_mixture_fractions_are_normalised() -> None:
    comps = parse_mixture("expert:3+noisy0.3:1,play:0+random:4")
    assert [c.kind for c in comps] == ["expert", "noisy", "play", "random"]
    assert [c.fraction for c in comps] == pytest.approx([0.375, 0.125, 0.0, 0.5])
    assert comps[1].noise == pytest.approx(0.3) and comps[1].label == "noisy0.3"
    assert parse_mixture("noisy:1")[0].noise > 0  # bare "noisy" has a default level
    ck = parse_mixture("checkpoint:runs/a:1")[0]
    assert ck.kind == "checkpoint" and ck.checkpoint == "runs/a"


def test_mixture_as_tuples_matches_the_string_form() -> None:
    tuples = parse_mixture([("expert", 0.0, 0.3), ("noisy", 0.3, 0.4), ("play", 0.0, 0.3)])
    assert tuples == parse_mixture("expert:0.3,noisy0.3:0.4,play:0.3")
    assert parse_mixture([("expert", 0.1, 1.0)])[0].label == "noisy0.1"  # noise makes it noisy
    with pytest.raises(UserError, match="kind, noise, fraction"):
        parse_mixture([("expert", 1.0)])


@pytest.mark.parametrize(
    "spec, bad",
    [
        ("expert:0.5+walk:0.5", "'walk'"),
        ("expert:0.5+noisy0.2:x", "'x'"),
        ("expert", "'expert'"),
        ("expert:-1+play:2", "'expert'"),
        ("expert:0", "positive"),
        ("", "positive"),
    ],
)
def test_mixture_errors_name_the_bad_part(spec: str, bad: str) -> None:
    with pytest.raises(UserError, match=bad):
        parse_mixture(spec)


def test_assignment_is_deterministic_and_matches_fractions() -> None:
    comps = [Component("expert", 0, 0.5), Component("noisy", 0.2, 0.3), Component("play", 0, 0.2)]
    plan = assign(comps, 10)
    assert plan == assign(comps, 10)
    assert np.bincount(plan).tolist() == [5, 3, 2]
    odd = assign([Component("expert", 0, 1 / 3), Component("random", 0, 2 / 3)], 7)
    assert len(odd) == 7 and np.bincount(odd).tolist() in ([2, 5], [3, 4])


def _mtimes(root: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((root / "episodes").glob("*.npz"))}


def test_collection_is_resumable(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    kw = dict(mixture="expert:0.5+random:0.5", obs="state", workers=1, seed=3, progress=False)
    first = collect("reach", out, 4, **kw)
    assert first["written"] == 4 and first["skipped"] == 0
    before = _mtimes(out)
    second = collect("reach", out, 4, **kw)
    assert second["written"] == 0 and second["skipped"] == 4
    assert _mtimes(out) == before
    (out / "episodes" / "000002.npz").unlink()
    third = collect("reach", out, 4, **kw)
    assert third["written"] == 1 and set(_mtimes(out)) == set(before)
    eps = list(Dataset(out))
    assert [e.info["policy"] for e in eps] == ["expert", "expert", "random", "random"]


def test_parallel_pixel_collection_gives_a_valid_dataset(tmp_path: Path) -> None:
    out = tmp_path / "px"
    s = collect(
        "push", out, 4, mixture="expert:0.5+play:0.5", obs="pixels", image_size=32,
        workers=2, seed=0, progress=False,
    )  # fmt: skip
    assert s["written"] == 4
    assert check_dataset(out) == []
    ds = Dataset(out)
    assert ds.meta.obs_spec["pixels"].shape == (32, 32, 3)
    assert "reward.dense" in ds.reward_keys and "reward.env" in ds.reward_keys
    policies = []
    for ep in ds:
        policies.append(ep.info["policy"])
        assert ep.obs["pixels"].shape == (ep.length + 1, 32, 32, 3)
        assert ep.terminated[-1] != ep.truncated[-1]  # every episode ends one way, not both
        assert not ep.terminated[:-1].any() and not ep.truncated[:-1].any()
        assert np.all(ep.rewards["reward.dense"] <= 0)
    assert policies == ["expert", "expert", "play", "play"]
    assert s["by_policy"]["expert"]["success_rate"] == 1.0


def test_existing_dataset_with_another_spec_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect("reach", out, 1, obs="state", progress=False)
    with pytest.raises(UserError, match="meta.json"):
        collect("reach", out, 1, obs="pixels", image_size=32, progress=False)


def test_bad_counts_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="episodes"):
        collect("reach", tmp_path / "a", 0, obs="state", progress=False)
    with pytest.raises(UserError, match="workers"):
        collect("reach", tmp_path / "b", 1, obs="state", workers=0, progress=False)


def test_an_episode_can_run_on_past_success_and_repeats_with_a_cached_env() -> None:
    expert = Component("expert", 0.0, 1.0)
    stop = collect_episode("drawer", "state", 64, expert, seed=3)
    on = collect_episode("drawer", "state", 64, expert, seed=3, terminate_on_success=False)
    assert stop.terminated[-1] and stop.success[-1]
    assert on.length > stop.length and not on.terminated.any() and on.truncated[-1]
    assert np.array_equal(on.obs["state"][: stop.length + 1], stop.obs["state"])
    # the cached env, reset with the same seed after another episode, gives the same episode
    collect_episode("drawer", "state", 64, expert, seed=4)
    again = collect_episode("drawer", "state", 64, expert, seed=3)
    assert np.array_equal(again.obs["state"], stop.obs["state"])
    assert np.array_equal(again.action, stop.action)
