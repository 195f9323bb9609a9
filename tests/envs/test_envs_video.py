"""Videos and contact sheets of rendered episodes."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from envs_helpers import cached_env

from robot_rl.envs.video import contact_sheet, write_video


def _frames(n: int = 12) -> np.ndarray:
    env = cached_env("push", "pixels", image_size=32)
    obs, _ = env.reset(seed=0)
    frames = [obs["pixels"]]
    for _ in range(n - 1):
        obs, *_ = env.step(env.action_space.sample())
        frames.append(obs["pixels"])
    return np.stack(frames)


def test_write_video_gives_a_readable_mp4(tmp_path: Path) -> None:
    frames = _frames()
    path = write_video(frames, tmp_path / "sub" / "ep.mp4", fps=10)
    assert path.exists() and path.stat().st_size > 0
    reader = imageio.get_reader(path, format="ffmpeg")
    back = np.stack([f for f in reader])  # not list(reader): its length is reported as inf
    reader.close()
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 20  # lossy, but the same video
    assert not list(path.parent.glob(".*tmp*"))  # no temp file left behind


def test_contact_sheet_has_the_expected_size(tmp_path: Path) -> None:
    frames = _frames(6)
    rows = [frames, frames[:4]]
    path = contact_sheet(rows, tmp_path / "sheet.png", ncols=5, scale=2, gap=2)
    img = imageio.imread(path)
    assert img.shape == (2 * (64 + 2) + 2, 5 * (64 + 2) + 2, 3)
    np.testing.assert_array_equal(img[2:66, 2:66], np.repeat(np.repeat(frames[0], 2, 0), 2, 1))
    assert (img[2 + 66 : 2 + 66 + 64, 2 + 4 * 66 :] == 255).all()  # row 2 has only 4 frames
