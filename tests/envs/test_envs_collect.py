"""Dataset collection: mixture parsing, deterministic assignment, resuming, parallel workers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
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


STATE = dict(obs="state", workers=1, progress=False)
HOLD = """
import sys, time
from robot_rl.data.lock import dir_lock
with dir_lock(sys.argv[1], "dataset"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_while_one_collects(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(UserError, match=f"dataset is in use by pid {holder.pid}"):
            collect("reach", out, 2, mixture="random:1", **STATE)
    finally:
        holder.kill()
        holder.wait()
    assert not (out / "episodes").exists()  # nothing written beside the holder
    assert collect("reach", out, 2, mixture="random:1", **STATE)["written"] == 2
    assert check_dataset(out) == []  # the .lock file is not a problem


def test_another_mixture_is_refused_and_append_records_both(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect("reach", out, 2, mixture="expert:1", **STATE)
    with pytest.raises(UserError, match=r"mixture=expert:1 seed=0 \(episodes 0-1\).*append=true"):
        collect("reach", out, 2, mixture="random:1", **STATE)
    with pytest.raises(UserError, match="seed=0"):
        collect("reach", out, 2, mixture="expert:1.0", seed=5, **STATE)
    s = collect("reach", out, 3, mixture="random:1", append=True, **STATE)
    assert s["written"] == 1 and s["skipped"] == 2
    prov = Dataset(out).meta.provenance
    assert prov["episodes"] == 3 and [(b["first"], b["episodes"], b["mixture"]) for b in
        prov["batches"]] == [(0, 2, "expert:1"), (2, 1, "random:1")]  # fmt: skip
    assert [e.info["policy"] for e in Dataset(out)] == ["expert", "expert", "random"]
    # re-running the append resumes it; the first command now conflicts with the random batch
    assert collect("reach", out, 3, mixture="random:1", append=True, **STATE)["written"] == 0
    with pytest.raises(UserError, match="random:1"):
        collect("reach", out, 3, mixture="expert:1", **STATE)


def test_same_settings_extend_and_provenance_follows(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect("reach", out, 2, mixture="expert:1", **STATE)
    s = collect("reach", out, 4, mixture="expert:1.0", **STATE)  # the same mixture, spelt apart
    assert s["written"] == 2 and Dataset(out).meta.provenance["episodes"] == 4
    with pytest.raises(UserError, match="episodes=4"):
        collect("reach", out, 3, mixture="expert:1", **STATE)


def test_a_legacy_dataset_mixing_two_collections_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect("reach", out, 2, mixture="expert:1", **STATE)
    meta = json.loads((out / "meta.json").read_text())  # an older robot_rl's provenance
    meta["provenance"] = {"source": "robot-rl collect", "mixture": "random:1.0", "seed": 0,
                          "episodes": 2}  # fmt: skip
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="000000.npz: collected by policy expert"):
        collect("reach", out, 2, mixture="random:1.0", **STATE)


def test_a_truncated_episode_is_collected_again_identically(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect("reach", out, 3, mixture="expert:0.5+random:0.5", seed=2, **STATE)
    path = out / "episodes" / "000001.npz"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    (out / "episodes" / ".000002.npz.tmp-killed").write_bytes(b"PK")  # a killed writer's
    (out / ".meta.json.tmp-killed").write_text("{")
    s = collect("reach", out, 3, mixture="expert:0.5+random:0.5", seed=2, **STATE)
    assert s["written"] == 1 and s["repaired"] == [1]
    a, b = np.load(path), np.load(io.BytesIO(good))
    assert sorted(a.files) == sorted(b.files)
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert check_dataset(out) == []  # temp files cleared by the writer, under its lock


def test_check_reports_planned_episodes_that_are_missing(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect("reach", out, 3, mixture="random:1", **STATE)
    (out / "episodes" / "000001.npz").unlink()  # as if the run had been killed
    probs = check_dataset(out)
    assert len(probs) == 1 and "1 of the 3 episodes" in probs[0].message
    assert "000001.npz" in probs[0].message
    collect("reach", out, 3, mixture="random:1", **STATE)
    assert check_dataset(out) == []


def test_a_damaged_collect_provenance_is_a_user_error(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    collect("reach", out, 1, mixture="random:1", **STATE)
    meta = json.loads((out / "meta.json").read_text())
    meta["provenance"]["batches"][0].pop("seed")
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="provenance.*KeyError"):
        collect("reach", out, 1, mixture="random:1", **STATE)
