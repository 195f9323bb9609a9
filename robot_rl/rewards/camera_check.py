"""Do imported goal images look like the dataset's own camera? A cheap check at train time.

A user's goal photos may come from their own camera: another view, light or size. A classifier
trained on such positives against the dataset's negatives can tell them apart by the camera
alone and then recognise no success in the task camera's frames. The check compares distances on
16x16 thumbnails: how far each imported image is from its nearest dataset frame, against how far
a dataset frame is from its nearest frame of another episode. About 1 means "looks like one more
episode of this camera"; a moved camera or other light gives more.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from robot_rl.data import Dataset

THUMBNAIL = 16  # pixels a side: the layout of the scene, not the state's small details
# Above this the imported images are reported as another camera. Measured on zone and drawer
# (scripts/bench_classifier.py --parts camera, 60-episode datasets): task-camera goal images
# score 0.55-0.67, cameras moved 20 degrees with other light and size 4.9-6.6.
MISMATCH_WARN = 1.6
MAX_EPISODES = 50  # dataset episodes read for the reference frames (evenly spaced)
MAX_QUERIES = 256  # dataset frames whose nearest other-episode frame sets the baseline


def thumbnails(frames: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 16*16*3] in [0, 1] (area-averaged)."""
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float() / 255.0  # [N, 3, H, W]
    return F.adaptive_avg_pool2d(x, THUMBNAIL).flatten(1)


def nearest_distance(
    query: torch.Tensor, ref: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """L2 distance [Nq] of each query row to its nearest ``ref`` row; ``exclude`` [Nq, Nr] bool
    marks pairs that do not count (a frame and frames of its own episode)."""
    d = torch.cdist(query, ref)  # [Nq, Nr]
    if exclude is not None:
        d = d.masked_fill(exclude, float("inf"))
    return d.min(dim=1).values


def camera_mismatch(images: np.ndarray, frames: np.ndarray, episode_of: np.ndarray) -> float:
    """median nearest-frame distance of ``images`` / median distance of a dataset frame to the
    nearest frame of another episode. ``frames`` [M, H, W, 3] of the same size as ``images``,
    from at least two episodes (``episode_of`` [M]); nan when there is one episode only."""
    if len(np.unique(episode_of)) < 2 or len(images) == 0:
        return float("nan")
    ref = thumbnails(frames)
    pick = np.linspace(0, len(frames) - 1, min(MAX_QUERIES, len(frames))).astype(int)
    ep = torch.as_tensor(episode_of)
    own = ep[pick][:, None] == ep[None, :]  # [Q, M]
    baseline = nearest_distance(ref[pick], ref, own).median()
    imported = nearest_distance(thumbnails(images), ref).median()
    return float(imported / baseline.clamp(min=1e-6))


def dataset_frames(ds: Dataset, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of ``key`` of up to MAX_EPISODES evenly spaced episodes, and their episode."""
    ids = ds.episode_ids
    pick = [ids[i] for i in np.linspace(0, len(ids) - 1, min(MAX_EPISODES, len(ids))).astype(int)]
    frames, episode_of = [], []
    for i in dict.fromkeys(pick):
        obs = ds.load(i).obs[key]
        frames.append(obs)
        episode_of.append(np.full(len(obs), i))
    return np.concatenate(frames), np.concatenate(episode_of)


def check_goal_images(ds: Dataset, key: str, images: np.ndarray, folder: str) -> dict[str, float]:
    """The mismatch of imported goal ``images`` with the dataset's frames as training metrics;
    prints one warning line naming ``folder`` when they look like another camera."""
    frames, episode_of = dataset_frames(ds, key)
    mismatch = camera_mismatch(images, frames, episode_of)
    warned = mismatch > MISMATCH_WARN
    if warned:
        print(
            f"[classifier] warning: {folder}: the {len(images)} imported goal image(s) look "
            f"unlike this dataset's camera (camera mismatch {mismatch:.2f} > {MISMATCH_WARN}): "
            "another view, light or zoom? The classifier may miss success in the task camera's "
            "frames; take goal photos from the task camera, or label goal frames of the dataset"
        )
    return {
        "goal_images/count": float(len(images)),
        "goal_images/camera_mismatch": mismatch,
        "goal_images/mismatch_warning": float(warned),
    }
