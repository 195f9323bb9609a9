"""Reward checkpoints, relabelling, and train-reward from labels on disk (with bad input)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from robot_rl.data import Dataset
from robot_rl.data.labels import FrameLabel, ImageLabel, LabelStore
from robot_rl.errors import UserError
from robot_rl.rewards.classifier import ClassifierConfig, GoalClassifier
from robot_rl.rewards.model_io import (
    ClassifierReward,
    PreferenceReward,
    load_reward,
    load_reward_config,
    save_reward,
)
from robot_rl.rewards.preference import PreferenceConfig, PreferenceModel
from robot_rl.rewards.relabel import relabel_dataset
from robot_rl.rewards.train import synthetic_label, train_reward
from robot_rl.types import RewardModel

SMALL_CLF = dict(channels=4, feature_dim=8, hidden_dims=(16,), batch_size=8, steps=5)
SMALL_PREF = dict(hidden_dims=(16,), steps=5, batch_size=4, segment_length=5)


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _clf_ckpt(ds_root: Path, out: Path) -> Path:
    spec = Dataset(ds_root).meta.obs_spec
    model = GoalClassifier(spec, ClassifierConfig(**SMALL_CLF))
    return save_reward(out, "classifier", model, ClassifierConfig(**SMALL_CLF), 4, {"x": 1.0})


def test_classifier_checkpoint_round_trip(tiny_pixel_dataset, tmp_path) -> None:
    ckpt = _clf_ckpt(tiny_pixel_dataset, tmp_path / "clf")
    rm = load_reward(ckpt, expect_kind="classifier")
    assert isinstance(rm, ClassifierReward) and isinstance(rm, RewardModel)
    ep = Dataset(tiny_pixel_dataset).load(0)
    nxt = {"pixels": torch.as_tensor(ep.obs["pixels"][1:4])}
    r = rm.reward({}, torch.zeros(3, 4), nxt)
    assert r.shape == (3,) and r.dtype == torch.float32
    doc = json.loads((ckpt / "config.json").read_text())
    assert doc["kind"] == "classifier" and doc["threshold"] == 0.5
    assert load_reward_config(ckpt) == ClassifierConfig(**SMALL_CLF)
    # save again over the same directory: replaced atomically, no leftovers beside it
    _clf_ckpt(tiny_pixel_dataset, tmp_path / "ckpts" / "clf")
    _clf_ckpt(tiny_pixel_dataset, tmp_path / "ckpts" / "clf")
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == ["clf"]


def test_preference_checkpoint_round_trip(tiny_state_dataset, tmp_path) -> None:
    cfg = PreferenceConfig(**SMALL_PREF)
    model = PreferenceModel(Dataset(tiny_state_dataset).meta.obs_spec, 4, cfg)
    ckpt = save_reward(tmp_path / "pref", "preference", model, cfg, 4)
    rm = load_reward(ckpt)
    assert isinstance(rm, PreferenceReward)
    obs, act = {"state": torch.randn(5, 25)}, torch.randn(5, 4)
    with torch.no_grad():
        assert torch.allclose(rm.reward(obs, act, obs), model.reward(obs, act))


def test_checkpoint_errors(tiny_pixel_dataset, tmp_path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_reward(tmp_path / "nothing")
    ckpt = _clf_ckpt(tiny_pixel_dataset, tmp_path / "clf")
    with pytest.raises(UserError, match="expected 'preference'"):
        load_reward(ckpt, expect_kind="preference")
    doc = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps(doc | {"kind": "oracle"}))
    with pytest.raises(UserError, match="kind"):
        load_reward(ckpt)
    (ckpt / "config.json").write_text(json.dumps(doc))
    (ckpt / "model.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="model.pt"):
        load_reward(ckpt)
    (ckpt / "model.pt").unlink()
    with pytest.raises(UserError, match="model.pt"):
        load_reward(ckpt)


def test_relabel_adds_column_and_leaves_others_byte_identical(tiny_pixel_dataset, tmp_path):
    ckpt = _clf_ckpt(tiny_pixel_dataset, tmp_path / "goal_clf")
    ds = Dataset(tiny_pixel_dataset)
    before = {i: dict(np.load(ds.path(i))) for i in ds.episode_ids}
    col = relabel_dataset(tiny_pixel_dataset, ckpt, batch_size=7, progress=False)
    assert col == "reward.goal_clf"
    rm = load_reward(ckpt)
    for i in ds.episode_ids:
        after = dict(np.load(ds.path(i)))
        assert set(after) == set(before[i]) | {col}
        for k, v in before[i].items():
            assert after[k].dtype == v.dtype and after[k].tobytes() == v.tobytes(), k
        nxt = {"pixels": torch.as_tensor(after["obs.pixels"][1:])}
        want = rm.reward({}, torch.as_tensor(after["action"]), nxt).numpy()
        assert after[col].shape == after["action"].shape[:1]
        np.testing.assert_allclose(after[col], want, atol=1e-6)
    src = ds.manifest["reward_columns"][col]["source"]
    assert src["checkpoint"] == str(ckpt.resolve()) and src["model_kind"] == "classifier"


def test_relabel_refuses_mismatched_observations(tiny_state_dataset, tiny_pixel_dataset, tmp_path):
    ckpt = _clf_ckpt(tiny_pixel_dataset, tmp_path / "clf")
    with pytest.raises(UserError, match="pixels"):
        relabel_dataset(tiny_state_dataset, ckpt, progress=False)


def test_train_classifier_from_synthetic_labels(tiny_pixel_dataset, tmp_path) -> None:
    counts = synthetic_label("classifier", tiny_pixel_dataset, n_pos=10, n_neg=20)
    assert counts["positive"] == 3 and counts["negative"] == 20
    out = tmp_path / "ckpt"
    metrics = train_reward(
        "classifier", tiny_pixel_dataset, out, ClassifierConfig(**SMALL_CLF), progress=False
    )
    assert np.isfinite(metrics["train/bce_last"])
    assert load_reward(out).model.threshold.item() == pytest.approx(metrics["threshold"])
    col = relabel_dataset(tiny_pixel_dataset, out, name="goal", progress=False)
    assert col in Dataset(tiny_pixel_dataset).reward_keys


def test_train_preference_from_synthetic_labels(tiny_state_dataset, tmp_path) -> None:
    cfg = PreferenceConfig(**SMALL_PREF)
    info = synthetic_label(
        "preference", tiny_state_dataset, n_queries=12, method="disagreement", rounds=2, cfg=cfg
    )
    assert info["asked"] == 12
    assert len(LabelStore(tiny_state_dataset).preferences()) == 12
    metrics = train_reward("preference", tiny_state_dataset, tmp_path / "p", cfg, progress=False)
    assert metrics["train/pairs"] >= 1
    # the teacher's per-step reward is stored: its step-level agreement is reported beside
    # label accuracy (a number in [-1, 1], or NaN when no episode's reward changes)
    rho = metrics["teacher/step_spearman"]
    assert math.isnan(rho) or -1.0 <= rho <= 1.0
    assert "teacher/within_episode_spearman" in metrics
    assert relabel_dataset(tiny_state_dataset, tmp_path / "p", progress=False) == "reward.p"


def _negatives_only(root: Path) -> None:
    LabelStore(root).set_frame_labels([FrameLabel(0, 0, 0), FrameLabel(1, 2, 0)])


def test_empty_positives_is_a_user_error(tiny_pixel_dataset, tmp_path) -> None:
    _negatives_only(tiny_pixel_dataset)
    with pytest.raises(UserError, match="no positive"):
        train_reward(
            "classifier", tiny_pixel_dataset, tmp_path / "c", ClassifierConfig(**SMALL_CLF)
        )
    with pytest.raises(UserError, match="no answered preference"):
        train_reward("preference", tiny_pixel_dataset, tmp_path / "p")


@pytest.mark.filterwarnings("ignore:.*resized to")
def test_imported_goal_images(tiny_pixel_dataset, tmp_path) -> None:
    _negatives_only(tiny_pixel_dataset)
    store = LabelStore(tiny_pixel_dataset)
    store.goal_images_dir.mkdir(parents=True)
    cv2.imwrite(str(store.goal_images_dir / "big.png"), np.full((96, 96, 3), 200, np.uint8))
    store.add_image_labels([ImageLabel("goal_images/big.png", 1)])
    with pytest.warns(UserWarning, match="big.png.*resized to 64x64"):
        train_reward(
            "classifier",
            tiny_pixel_dataset,
            tmp_path / "c",
            ClassifierConfig(**SMALL_CLF),
            progress=False,
        )
    cv2.imwrite(str(store.goal_images_dir / "gray.png"), np.full((64, 64), 200, np.uint8))
    store.add_image_labels([ImageLabel("goal_images/gray.png", 1)])
    with pytest.raises(UserError, match="gray.png: image has 1 channel"):
        train_reward(
            "classifier", tiny_pixel_dataset, tmp_path / "c", ClassifierConfig(**SMALL_CLF)
        )
    with pytest.raises(UserError, match="proprio"):
        cfg = ClassifierConfig(use_proprio=True, **SMALL_CLF)
        train_reward("classifier", tiny_pixel_dataset, tmp_path / "c", cfg)


def test_invalid_labels_json_is_a_user_error(tiny_pixel_dataset, tmp_path) -> None:
    (tiny_pixel_dataset / "labels").mkdir(exist_ok=True)
    (tiny_pixel_dataset / "labels" / "goals.json").write_text('{"schema_version": 1, "frames": [')
    with pytest.raises(UserError, match="goals.json"):
        train_reward(
            "classifier", tiny_pixel_dataset, tmp_path / "c", ClassifierConfig(**SMALL_CLF)
        )
    (tiny_pixel_dataset / "labels" / "goals.json").write_text(
        json.dumps({"schema_version": 1, "frames": [{"episode": 0, "frame": 999, "label": 1}]})
    )
    with pytest.raises(UserError, match="frame 999"):
        train_reward(
            "classifier", tiny_pixel_dataset, tmp_path / "c", ClassifierConfig(**SMALL_CLF)
        )
    with pytest.raises(UserError, match="kind"):
        train_reward("oracle", tiny_pixel_dataset, tmp_path / "c")
