"""Goal labels from the web page: label frames, mark to the end, undo per tab, import goal images.

Goal images are imported only from the folder named on the command line (``goals_from``) or from a
folder inside the dataset: the page cannot make the server read any other folder on the machine,
nor learn whether one exists.

Every action goes straight to ``LabelStore`` (atomic, locked, merged), so a killed server or a
second tab loses nothing. Undo stacks live in memory per browser tab: an undo reverts only the
entries this tab wrote and that nobody has overwritten since, restoring what was there before.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.format import atomic_write
from robot_rl.data.labels import FrameLabel, ImageLabel, LabelStore, now
from robot_rl.errors import UserError
from robot_rl.labeling.frames import FrameSource, RequestError, check_inside

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_MAX_UNDO = 1000


@dataclass
class _Action:
    written: list[FrameLabel]  # what this tab wrote (with its exact ``at`` stamp)
    previous: dict[tuple[int, int], FrameLabel | None]  # what each frame held before


class GoalSession:
    """Goal-frame labelling for one dataset and one labeller name."""

    def __init__(
        self,
        frames: FrameSource,
        store: LabelStore,
        labeller: str,
        goals_from: Path | None = None,
    ):
        self.frames = frames
        self.store = store
        self.labeller = labeller
        # Where imports may read: the folder named on the command line and the dataset itself.
        self.import_roots = [p.resolve() for p in (goals_from, frames.root) if p is not None]
        self._lock = threading.Lock()  # serialises read-then-write between tabs of this server
        self._undo: dict[str, list[_Action]] = {}
        self._visited: set[int] = set()

    def state(self, episode: int | None = None) -> dict[str, Any]:
        """Counts, plus the labels of ``episode`` (all labels if None)."""
        labels = self.store.frame_labels()
        images = self.store.image_labels()
        pos = sum(lab.label == 1 for lab in labels)
        visited = self._visited | {lab.episode for lab in labels}
        shown = [lab for lab in labels if episode is None or lab.episode == episode]
        return {
            "episode": episode,
            "labels": [
                {"episode": x.episode, "frame": x.frame, "label": x.label, "by": x.by}
                for x in sorted(shown, key=lambda x: (x.episode, x.frame))
            ],
            "images": [{"file": x.file, "label": x.label, "by": x.by} for x in images],
            "counts": {
                "labelled": len(labels),
                "positives": pos,
                "negatives": len(labels) - pos,
                "episodes_visited": len(visited & set(self.frames.episode_ids)),
                "episodes_total": len(self.frames.episode_ids),
                "goal_images": sum(x.label == 1 for x in images),
            },
        }

    def visit(self, episode: int) -> None:
        self.frames.num_frames(episode)  # validates
        self._visited.add(episode)

    def label(self, tab: str, episode: int, frame: int, label: int, to_end: bool) -> int:
        """Label one frame (or ``frame`` .. last frame); returns how many frames were written."""
        self.frames.check_frame(episode, frame)
        if label not in (0, 1):
            raise RequestError(400, "field 'label' must be 0 or 1")
        last = self.frames.num_frames(episode) - 1 if to_end else frame
        stamp = now()
        written = [
            FrameLabel(episode, f, label, self.labeller, stamp) for f in range(frame, last + 1)
        ]
        with self._lock:
            before = {(x.episode, x.frame): x for x in self.store.frame_labels()}
            self.store.set_frame_labels(written)
            stack = self._undo.setdefault(tab, [])
            stack.append(
                _Action(
                    written,
                    {(w.episode, w.frame): before.get((w.episode, w.frame)) for w in written},
                )
            )
            del stack[:-_MAX_UNDO]
        self._visited.add(episode)
        return len(written)

    def undo(self, tab: str) -> dict[str, Any]:
        """Revert this tab's last action; reports what was undone (nothing if none)."""
        with self._lock:
            stack = self._undo.get(tab, [])
            if not stack:
                return {"undone": 0, "message": "nothing to undo in this tab"}
            action = stack.pop()
            n = self.store.revert_frame_labels(action.written, action.previous)
        first = action.written[0]
        kept = len(action.written) - n
        msg = f"undid {n} frame label(s) in episode {first.episode}"
        if kept:
            msg += f"; {kept} relabelled since by another tab were kept"
        return {"undone": n, "episode": first.episode, "frame": first.frame, "message": msg}

    def import_folder(self, folder: str) -> dict[str, Any]:
        """Copy PNG/JPG goal images into labels/goal_images/ and label them positive."""
        src = self._import_source(folder)
        check_inside(self.store.goal_images_dir, self.frames.root, "labels/goal_images")
        return import_goal_images(self.store, src, self.frames.frame_shape, self.labeller)

    def _import_source(self, folder: str) -> Path:
        """``folder`` resolved, if imports may read it; else one 403 whether it exists or not."""
        try:
            real = Path(folder).expanduser().resolve()
        except (RuntimeError, ValueError, OSError):  # "~nobody", a NUL byte, a link loop
            real = None
        if real is None or not any(real.is_relative_to(root) for root in self.import_roots):
            raise RequestError(
                403,
                "refused: goal images are imported only from the folder given as goals_from= "
                "when the label stage starts, or from a folder inside the dataset",
            )
        return real


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")
    return stem or "goal"


