"""Goal images from another camera: resized on import and on read, the camera-mismatch check
(direction, warning, metrics), the imported-image augmentation and its config field."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from tinydata import GOAL, render_tiny

from robot_rl.configs import check_fields
from robot_rl.data import Dataset
from robot_rl.data.labels import LabelStore
from robot_rl.errors import UserError
from robot_rl.labeling.goals import import_goal_images
from robot_rl.rewards.camera_check import MISMATCH_WARN, camera_mismatch, check_goal_images
from robot_rl.rewards.classifier import ClassifierConfig, random_resized_crop
from robot_rl.rewards.kinds.classifier import goal_frames
from robot_rl.rewards.teachers import SuccessLabeller, label_goal_frames
from robot_rl.rewards.train import train_reward

SMALL_CLF = dict(steps=3, channels=8, feature_dim=16, hidden_dims=(32,), batch_size=8)


def goal_shots(n: int, seed: int) -> np.ndarray:
    """Task-camera goal images of the tiny task: the block on (or next to) the goal zone."""
    rng = np.random.default_rng(seed)
    return render_tiny(GOAL + rng.uniform(-0.03, 0.03, size=(n, 2)).astype(np.float32))


def moved_camera(images: np.ndarray, size: int = 64) -> np.ndarray:
    """The same scenes seen by another camera: rotated 20 degrees, zoomed out, brighter light,
    ``size`` pixels."""
    h, w = images.shape[1:3]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 20.0, 0.8)
    out = [np.clip(cv2.warpAffine(im, m, (w, h)) * 1.5, 0, 255).astype(np.uint8) for im in images]
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in out])


def dataset_frames(root) -> tuple[np.ndarray, np.ndarray]:
    ds = Dataset(root)
    eps = [ds.load(i) for i in ds.episode_ids]
    frames = np.concatenate([e.obs["pixels"] for e in eps])
    return frames, np.concatenate([np.full(e.length + 1, i) for i, e in enumerate(eps)])


def write_pngs(folder, images: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        cv2.imwrite(str(folder / f"g{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))


def test_moved_camera_images_score_a_larger_mismatch(tiny_pixel_dataset) -> None:
    frames, episode_of = dataset_frames(tiny_pixel_dataset)
    task = camera_mismatch(goal_shots(10, 1), frames, episode_of)
    moved = camera_mismatch(moved_camera(goal_shots(10, 1)), frames, episode_of)
    assert task < MISMATCH_WARN < moved
    assert np.isnan(camera_mismatch(goal_shots(3, 1), frames[:5], np.zeros(5, int)))


def test_mismatch_warning_names_the_folder_once(tiny_pixel_dataset, capsys) -> None:
    ds = Dataset(tiny_pixel_dataset)
    m = check_goal_images(ds, "pixels", moved_camera(goal_shots(6, 2)), "labels/goal_images")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "labels/goal_images" in out[0] and "camera mismatch" in out[0]
    assert m["goal_images/mismatch_warning"] == 1.0 and m["goal_images/count"] == 6.0
    m = check_goal_images(ds, "pixels", goal_shots(6, 2), "labels/goal_images")
    assert capsys.readouterr().out == "" and m["goal_images/mismatch_warning"] == 0.0


def test_larger_goal_photos_are_resized_on_import_and_train(tiny_pixel_dataset, tmp_path) -> None:
    label_goal_frames(tiny_pixel_dataset, SuccessLabeller(), 0, 20)  # negatives only
    shots = moved_camera(goal_shots(4, 3), size=128)  # the user's camera: 128 px
    write_pngs(tmp_path / "photos", shots)
    store = LabelStore(tiny_pixel_dataset)
    done = import_goal_images(store, tmp_path / "photos", (64, 64, 3), "me")
    assert len(done["imported"]) == 4 and all("128x128 to 64x64" in m for m in done["messages"])
    pos, neg = goal_frames(tiny_pixel_dataset, ("pixels",))
    assert pos["pixels"].shape == (4, 64, 64, 3) and len(neg["pixels"]) == 20
    small = cv2.resize(shots[0], (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(pos["pixels"][0].astype(int) - small).max() <= 1  # RGB order kept
    metrics = train_reward(
        "classifier", tiny_pixel_dataset, tmp_path / "c", ClassifierConfig(**SMALL_CLF)
    )
    assert metrics["goal_images/count"] == 4.0
    assert metrics["goal_images/camera_mismatch"] > MISMATCH_WARN


def test_random_resized_crop_keeps_shape_and_is_identity_at_zero() -> None:
    x = torch.as_tensor(goal_shots(5, 4))
    assert torch.equal(random_resized_crop(x, 0.0), x)
    y = random_resized_crop(x, 0.3)
    assert y.shape == x.shape and y.dtype == torch.uint8 and not torch.equal(y, x)


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_imported_augment_must_be_in_zero_one(value: float) -> None:
    with pytest.raises(UserError, match="field 'imported_augment' must be in"):
        ClassifierConfig(imported_augment=value).validate()
    with pytest.raises(UserError, match=f"^classifier.imported_augment={value}: must be"):
        check_fields(ClassifierConfig(imported_augment=value), "classifier.")
