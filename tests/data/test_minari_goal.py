"""GoalEnv (Fetch) datasets from Minari: what import makes of them, and that they train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from minari_fetch import make_fetch_minari

from robot_rl.data import Dataset, check_dataset
from robot_rl.data.goal_obs import goal_state_obs, split_goal_state
from robot_rl.errors import UserError

pytest.importorskip("minari")
pytest.importorskip("h5py")
pytest.importorskip("gymnasium_robotics")


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def test_goal_dict_becomes_state_in_the_documented_order() -> None:
    obs = {"observation": np.arange(4.0), "achieved_goal": [9.0, 9, 9], "desired_goal": [7.0, 8, 9]}
    ours = goal_state_obs(obs)
    np.testing.assert_array_equal(ours["state"], [0, 1, 2, 3, 7, 8, 9])
    back = split_goal_state(ours, {"observation": 4, "desired_goal": 3})
    for k, v in obs.items():
        np.testing.assert_array_equal(back[k], v)


def test_fetch_dataset_imports_as_state(minari_root: Path, tmp_path: Path) -> None:
    from robot_rl.data.minari_io import import_minari

    mds = make_fetch_minari("fetch/push-v0")
    ds = import_minari("fetch/push-v0", tmp_path / "push", minari_root)
    assert check_dataset(ds.root) == []
    assert ds.meta.obs_spec["state"].shape == (28,) and ds.meta.obs_spec["achieved_goal"].shape == (
        3,
    )
    assert ds.meta.provenance["goal_observation"]["layout"] == {
        "observation": 25,
        "desired_goal": 3,
    }
    first = next(mds.iterate_episodes())
    ep = ds.load(0)
    np.testing.assert_allclose(ep.obs["state"][:, :25], first.observations["observation"], 1e-6)
    np.testing.assert_allclose(ep.obs["state"][:, 25:], first.observations["desired_goal"], 1e-6)


@pytest.mark.parametrize("agent", ["bc", "iql", "calql"])
def test_pretrain_on_an_imported_fetch_dataset(
    agent: str, minari_root: Path, tmp_path: Path
) -> None:
    from robot_rl.agents import config_with
    from robot_rl.data.minari_io import import_minari
    from robot_rl.training.evaluate import EvalConfig
    from robot_rl.training.offline import PretrainConfig, pretrain

    make_fetch_minari("fetch/push-v0")
    ds = import_minari("fetch/push-v0", tmp_path / "push", minari_root)
    cfg = PretrainConfig(
        dataset=str(ds.root), agent_name=agent, agent=config_with(agent, hidden_dims=[16, 16],
        batch_size=8), steps=4, out=str(tmp_path / "run"), log_every=2, checkpoint_every=4,
        eval=EvalConfig(every=0, episodes=0), progress=False, device="cpu",
    )  # fmt: skip
    assert (pretrain(cfg) / "run_config.json").exists()


def test_raw_goal_keys_say_how_to_train_on_them() -> None:
    from robot_rl.training.common import obs_mode_of

    with pytest.raises(UserError, match="observation \\+ desired_goal on import"):
        obs_mode_of(["observation", "achieved_goal", "desired_goal"])


def test_unsupported_observation_shape_is_one_line(minari_root: Path, tmp_path: Path) -> None:
    import warnings

    import minari
    from gymnasium import spaces
    from minari.data_collector import EpisodeBuffer

    from robot_rl.data.minari_io import import_minari

    buf = EpisodeBuffer(id=0, observations=np.zeros((4, 5, 5)), actions=np.zeros((3, 2)),
                        rewards=np.zeros(3), terminations=np.zeros(3, bool),
                        truncations=np.r_[False, False, True])  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(
            dataset_id="other/grid-v0", buffer=[buf],
            observation_space=spaces.Box(-1, 1, (5, 5)), action_space=spaces.Box(-1, 1, (2,)),
        )  # fmt: skip
    with pytest.raises(UserError, match=r"shape \(5, 5\) float32; robot_rl reads vectors") as e:
        import_minari("other/grid-v0", tmp_path / "grid", minari_root)
    assert "\n" not in str(e.value) and not (tmp_path / "grid").exists()


def test_success_from_the_envs_own_rule_and_the_env_becomes_the_task(
    minari_root: Path, tmp_path: Path
) -> None:
    from robot_rl.data.minari_io import import_minari

    make_fetch_minari("fetch/push-v0", episodes=4)
    ds = import_minari("fetch/push-v0", tmp_path / "push", minari_root)
    assert ds.meta.task == "gym:FetchPush-v4"
    prov = ds.meta.provenance
    assert prov["success"].startswith("FetchPush-v4 compute_reward")
    assert prov["reward_convention"] == "-1/0" and prov["reward_shift"] == 0.0
    assert [ds.load(i).is_success for i in ds.episode_ids] == [True, False, True, False]
    e0 = ds.load(0)
    assert e0.success[-1] and not e0.success[0]  # the last step reaches the goal
    np.testing.assert_array_equal(e0.rewards["reward.env"], e0.success.astype(np.float32) - 1)


def test_recorded_is_success_wins(minari_root: Path, tmp_path: Path) -> None:
    from robot_rl.data.minari_io import import_minari

    make_fetch_minari("fetch/push-v0", infos=True)
    ds = import_minari("fetch/push-v0", tmp_path / "push", minari_root)
    assert ds.meta.provenance["success"] == "recorded (infos['is_success'])"
    assert [ds.load(i).is_success for i in ds.episode_ids] == [True, False, True, False]


def test_sparse01_shifts_rewards_and_says_so(minari_root: Path, tmp_path: Path, capsys) -> None:
    from robot_rl.cli.dataset import main

    make_fetch_minari("fetch/push-v0")
    main(["import-minari", "fetch/push-v0", str(tmp_path / "p"), "--sparse01"])
    out = capsys.readouterr().out
    assert "task gym:FetchPush-v4" in out and "success rate 0.50" in out
    assert "0/1 sparse (recorded as -1/0" in out
    ep = Dataset(tmp_path / "p").load(0)
    np.testing.assert_array_equal(ep.rewards["reward.env"], ep.success.astype(np.float32))
    with pytest.raises(SystemExit):  # the output exists: refused, nothing replaced
        main(["import-minari", "fetch/push-v0", str(tmp_path / "p")])
    assert "already exists" in capsys.readouterr().err


def test_sparse01_on_another_convention_is_refused(minari_root: Path, tmp_path: Path) -> None:
    from robot_rl.data.minari_io import export_minari, import_minari

    make_fetch_minari("fetch/push-v0")
    ds = import_minari("fetch/push-v0", tmp_path / "a", minari_root, sparse01=True)
    export_minari(ds.root, "fetch/push01-v0", minari_root)
    with pytest.raises(UserError, match="its rewards are 0/1"):
        import_minari("fetch/push01-v0", tmp_path / "b", minari_root, sparse01=True)
    assert not (tmp_path / "b").exists()


def test_round_trip_keeps_env_success_and_goal_dictionary(
    minari_root: Path, tmp_path: Path
) -> None:
    import minari

    from robot_rl.data.minari_io import export_minari, import_minari

    make_fetch_minari("fetch/push-v0")
    a = import_minari("fetch/push-v0", tmp_path / "a", minari_root)
    export_minari(a.root, "fetch/again-v0", minari_root)
    mds = minari.load_dataset("fetch/again-v0")
    assert mds.spec.env_spec.id == "FetchPush-v4"
    assert set(mds.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    b = import_minari("fetch/again-v0", tmp_path / "b", minari_root)
    assert b.meta.task == a.meta.task and b.meta.obs_spec == a.meta.obs_spec
    assert b.meta.provenance["success"] == a.meta.provenance["success"]
    assert b.meta.provenance["reward_convention"] == "-1/0"
    for x, y in zip(a, b):
        for k in x.obs:
            np.testing.assert_array_equal(x.obs[k], y.obs[k])
        np.testing.assert_array_equal(x.success, y.success)
        np.testing.assert_array_equal(x.rewards["reward.env"], y.rewards["reward.env"])
