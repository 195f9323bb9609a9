"""``check_dataset``: every problem in a dataset directory, without raising."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.data.display import display_path, display_problems
from robot_rl.data.format import (
    _EPISODE_RE,
    DISPLAY_DIR,
    EPISODES_DIR,
    MANIFEST_FILE,
    META_FILE,
    REWARD_PREFIX,
    TMP_MARKER,
    DatasetMeta,
    episode_id_of,
    episode_path,
    episode_problems,
)
from robot_rl.errors import UserError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: the file (relative to the root), the key, what."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


def _read_all(path: Path) -> dict[str, np.ndarray]:
    # Reading every array (not just the zip directory) is what catches truncated members.
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _name_problem(name: str, names: Collection[str]) -> str | None:
    """Why an episodes/ file name is not an episode (None: it is one)."""
    if episode_id_of(name) is not None:
        return None
    m = _EPISODE_RE.match(name)
    if m is None:
        return "unexpected file (episodes are <id>.npz)"
    canonical = episode_path(Path(), int(m.group(1))).name
    if canonical in names:
        return (
            f"duplicate episode id {int(m.group(1))} (also {EPISODES_DIR}/{canonical}); readers "
            f"use only {canonical}: remove this file, or replace {canonical} with it"
        )
    return f"episode file not named <6-digit id>.npz, so readers skip it: rename it {canonical}"


def _ids_text(ids: list[int]) -> str:
    names = ", ".join(episode_path(Path(), i).name for i in ids[:3])
    return names + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def _plan_problems(meta: DatasetMeta, ids: list[int]) -> list[Problem]:
    """Episodes a collect planned (provenance: ids 0..episodes-1) but not on disk, or on disk
    but outside its plan: the provenance must describe what is there."""
    total = meta.provenance.get("episodes")
    if meta.provenance.get("source") != "robot-rl collect" or not isinstance(total, int):
        return []
    missing = sorted(set(range(total)) - set(ids))
    extra = sorted(set(ids) - set(range(total)))
    probs = []
    if missing:
        probs.append(
            Problem(
                EPISODES_DIR,
                "",
                f"{len(missing)} of the {total} episodes meta.json's provenance "
                f"plans are missing ({_ids_text(missing)}): run the same collect again to finish",
            )
        )
    if extra:
        probs.append(
            Problem(
                EPISODES_DIR,
                "",
                f"{len(extra)} episodes are not in meta.json's provenance "
                f"(ids 0-{total - 1}): {_ids_text(extra)}",
            )
        )
    return probs


def _display_file_problems(root: Path, lengths: dict[int, int]) -> list[Problem]:
    """Problems of the display frames (``display/<id>.npz``, optional): each must belong to an
    episode and hold one frame per observation frame. ``lengths``: T of each readable episode."""
    folder = root / DISPLAY_DIR
    if not folder.is_dir():
        return []
    probs = []
    for name in sorted(os.listdir(folder)):
        rel = f"{DISPLAY_DIR}/{name}"
        i = episode_id_of(name)
        if TMP_MARKER in name:
            probs.append(Problem(rel, "", "leftover temp file from an interrupted write"))
        elif i is None:
            probs.append(Problem(rel, "", "unexpected file (display frames are <6-digit id>.npz)"))
        elif not episode_path(root, i).exists():
            probs.append(
                Problem(rel, "", f"display frames of episode {i}, which is not in {EPISODES_DIR}/")
            )
        elif i in lengths:
            try:
                arrays = _read_all(display_path(root, i))
            except Exception as e:  # any failure to read is the finding, never a crash
                probs.append(
                    Problem(rel, "", f"corrupt or truncated npz ({type(e).__name__}: {e})")
                )
                continue
            probs.extend(Problem(rel, k, m) for k, m in display_problems(arrays, lengths[i] + 1))
    return probs


def check_dataset(root: str | Path, tasks: Collection[str] | None = None) -> list[Problem]:
    """All problems found in the dataset at ``root`` (empty list = healthy).

    ``tasks``: the known task names; a dataset whose task is not one of them is a problem.
    """
    root = Path(root)
    probs: list[Problem] = []
    if not root.is_dir():
        return [Problem(str(root), "", "dataset directory not found")]
    meta: DatasetMeta | None = None
    try:
        meta = DatasetMeta.load(root)
    except UserError as e:
        probs.append(Problem(META_FILE, "", str(e)))
    if meta is not None and tasks is not None and meta.task not in tasks:
        probs.append(
            Problem(META_FILE, "task", f"unknown task {meta.task!r} (known: {', '.join(tasks)})")
        )
    manifest_cols: set[str] | None = None
    mpath = root / MANIFEST_FILE
    if mpath.exists():
        try:
            cols = json.loads(mpath.read_text())["reward_columns"]
            if not isinstance(cols, dict):
                raise TypeError("not an object")
            manifest_cols = set(cols)
        except (OSError, ValueError, KeyError, TypeError) as e:
            probs.append(Problem(MANIFEST_FILE, "reward_columns", f"invalid ({e})"))
    for name in sorted(os.listdir(root)):
        if TMP_MARKER in name:
            probs.append(Problem(name, "", "leftover temp file from an interrupted write"))
    ep_dir = root / EPISODES_DIR
    if not ep_dir.is_dir():
        probs.append(Problem(EPISODES_DIR, "", "episodes directory missing"))
        return probs
    reward_sets: dict[str, set[str]] = {}
    lengths: dict[int, int] = {}  # T of each readable episode, for its display frames
    names = sorted(os.listdir(ep_dir))
    if not any(episode_id_of(n) is not None for n in names):
        probs.append(Problem(EPISODES_DIR, "", "no episodes: the dataset is empty"))
    if meta is not None:
        ids = [i for n in names if (i := episode_id_of(n)) is not None]
        probs.extend(_plan_problems(meta, ids))
    for name in names:
        rel = f"{EPISODES_DIR}/{name}"
        if TMP_MARKER in name:
            probs.append(Problem(rel, "", "leftover temp file from an interrupted write"))
            continue
        why = _name_problem(name, names)
        if why is not None:
            probs.append(Problem(rel, "", why))
            continue
        try:
            arrays = _read_all(ep_dir / name)
        except Exception as e:  # any failure to read is the finding, never a crash
            probs.append(Problem(rel, "", f"corrupt or truncated npz ({type(e).__name__}: {e})"))
            continue
        if meta is not None:
            probs.extend(Problem(rel, k, m) for k, m in episode_problems(arrays, meta))
        reward_sets[rel] = {k for k in arrays if k.startswith(REWARD_PREFIX)}
        ep_id, action = episode_id_of(name), arrays.get("action")
        if ep_id is not None and action is not None and action.ndim == 2:
            lengths[ep_id] = int(action.shape[0])
    # Reward columns must be the same in every episode (a relabel interrupted midway is not).
    expected = set(manifest_cols or ()).union(*reward_sets.values())
    for rel, keys in reward_sets.items():
        for k in sorted(expected - keys):
            probs.append(
                Problem(
                    rel, k, "reward column missing (present in other episodes or manifest.json)"
                )
            )
        if manifest_cols is not None:
            for k in sorted(keys - manifest_cols):
                probs.append(Problem(rel, k, "reward column not recorded in manifest.json"))
    probs.extend(_display_file_problems(root, lengths))
    return probs
