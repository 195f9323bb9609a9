"""Display frames: a sharper copy of an episode's image stream, for a person labelling it.

``display/<id>.npz`` beside ``episodes/<id>.npz`` holds the episode's T+1 frames rendered by the
same camera at ``size`` px, each JPEG-encoded: ``jpeg`` (every frame's bytes, concatenated,
uint8 [N]), ``offsets`` (int64 [T+2]: frame i is ``jpeg[offsets[i]:offsets[i+1]]``) and ``size``.

Why stored at collection time, not re-rendered from the episode's seed and actions: rendering
one more frame a step costs the same either way (measured on zone and drawer at 256 px: ~+12 ms
a step with encoding; a replay 0.2-0.4 s an episode), but stored it is paid once by the
collector, and serving a frame is a slice of bytes (3.6 ms over HTTP, like a 64 px PNG): no
simulator or EGL in the server, no wait when a person opens an episode. A replay reproduced the
stored frames bit for bit here (20 of 20 episodes), but it would have to on every machine and
MuJoCo version a dataset meets, or show a person a frame other than the one the classifier
trains on, and a dataset imported from elsewhere has no seed to replay. The cost is disk: JPEG
at quality 90 keeps a 256 px frame near 12 KB (PNG: 24 KB), +84-93% bytes a dataset, in its own
file, so trainers, which read each episode's npz whole, never read it. Nothing but the labeling
app reads these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.data.format import DISPLAY_DIR, load_npz, save_npz
from robot_rl.errors import UserError

JPEG_QUALITY = 90
MAX_DISPLAY_SIZE = 480  # MuJoCo's default offscreen buffer is 640x480


def display_path(root: Path, episode_id: int) -> Path:
    return Path(root) / DISPLAY_DIR / f"{episode_id:06d}.npz"


def check_display_size(display_size: int, image_size: int) -> None:
    """UserError unless ``display_size`` is 0 (off) or a size above the training frames'."""
    if display_size == 0:
        return
    if not isinstance(display_size, int) or not image_size < display_size <= MAX_DISPLAY_SIZE:
        raise UserError(
            f"display_size={display_size}: must be 0 (no display frames) or larger than "
            f"image_size={image_size} and at most {MAX_DISPLAY_SIZE} pixels, e.g. 256"
        )


def encode_frames(frames: np.ndarray, quality: int = JPEG_QUALITY) -> dict[str, np.ndarray]:
    """[N, S, S, 3] uint8 RGB frames -> the arrays of a display file."""
    import cv2

    chunks = []
    for rgb in frames:
        ok, buf = cv2.imencode(  # cv2 wants BGR
            ".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise UserError(f"a display frame of shape {rgb.shape} could not be JPEG-encoded")
        chunks.append(buf.reshape(-1))
    offsets = np.zeros(len(chunks) + 1, np.int64)
    np.cumsum([len(c) for c in chunks], out=offsets[1:])
    return {
        "jpeg": np.concatenate(chunks) if chunks else np.zeros(0, np.uint8),
        "offsets": offsets,
        "size": np.array(int(frames.shape[1]), np.int64),
    }


def write_display(root: Path, episode_id: int, frames: np.ndarray) -> Path:
    """Encode and atomically write the display file of one episode; returns its path."""
    path = display_path(root, episode_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(path, encode_frames(frames))
    return path


@dataclass(frozen=True)
class DisplayFrames:
    """One episode's display frames, still encoded."""

    jpeg: np.ndarray  # [N] uint8, all frames back to back
    offsets: np.ndarray  # [num_frames + 1] int64
    size: int  # pixels per side

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def frame(self, i: int) -> bytes:
        """JPEG bytes of frame ``i``."""
        return self.jpeg[self.offsets[i] : self.offsets[i + 1]].tobytes()


def display_problems(arrays: dict[str, np.ndarray], num_frames: int) -> list[tuple[str, str]]:
    """Everything wrong with a display file's arrays, for an episode of ``num_frames`` frames."""
    jpeg, offsets, size = arrays.get("jpeg"), arrays.get("offsets"), arrays.get("size")
    missing = [k for k, v in (("jpeg", jpeg), ("offsets", offsets), ("size", size)) if v is None]
    if missing:
        return [(k, "missing") for k in missing]
    assert jpeg is not None and offsets is not None and size is not None
    probs = []
    if jpeg.ndim != 1 or jpeg.dtype != np.uint8:
        probs.append(("jpeg", f"shape {jpeg.shape} dtype {jpeg.dtype}, expected [N] uint8"))
    if size.shape != () or size.dtype.kind not in "iu" or not 0 < int(size) <= MAX_DISPLAY_SIZE:
        probs.append(("size", f"{size!r}: expected a pixel count in 1..{MAX_DISPLAY_SIZE}"))
    if offsets.shape != (num_frames + 1,) or offsets.dtype.kind not in "iu":
        probs.append(
            ("offsets", f"shape {offsets.shape}, expected ({num_frames + 1},): one per frame + 1")
        )
    elif offsets[0] != 0 or (np.diff(offsets) <= 0).any() or int(offsets[-1]) != jpeg.shape[0]:
        probs.append(("offsets", "not increasing from 0 to the length of 'jpeg'"))
    return probs


def read_display(path: Path, num_frames: int) -> DisplayFrames:
    """The display frames at ``path``; UserError naming the file and key if it is damaged."""
    arrays = load_npz(path)
    probs = display_problems(arrays, num_frames)
    if probs:
        key, msg = probs[0]
        raise UserError(f"{path}: key {key!r}: {msg}; delete the file to show the training frames")
    return DisplayFrames(arrays["jpeg"], arrays["offsets"], int(arrays["size"]))
