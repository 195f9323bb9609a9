"""Goal-image labels and preference pairs, stored beside a dataset in ``labels/``.

Files are small JSON documents rewritten atomically (temp file + rename) under an exclusive
``flock``, so a killed writer never leaves a partial file and two writers (two browser tabs, the
synthetic labeller and the web app) never lose each other's labels: every write re-reads the file
under the lock and merges.

``labels/goals.json``::

    {"schema_version": 1,
     "frames": [{"episode": 3, "frame": 12, "label": 1, "by": "human", "at": "2026-...Z"}],
     "images": [{"file": "goal_images/0001.png", "label": 1, "by": "import", "at": "..."}]}

``labels/preferences.json``::

    {"schema_version": 1,
     "pairs": [{"a": {"episode": 1, "start": 0, "length": 25},
                "b": {"episode": 4, "start": 10, "length": 25},
                "preference": 1.0, "by": "teacher:oracle", "at": "..."}]}

``preference`` is the probability that ``a`` is better: 1.0 (a), 0.0 (b), 0.5 (equal);
``null`` records a skipped query (asked, not answered) so it is not asked again. The two
segments of a pair have the same length (reading a pair that does not is an error).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robot_rl.data.format import atomic_write_json
from robot_rl.errors import UserError

SCHEMA_VERSION = 1
GOALS_FILE = "goals.json"
PREFS_FILE = "preferences.json"


def now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class FrameLabel:
    episode: int
    frame: int
    label: int  # 1 = success / goal, 0 = not
    by: str = "human"
    at: str = ""


@dataclass(frozen=True)
class ImageLabel:
    file: str  # relative to labels/
    label: int
    by: str = "import"
    at: str = ""


@dataclass(frozen=True)
class Segment:
    episode: int
    start: int
    length: int


@dataclass(frozen=True)
class PreferencePair:
    a: Segment
    b: Segment
    preference: float | None  # P(a better); None = skipped
    by: str = "human"
    at: str = ""


def pair_key(a: Segment, b: Segment) -> tuple[tuple[int, int, int], ...]:
    """Order-free identity of a pair (a-vs-b and b-vs-a are the same question)."""
    sa, sb = (a.episode, a.start, a.length), (b.episode, b.start, b.length)
    return (sa, sb) if sa <= sb else (sb, sa)


def check_equal_lengths(a: Segment, b: Segment, where: str) -> None:
    """A preference compares two spans of the same number of steps: of unequal ones, the
    shorter's summed reward is better or worse for its length alone, not for what it shows."""
    if a.length != b.length:
        raise UserError(
            f"{where}: segments a and b must have the same length (a.length={a.length}, "
            f"b.length={b.length})"
        )


