"""Round trips through Minari's own API, on local datasets only (no hub calls)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from robot_rl.data import Dataset, check_dataset
from robot_rl.errors import UserError

minari = pytest.importorskip("minari")
pytest.importorskip("h5py")


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


@pytest.mark.parametrize("kind", ["state", "pixels"])
def test_export_then_minari_api_then_import(
    kind: str, minari_root: Path, tmp_path: Path, tiny_state_dataset, tiny_pixel_dataset
) -> None:
    from robot_rl.data.minari_io import export_minari, import_minari

    src = Dataset(tiny_state_dataset if kind == "state" else tiny_pixel_dataset)
    src.add_reward_column("clf", lambda ep: np.linspace(0, 1, ep.length), {"checkpoint": "x"})
    dataset_id = f"robot_rl/tiny-{kind}-v0"
    export_minari(src.root, dataset_id, minari_root)

    # What Minari itself sees.
    mds = minari.load_dataset(dataset_id)
    assert mds.total_episodes == len(src)
    assert set(mds.observation_space.spaces) == set(src.meta.obs_spec)
    for ours, theirs in zip(src, mds.iterate_episodes()):
        for k in src.meta.obs_spec:
            np.testing.assert_array_equal(theirs.observations[k], ours.obs[k])
        np.testing.assert_array_equal(theirs.actions, ours.action)
        np.testing.assert_array_equal(theirs.rewards, ours.rewards["reward.env"])
        np.testing.assert_array_equal(theirs.terminations, ours.terminated)
        np.testing.assert_array_equal(theirs.truncations, ours.truncated)
        np.testing.assert_array_equal(theirs.infos["success"], ours.success)

    back = import_minari(dataset_id, tmp_path / "back", minari_root)
    assert check_dataset(back.root) == []
    assert back.meta.obs_spec == src.meta.obs_spec and back.meta.task == src.meta.task
    assert back.episode_ids == src.episode_ids
    assert back.reward_keys == ["reward.clf", "reward.env"]
    for a, b in zip(src, back):
        for k in a.obs:
            np.testing.assert_array_equal(a.obs[k], b.obs[k])
        for k in a.rewards:
            np.testing.assert_array_equal(a.rewards[k], b.rewards[k])
        np.testing.assert_array_equal(a.success, b.success)
        assert a.info == b.info

    with pytest.raises(UserError, match="already exists"):
        export_minari(src.root, dataset_id, minari_root)


def test_import_foreign_minari_dataset(minari_root: Path, tmp_path: Path) -> None:
    """A dataset made with Minari directly: Box observations (float64), no success info."""
    from gymnasium import spaces
    from minari.data_collector import EpisodeBuffer

    from robot_rl.data.minari_io import import_minari

    rng = np.random.default_rng(0)
    bufs = []
    for i in range(3):
        n = 5 + i
        term = np.zeros(n, bool)
        trunc = np.zeros(n, bool)
        term[-1] = i == 0
        trunc[-1] = True  # episode 0: both flags; termination wins
        bufs.append(
            EpisodeBuffer(
                id=i,
                observations=rng.normal(size=(n + 1, 6)),
                actions=rng.uniform(-2, 2, size=(n, 2)).astype(np.float32),
                rewards=rng.normal(size=n),
                terminations=term,
                truncations=trunc,
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(
            dataset_id="other/foreign-v0",
            buffer=bufs,
            observation_space=spaces.Box(-np.inf, np.inf, (6,), np.float64),
            action_space=spaces.Box(-2, 2, (2,), np.float32),
        )
    ds = import_minari("other/foreign-v0", tmp_path / "foreign", minari_root, control_freq=20)
    assert check_dataset(ds.root) == []
    assert ds.meta.obs_spec["state"].shape == (6,) and ds.meta.action_spec.high == 2.0
    assert ds.meta.control_freq == 20.0 and "unknown" in ds.meta.provenance["success"]
    e0 = ds.load(0)
    assert e0.obs["state"].dtype == np.float32 and e0.terminated[-1] and not e0.truncated[-1]
    assert ds.load(2).length == 7 and not ds.load(2).is_success

    with pytest.raises(UserError, match="not found locally"):
        import_minari("other/missing-v0", tmp_path / "x", minari_root)


def test_import_over_an_existing_dataset_is_refused(
    minari_root: Path, tmp_path: Path, tiny_state_dataset
) -> None:
    from robot_rl.data.minari_io import export_minari, import_minari

    export_minari(tiny_state_dataset, "robot_rl/tiny-again-v0", minari_root)
    before = sorted(p.stat().st_mtime_ns for p in (tiny_state_dataset / "episodes").iterdir())
    with pytest.raises(UserError, match="already exists; import into a new directory"):
        import_minari("robot_rl/tiny-again-v0", tiny_state_dataset, minari_root)
    after = sorted(p.stat().st_mtime_ns for p in (tiny_state_dataset / "episodes").iterdir())
    assert after == before
