"""Frames of a dataset's image observation, served as cached PNG bytes to the labeling page, and
its display frames (a sharper copy stored at collection, data/display.py) as their JPEG bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from robot_rl.data.display import DisplayFrames, display_path, read_display
from robot_rl.errors import UserError
from robot_rl.types import ArraySpec

_MAX_EPISODES_IN_MEMORY = 8  # decoded image arrays (a 200-step 84 px episode is ~4 MB)
_MAX_PNGS = 4000  # encoded frames (~5 KB each at 64 px)
_MAX_DISPLAY_IN_MEMORY = 16  # display files, still JPEG (~0.6 MB for 50 steps at 256 px)


def image_key_of(obs_spec: dict[str, ArraySpec], root: Path) -> str:
    """The observation key to show: ``pixels`` if present, else the first uint8 HWC key."""
    candidates = [
        k
        for k, s in obs_spec.items()
        if s.dtype == "uint8" and len(s.shape) == 3 and s.shape[-1] == 3
    ]
    if not candidates:
        raise UserError(
            f"{root / 'meta.json'}: obs_spec has no image observation (uint8 [H, W, 3]); "
            "the labeling app shows images, so collect the dataset with pixels"
        )
    return "pixels" if "pixels" in candidates else sorted(candidates)[0]


class RequestError(Exception):
    """A refused request: the HTTP status and a message the page shows."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def check_inside(path: Path, root: Path, what: str) -> Path:
    """``path`` with symlinks resolved; 403 unless it is ``root`` (resolved) or below it."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise RequestError(403, f"refused: {what} points outside the dataset")
    return real


K = TypeVar("K")
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A thread-safe least-recently-used cache of at most ``capacity`` entries."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


class FrameSource:
    """Episode ids, lengths and PNG-encoded frames of one dataset (thread-safe, LRU-cached)."""

    def __init__(self, dataset_root: str | Path):
        from robot_rl.data.format import Dataset  # light: numpy only

        self.dataset = Dataset(dataset_root)
        self.root = self.dataset.root
        self.image_key = image_key_of(self.dataset.meta.obs_spec, self.root)
        self.frame_shape = tuple(self.dataset.meta.obs_spec[self.image_key].shape)
        self._lock = threading.Lock()
        self._lengths: dict[int, int] = {}
        self._arrays: _LRU[int, np.ndarray] = _LRU(_MAX_EPISODES_IN_MEMORY)
        self._pngs: _LRU[tuple[int, int], bytes] = _LRU(_MAX_PNGS)
        self._display: _LRU[int, DisplayFrames] = _LRU(_MAX_DISPLAY_IN_MEMORY)
        self.refresh()

    def refresh(self) -> None:
        """Pick up episodes written since the server started (a collector may still run)."""
        ids = self.dataset.episode_ids
        lengths = {i: self._lengths.get(i) or self.dataset.episode_length(i) for i in ids}
        with self._lock:
            self._lengths = lengths

    @property
    def episode_ids(self) -> list[int]:
        return sorted(self._lengths)

    def num_frames(self, episode: int) -> int:
        """T + 1 observation frames of ``episode``; 404 if the episode does not exist."""
        n = self._lengths.get(episode)
        if n is None:
            self.refresh()
            n = self._lengths.get(episode)
        if n is None:
            raise RequestError(404, f"episode {episode} is not in the dataset")
        return n + 1

    def check_frame(self, episode: int, frame: int) -> None:
        """404 naming the problem unless ``frame`` is an observation frame of ``episode``."""
        n = self.num_frames(episode)
        if not 0 <= frame < n:
            raise RequestError(
                404, f"frame {frame} is outside episode {episode} (frames 0..{n - 1})"
            )

    def _images(self, episode: int) -> np.ndarray:
        if (cached := self._arrays.get(episode)) is not None:
            return cached
        # A symlinked episode file must not serve the images of a file outside the dataset.
        path = check_inside(self.dataset.path(episode), self.root, f"episode {episode}'s file")
        key = "obs." + self.image_key
        try:
            with np.load(path, allow_pickle=False) as z:
                images = z[key]
        except Exception as e:  # missing key, truncated zip, ...
            raise UserError(f"{path}: cannot read {key!r} ({type(e).__name__}: {e})") from None
        want = (self.num_frames(episode), *self.frame_shape)
        if images.shape != want or images.dtype != np.uint8:
            raise UserError(
                f"{path}: key {key!r} is {images.shape} {images.dtype}, expected {want} uint8"
            )
        self._arrays.put(episode, images)
        return images

    def png(self, episode: int, frame: int) -> bytes:
        """PNG bytes of one frame (validated, cached)."""
        self.check_frame(episode, frame)
        if (cached := self._pngs.get((episode, frame))) is not None:
            return cached
        import cv2

        rgb = self._images(episode)[frame]
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))  # cv2 wants BGR
        if not ok:
            raise UserError(f"{self.dataset.path(episode)}: frame {frame} could not be encoded")
        data = buf.tobytes()
        self._pngs.put((episode, frame), data)
        return data

    def has_display(self, episode: int) -> bool:
        """Whether ``episode`` was collected with display frames (else the page scales up)."""
        return display_path(self.root, episode).is_file()

    def _display_frames(self, episode: int) -> DisplayFrames:
        if (cached := self._display.get(episode)) is not None:
            return cached
        path = display_path(self.root, episode)
        if not path.is_file():
            raise RequestError(
                404, f"episode {episode} has no display frames (collected without display_size)"
            )
        frames = read_display(
            check_inside(path, self.root, f"episode {episode}'s display file"),
            self.num_frames(episode),
        )
        self._display.put(episode, frames)
        return frames

    def jpeg(self, episode: int, frame: int) -> bytes:
        """JPEG bytes of one display frame (the same instant as training frame ``frame``)."""
        self.check_frame(episode, frame)
        return self._display_frames(episode).frame(frame)
