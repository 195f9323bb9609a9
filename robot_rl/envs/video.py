"""Looking at data: mp4 videos (imageio-ffmpeg) and PNG contact sheets, written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def write_video(frames: np.ndarray, path: str | Path, fps: int = 25) -> Path:
    """[T, H, W, 3] uint8 frames -> mp4 (H.264, any frame size: macro_block_size=1)."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    try:
        # imageio types the writer as its base class; the ffmpeg writer has append_data
        writer: Any = imageio.get_writer(
            tmp, fps=fps, codec="libx264", macro_block_size=1, quality=7, ffmpeg_log_level="error"
        )
        with writer as w:
            for f in np.asarray(frames, dtype=np.uint8):
                w.append_data(f)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def contact_sheet(
    rows: list[np.ndarray], path: str | Path, ncols: int = 10, scale: int = 2, gap: int = 2
) -> Path:
    """One row per episode of [N, H, W, 3] frames, upscaled ``scale`` x, as a PNG."""
    import imageio.v2 as imageio

    h, w = rows[0].shape[1:3]
    H, W = h * scale, w * scale
    sheet = np.full((len(rows) * (H + gap) + gap, ncols * (W + gap) + gap, 3), 255, np.uint8)
    for r, frames in enumerate(rows):
        for c, f in enumerate(frames[:ncols]):
            big = np.repeat(np.repeat(f, scale, 0), scale, 1)
            y, x = gap + r * (H + gap), gap + c * (W + gap)
            sheet[y : y + H, x : x + W] = big
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    imageio.imwrite(tmp, sheet)
    os.replace(tmp, path)
    return path
