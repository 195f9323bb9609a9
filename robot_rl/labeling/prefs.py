"""Preference queries from the web page: a queue of segment pairs, answers saved at once.

The queue is a ``pairs_file`` written by query selection (``{"pairs": [{"a": {...}, "b": {...}}]}``)
or uniformly sampled pairs. Pairs already in ``labels/preferences.json`` (answered or skipped, by
anyone) are not asked again. Each tab reserves the pair it shows, so two tabs get different pairs.
Which segment is shown on the left is randomised per pair (against a side bias) and mapped back:
the stored ``preference`` is always P(a better).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.labels import (
    LabelStore,
    PreferencePair,
    Segment,
    check_equal_lengths,
    now,
    pair_key,
)
from robot_rl.errors import UserError
from robot_rl.labeling.frames import FrameSource, RequestError

CHOICES = {"left": 1.0, "right": 0.0, "equal": 0.5, "skip": None}  # P(left better)


def asdict_segment(s: Segment) -> dict[str, int]:
    return {"episode": s.episode, "start": s.start, "length": s.length}


def load_pairs_file(path: str | Path, frames: FrameSource) -> list[tuple[Segment, Segment]]:
    """Parse and validate a query file; UserError naming the file and the bad field."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: pairs file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("pairs"), list):
        raise UserError(f"{path}: field 'pairs' must be a list of {{a: segment, b: segment}}")
    out = []
    for i, p in enumerate(doc["pairs"]):
        segs = []
        for side in ("a", "b"):
            where = f"{path}: pairs[{i}].{side}"
            s = p.get(side) if isinstance(p, dict) else None
            if not isinstance(s, dict):
                raise UserError(f"{where} must be an object {{episode, start, length}}")
            vals = {}
            for k in ("episode", "start", "length"):
                v = s.get(k)
                if not isinstance(v, int) or isinstance(v, bool):
                    raise UserError(f"{where}.{k} must be an integer, got {v!r}")
                vals[k] = v
            seg = Segment(**vals)
            if seg.episode not in frames.episode_ids:
                raise UserError(f"{where}.episode: episode {seg.episode} is not in the dataset")
            T = frames.num_frames(seg.episode) - 1
            if seg.start < 0 or seg.length < 1 or seg.start + seg.length > T:
                raise UserError(
                    f"{where}: steps [{seg.start}, {seg.start + seg.length}) do not fit in "
                    f"episode {seg.episode} of {T} steps"
                )
            segs.append(seg)
        check_equal_lengths(segs[0], segs[1], f"{path}: pairs[{i}]")
        out.append((segs[0], segs[1]))
    return out


def sample_pairs(
    frames: FrameSource, length: int, num_pairs: int, seed: int
) -> list[tuple[Segment, Segment]]:
    """Distinct uniform random segment pairs, from two different episodes when possible.

    Segments are shortened to the 25th-percentile episode length if needed, so most episodes
    can be compared (one very short episode does not shrink every segment).
    """
    steps = {i: frames.num_frames(i) - 1 for i in frames.episode_ids}
    if not steps:
        raise UserError(f"{frames.root}: the dataset has no episodes to compare")
    length = min(length, int(np.percentile(list(steps.values()), 25, method="lower")))
    eligible = sorted(i for i, t in steps.items() if t >= length)
    rng = np.random.default_rng(seed)
    pairs: dict[tuple, tuple[Segment, Segment]] = {}
    for _ in range(20 * num_pairs):  # bounded: a tiny dataset has few distinct pairs
        if len(pairs) >= num_pairs:
            break
        if len(eligible) > 1:
            eps = rng.choice(eligible, size=2, replace=False).tolist()
        else:  # a single episode: compare two segments of it
            eps = eligible * 2
        a, b = (Segment(int(e), int(rng.integers(0, steps[e] - length + 1)), length) for e in eps)
        if a != b:
            pairs.setdefault(pair_key(a, b), (a, b))
    return list(pairs.values())


