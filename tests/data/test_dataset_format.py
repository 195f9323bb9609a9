from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tinydata import make_tiny_dataset, tiny_episode, tiny_meta

from robot_rl.data import Dataset, DatasetMeta, DatasetWriter, Episode
from robot_rl.data import format as fmt
from robot_rl.errors import UserError
from robot_rl.types import ArraySpec


@pytest.mark.parametrize("kind", ["state", "pixels"])
def test_write_read_round_trip(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    writer = DatasetWriter(tmp_path, tiny_meta(kind))
    written = [tiny_episode(kind, rng, success=i == 0, length=12 + i) for i in range(3)]
    for i, ep in enumerate(written):
        ep.info["seed"] = 100 + i
        path = writer.write(ep, i * 7)
        assert path.name == f"{i * 7:06d}.npz"
    ds = Dataset(tmp_path)
    assert ds.episode_ids == [0, 7, 14]
    assert len(ds) == 3
    assert ds.meta == tiny_meta(kind)
    assert ds.reward_keys == ["reward.env"]
    for orig, i in zip(written, ds.episode_ids):
        got = ds.load(i)
        assert got.obs.keys() == orig.obs.keys()
        for k in orig.obs:
            assert got.obs[k].dtype == orig.obs[k].dtype
            np.testing.assert_array_equal(got.obs[k], orig.obs[k])
        np.testing.assert_array_equal(got.action, orig.action)
        np.testing.assert_array_equal(got.rewards["reward.env"], orig.rewards["reward.env"])
        for flag in ("terminated", "truncated", "success"):
            np.testing.assert_array_equal(getattr(got, flag), getattr(orig, flag))
        assert got.info == orig.info
    eps = list(ds)
    assert [e.is_success for e in eps] == [True, False, False]
    assert eps[0].ret() == 1.0 and eps[1].ret() == 0.0
    assert eps[1].length == 13
    if kind == "pixels":
        assert eps[0].obs["pixels"].shape == (13, 64, 64, 3)


def test_fixtures_shapes(tiny_state_dataset: Path, tiny_pixel_dataset: Path) -> None:
    s, p = Dataset(tiny_state_dataset), Dataset(tiny_pixel_dataset)
    assert len(s) == 6 and len(p) == 6
    succ = [e.is_success for e in s]
    assert any(succ) and not all(succ)
    for e in s:
        assert e.obs["state"].shape == (e.length + 1, 25) and e.action.shape[1] == 4
        assert 10 <= e.length <= 20
        assert e.terminated[-1] == e.is_success and e.truncated[-1] != e.is_success
        assert e.rewards["reward.env"][-1] == float(e.is_success)
    e = p.load(0)
    assert e.obs["pixels"].dtype == np.uint8 and e.obs["proprio"].shape[1] == 10


def test_writer_rejects_other_meta(tmp_path: Path) -> None:
    DatasetWriter(tmp_path, tiny_meta("state"))
    DatasetWriter(tmp_path, tiny_meta("state"))  # same meta: fine (a second collector)
    with pytest.raises(UserError, match=r"meta\.json.*obs_spec"):
        DatasetWriter(tmp_path, tiny_meta("pixels"))


def _bad(ep: Episode, what: str) -> Episode:
    if what == "pixels_dtype":
        ep.obs["pixels"] = ep.obs["pixels"].astype(np.float32)
    elif what == "pixels_frames":
        ep.obs["pixels"] = ep.obs["pixels"][:-1]
    elif what == "missing_obs":
        del ep.obs["proprio"]
    elif what == "nan_action":
        ep.action[3, 1] = np.nan
    elif what == "action_range":
        ep.action[0, 0] = 1.5
    elif what == "reward_len":
        ep.rewards["reward.env"] = ep.rewards["reward.env"][:-1]
    elif what == "both_flags":
        ep.terminated[-1] = ep.truncated[-1] = True
    elif what == "flag_early":
        ep.truncated[2] = True
    return ep


@pytest.mark.parametrize(
    "what,key",
    [
        ("pixels_dtype", "obs.pixels"),
        ("pixels_frames", "obs.pixels"),
        ("missing_obs", "obs.proprio"),
        ("nan_action", "action"),
        ("action_range", "action"),
        ("reward_len", "reward.env"),
        ("both_flags", "terminated"),
        ("flag_early", "terminated"),
    ],
)
def test_write_validation_names_file_and_key(tmp_path: Path, what: str, key: str) -> None:
    writer = DatasetWriter(tmp_path, tiny_meta("pixels"))
    ep = _bad(tiny_episode("pixels", np.random.default_rng(0), True, 10), what)
    with pytest.raises(UserError) as e:
        writer.write(ep, 5)
    assert "000005.npz" in str(e.value) and repr(key) in str(e.value)
    assert not writer.exists(5)


def test_writer_casts_float64_but_not_images(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path, tiny_meta("state"))
    ep = tiny_episode("state", np.random.default_rng(0), True, 10)
    ep.obs["state"] = ep.obs["state"].astype(np.float64)
    ep.rewards["reward.env"] = ep.rewards["reward.env"].astype(np.float64)
    writer.write(ep, 0)
    got = Dataset(tmp_path).load(0)
    assert got.obs["state"].dtype == np.float32 and got.rewards["reward.env"].dtype == np.float32


def test_atomic_write_leaves_nothing_when_write_fails(tmp_path: Path, monkeypatch) -> None:
    writer = DatasetWriter(tmp_path, tiny_meta("state"))
    ep = tiny_episode("state", np.random.default_rng(0), True, 10)
    writer.write(ep, 0)
    before = (tmp_path / "episodes" / "000000.npz").read_bytes()

    def half_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 partial zip bytes")
        raise OSError("disk full")

    monkeypatch.setattr(fmt.np, "savez", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        writer.write(ep, 1)  # a new episode
    with pytest.raises(OSError, match="disk full"):
        writer.write(ep, 0)  # overwriting an existing one keeps the old file intact
    assert sorted(os.listdir(tmp_path / "episodes")) == ["000000.npz"]
    assert (tmp_path / "episodes" / "000000.npz").read_bytes() == before


def test_dataset_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        Dataset(tmp_path / "nope")
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match=r"meta\.json: file not found"):
        Dataset(tmp_path / "d")
    (tmp_path / "d" / "meta.json").write_text("{not json")
    with pytest.raises(UserError, match=r"meta\.json: not valid JSON"):
        Dataset(tmp_path / "d")
    meta = tiny_meta("state").to_json()
    del meta["control_freq"]
    (tmp_path / "d" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"meta\.json: missing key 'control_freq'"):
        Dataset(tmp_path / "d")
    meta = tiny_meta("state").to_json()
    meta["obs_spec"]["state"]["dtype"] = "float16"
    (tmp_path / "d" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"meta\.json: key 'obs_spec\.state'"):
        Dataset(tmp_path / "d")


def test_load_corrupt_episode_names_file(tiny_state_dataset: Path) -> None:
    path = tiny_state_dataset / "episodes" / "000002.npz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UserError, match=r"000002\.npz: unreadable npz"):
        Dataset(tiny_state_dataset).load(2)


def test_meta_json_round_trip() -> None:
    meta = tiny_meta("pixels")
    meta.provenance = {"policy": "noisy", "noise": 0.3}
    assert DatasetMeta.from_json(json.loads(json.dumps(meta.to_json()))) == meta
    spec = meta.obs_spec["pixels"]
    assert spec == ArraySpec((64, 64, 3), "uint8")


def test_add_reward_column(tiny_state_dataset: Path) -> None:
    ds = Dataset(tiny_state_dataset)
    env_before = {i: ds.load(i).rewards["reward.env"].copy() for i in ds.episode_ids}
    col = ds.add_reward_column(
        "goal_clf", lambda ep: -np.arange(ep.length, dtype=np.float64), {"checkpoint": "ck/1"}
    )
    assert col == "reward.goal_clf"
    assert ds.reward_keys == ["reward.env", "reward.goal_clf"]
    for i in ds.episode_ids:
        ep = ds.load(i)
        np.testing.assert_array_equal(ep.rewards["reward.env"], env_before[i])
        np.testing.assert_array_equal(ep.rewards["reward.goal_clf"], -np.arange(ep.length))
        assert ep.rewards["reward.goal_clf"].dtype == np.float32
    manifest = json.loads((tiny_state_dataset / "manifest.json").read_text())
    assert manifest["reward_columns"]["reward.goal_clf"]["source"] == {"checkpoint": "ck/1"}
    assert "reward.env" in manifest["reward_columns"]
    # Re-running replaces that column only; reward.env is protected; bad outputs are refused.
    ds.add_reward_column("goal_clf", lambda ep: np.ones(ep.length), {"checkpoint": "ck/2"})
    assert ds.load(0).rewards["reward.goal_clf"][0] == 1.0
    with pytest.raises(UserError, match="reserved"):
        ds.add_reward_column("env", lambda ep: np.ones(ep.length), {})
    with pytest.raises(UserError, match=r"000000\.npz: key 'reward\.bad'.*shape"):
        ds.add_reward_column("bad", lambda ep: np.ones(ep.length + 1), {})
    assert not [n for n in os.listdir(tiny_state_dataset / "episodes") if "tmp" in n]


def test_make_tiny_dataset_is_reproducible(tmp_path: Path) -> None:
    a = Dataset(make_tiny_dataset(tmp_path / "a", "state", 3, seed=4))
    b = Dataset(make_tiny_dataset(tmp_path / "b", "state", 3, seed=4))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.obs["state"], y.obs["state"])