def import_goal_images(
    store: LabelStore, folder: str | Path, frame_shape: tuple[int, ...], by: str
) -> dict[str, Any]:
    """Import every PNG/JPG of ``folder`` (resized to ``frame_shape`` [H, W, 3] if needed)."""
    import cv2

    src = Path(folder).expanduser()
    if not src.is_dir():
        raise RequestError(400, f"{src}: not a folder on this machine")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    real_src = src.resolve()
    if not files:
        raise RequestError(400, f"{src}: no .png/.jpg/.jpeg files in this folder")
    height, width = int(frame_shape[0]), int(frame_shape[1])
    dest_dir = store.goal_images_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    imported: list[str] = []
    messages: list[str] = []
    refused: list[str] = []
    for path in files:
        if not path.resolve().is_relative_to(real_src):
            refused.append(f"{path.name}: a link to a file outside this folder")
            continue
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            refused.append(f"{path}: not a readable image")
            continue
        channels = 1 if img.ndim == 2 else img.shape[2]
        if channels != 3:
            refused.append(f"{path}: has {channels} channel(s), expected 3 (RGB colour)")
            continue
        if img.dtype != np.uint8:
            refused.append(f"{path}: {img.dtype} pixels, expected 8-bit")
            continue
        if img.shape[:2] != (height, width):
            shrink = img.shape[0] > height
            interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            messages.append(
                f"{path.name}: resized from {img.shape[1]}x{img.shape[0]} to {width}x{height}"
            )
            img = cv2.resize(img, (width, height), interpolation=interp)
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            refused.append(f"{path}: could not be encoded as PNG")
            continue
        data = buf.tobytes()
        name = _free_name(dest_dir, _safe_stem(path.name), data)
        if not (dest_dir / name).exists():

            def write_png(f: Any, png: bytes = data) -> None:
                f.write(png)

            atomic_write(dest_dir / name, write_png)
        imported.append(f"goal_images/{name}")
    if imported:
        stamp = now()
        store.add_image_labels([ImageLabel(f, 1, by, stamp) for f in imported])
    return {"imported": imported, "messages": messages, "refused": refused}


def _free_name(dest_dir: Path, stem: str, data: bytes) -> str:
    """``stem.png``, or the same file already imported, or ``stem_<n>.png`` if taken."""
    for n in range(10_000):
        name = f"{stem}.png" if n == 0 else f"{stem}_{n}.png"
        target = dest_dir / name
        if target.is_symlink():  # never read through (or reuse) a link planted in the folder
            continue
        if not target.exists() or target.read_bytes() == data:
            return name
    raise UserError(f"{dest_dir}: too many files named {stem}_*.png")