class PreferenceQueue:
    """Serves unanswered pairs to tabs and records their answers."""

    def __init__(
        self,
        frames: FrameSource,
        store: LabelStore,
        labeller: str,
        pairs_file: str | Path | None = None,
        segment_length: int = 25,
        num_pairs: int = 100,
        seed: int = 0,
    ):
        self.frames = frames
        self.store = store
        self.labeller = labeller
        if pairs_file is not None:
            self.pairs = load_pairs_file(pairs_file, frames)
            self.source = str(pairs_file)
        else:
            self.pairs = sample_pairs(frames, segment_length, num_pairs, seed)
            n = self.pairs[0][0].length if self.pairs else 0
            self.source = f"{len(self.pairs)} random pairs of {n}-step segments (seed {seed})"
        flips = np.random.default_rng([seed, 1]).integers(0, 2, size=len(self.pairs))
        self._a_on_left = [bool(f) for f in flips]
        self._lock = threading.Lock()
        self._reserved: dict[int, str] = {}  # pair index -> tab showing it
        self._undo: dict[str, list[tuple[int, PreferencePair]]] = {}

    def _answered(self) -> dict[tuple, float | None]:
        return {pair_key(p.a, p.b): p.preference for p in self.store.preferences()}

    def _pair_json(self, i: int) -> dict[str, Any]:
        a, b = self.pairs[i]
        left, right = (a, b) if self._a_on_left[i] else (b, a)
        return {"index": i, "left": asdict_segment(left), "right": asdict_segment(right)}

    def next(self, tab: str, prefer: int | None = None) -> dict[str, Any]:
        """The next unanswered pair not shown in another tab (``prefer`` first), with progress."""
        answered = self._answered()
        done = [i for i, (a, b) in enumerate(self.pairs) if pair_key(a, b) in answered]
        skipped = sum(answered[pair_key(*self.pairs[i])] is None for i in done)
        done_set = set(done)
        with self._lock:
            for i in [i for i, t in self._reserved.items() if t == tab]:
                del self._reserved[i]
            order = ([prefer] if prefer is not None else []) + list(range(len(self.pairs)))
            pick = next((i for i in order if i not in done_set and i not in self._reserved), None)
            if pick is not None:
                self._reserved[pick] = tab
        return {
            "pair": None if pick is None else self._pair_json(pick),
            "answered": len(done),
            "skipped": skipped,
            "total": len(self.pairs),
            "source": self.source,
        }

    def answer(self, tab: str, index: int, choice: str) -> dict[str, Any]:
        """Save the answer for pair ``index`` at once; returns the next pair."""
        if not 0 <= index < len(self.pairs):
            raise RequestError(404, f"pair {index} is not in the queue (0..{len(self.pairs) - 1})")
        if choice not in CHOICES:
            raise RequestError(400, f"field 'choice' must be one of {sorted(CHOICES)}")
        p_left = CHOICES[choice]
        pref = p_left if p_left is None or self._a_on_left[index] else 1.0 - p_left
        a, b = self.pairs[index]
        pair = PreferencePair(a, b, pref, self.labeller, now())
        self.store.add_preferences([pair])
        with self._lock:
            stack = self._undo.setdefault(tab, [])
            stack.append((index, pair))
            del stack[:-1000]
        return self.next(tab)

    def undo(self, tab: str) -> dict[str, Any]:
        """Remove this tab's last answer and show that pair again."""
        with self._lock:
            stack = self._undo.get(tab, [])
            item = stack.pop() if stack else None
        if item is None:
            return self.next(tab) | {"message": "nothing to undo in this tab"}
        index, pair = item
        removed = self.store.remove_preference(pair)
        msg = f"undid the answer to pair {index}" if removed else "that answer was already gone"
        return self.next(tab, prefer=index) | {"message": msg}