class LabelStore:
    """Reads and updates the labels of one dataset directory."""

    def __init__(self, dataset_root: str | Path):
        self.root = Path(dataset_root) / "labels"

    @property
    def goal_images_dir(self) -> Path:
        return self.root / "goal_images"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self, name: str, list_keys: tuple[str, ...]) -> dict[str, Any]:
        path = self.root / name
        if not path.exists():
            return {"schema_version": SCHEMA_VERSION, **{k: [] for k in list_keys}}
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
        if not isinstance(doc, dict):
            raise UserError(f"{path}: expected a JSON object at the top level")
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise UserError(f"{path}: field 'schema_version' must be {SCHEMA_VERSION}")
        for k in list_keys:
            if not isinstance(doc.setdefault(k, []), list):
                raise UserError(f"{path}: field '{k}' must be a list")
        return doc

    def _update(self, name: str, list_keys: tuple[str, ...], fn: Callable[[dict], None]) -> None:
        with self._locked():
            doc = self._read(name, list_keys)
            fn(doc)
            atomic_write_json(self.root / name, doc)

    # -- goal labels -------------------------------------------------------------------------
    def frame_labels(self) -> list[FrameLabel]:
        """Current label per (episode, frame); a later label for the same frame wins."""
        doc = self._read(GOALS_FILE, ("frames", "images"))
        out: dict[tuple[int, int], FrameLabel] = {}
        for i, d in enumerate(doc["frames"]):
            try:
                lab = FrameLabel(
                    int(d["episode"]),
                    int(d["frame"]),
                    int(d["label"]),
                    str(d.get("by", "")),
                    str(d.get("at", "")),
                )
            except (KeyError, TypeError, ValueError) as e:
                raise UserError(f"{self.root / GOALS_FILE}: frames[{i}] is malformed ({e})")
            if lab.label not in (0, 1):
                raise UserError(f"{self.root / GOALS_FILE}: frames[{i}].label must be 0 or 1")
            out[(lab.episode, lab.frame)] = lab
        return list(out.values())

    def image_labels(self) -> list[ImageLabel]:
        doc = self._read(GOALS_FILE, ("frames", "images"))
        try:
            return [
                ImageLabel(
                    str(d["file"]), int(d["label"]), str(d.get("by", "")), str(d.get("at", ""))
                )
                for d in doc["images"]
            ]
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{self.root / GOALS_FILE}: an entry of 'images' is malformed ({e})")

    def set_frame_labels(self, labels: list[FrameLabel]) -> None:
        """Add or replace labels (keyed by episode and frame)."""
        stamp = now()

        def apply(doc: dict) -> None:
            keys = {(lab.episode, lab.frame) for lab in labels}
            doc["frames"] = [d for d in doc["frames"] if (d["episode"], d["frame"]) not in keys]
            doc["frames"] += [asdict(lab) | {"at": lab.at or stamp} for lab in labels]

        self._update(GOALS_FILE, ("frames", "images"), apply)

    def revert_frame_labels(
        self, written: list[FrameLabel], previous: dict[tuple[int, int], FrameLabel | None]
    ) -> int:
        """Undo ``written``: frames still holding exactly those entries (same ``by`` and ``at``)
        get ``previous`` back; a frame relabelled since by someone else is kept. Returns the
        number of frames reverted."""
        mine = {(w.episode, w.frame): w for w in written}
        reverted = [0]

        def apply(doc: dict) -> None:
            kept, restored = [], []
            for d in doc["frames"]:
                key = (d.get("episode"), d.get("frame"))
                w = mine.get(key)
                if w is not None and (d.get("at"), d.get("by")) == (w.at, w.by):
                    old = previous.get(key)
                    if old is not None:
                        restored.append(asdict(old))
                    reverted[0] += 1
                else:
                    kept.append(d)
            doc["frames"] = kept + restored

        self._update(GOALS_FILE, ("frames", "images"), apply)
        return reverted[0]

    def add_image_labels(self, labels: list[ImageLabel]) -> None:
        stamp = now()

        def apply(doc: dict) -> None:
            files = {lab.file for lab in labels}
            doc["images"] = [d for d in doc["images"] if d["file"] not in files]
            doc["images"] += [asdict(lab) | {"at": lab.at or stamp} for lab in labels]

        self._update(GOALS_FILE, ("frames", "images"), apply)

    # -- preferences ---------------------------------------------------------------------------
    def preferences(self) -> list[PreferencePair]:
        doc = self._read(PREFS_FILE, ("pairs",))
        out = []
        for i, d in enumerate(doc["pairs"]):
            try:
                pref = d["preference"]
                out.append(
                    PreferencePair(
                        Segment(**{k: int(v) for k, v in d["a"].items()}),
                        Segment(**{k: int(v) for k, v in d["b"].items()}),
                        None if pref is None else float(pref),
                        str(d.get("by", "")),
                        str(d.get("at", "")),
                    )
                )
            except (KeyError, TypeError, ValueError) as e:
                raise UserError(f"{self.root / PREFS_FILE}: pairs[{i}] is malformed ({e})")
            if pref is not None and not 0.0 <= float(pref) <= 1.0:
                raise UserError(
                    f"{self.root / PREFS_FILE}: pairs[{i}].preference must be in [0, 1]"
                )
            check_equal_lengths(out[-1].a, out[-1].b, f"{self.root / PREFS_FILE}: pairs[{i}]")
        return out

    def add_preferences(self, pairs: list[PreferencePair]) -> None:
        stamp = now()

        def apply(doc: dict) -> None:
            doc["pairs"] += [asdict(p) | {"at": p.at or stamp} for p in pairs]

        self._update(PREFS_FILE, ("pairs",), apply)

    def remove_preference(self, pair: PreferencePair) -> bool:
        """Undo exactly ``pair`` (same segments, ``by`` and ``at``); False if it is gone."""
        target = (asdict(pair.a), asdict(pair.b), pair.by, pair.at)
        found = [False]

        def apply(doc: dict) -> None:
            for i in range(len(doc["pairs"]) - 1, -1, -1):
                d = doc["pairs"][i]
                if (d.get("a"), d.get("b"), d.get("by"), d.get("at")) == target:
                    doc["pairs"].pop(i)
                    found[0] = True
                    return

        self._update(PREFS_FILE, ("pairs",), apply)
        return found[0]
