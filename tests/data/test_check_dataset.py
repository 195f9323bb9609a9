from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robot_rl.data import Problem, check_dataset
from robot_rl.data.format import load_npz, save_npz


def _edit(root: Path, episode_id: int, fn: Callable[[dict[str, np.ndarray]], None]) -> str:
    path = root / "episodes" / f"{episode_id:06d}.npz"
    arrays = load_npz(path)
    fn(arrays)
    save_npz(path, arrays)
    return f"episodes/{path.name}"


def _find(probs: list[Problem], file: str, key: str, text: str) -> bool:
    return any(p.file == file and p.key == key and text in p.message for p in probs)


def test_healthy_datasets_have_no_problems(tiny_state_dataset, tiny_pixel_dataset) -> None:
    assert check_dataset(tiny_state_dataset) == []
    assert check_dataset(tiny_pixel_dataset) == []


def _truncate(root: Path) -> tuple[str, str, str]:
    path = root / "episodes" / "000001.npz"
    path.write_bytes(path.read_bytes()[:-3000])
    return "episodes/000001.npz", "", "corrupt or truncated"


def _garbage(root: Path) -> tuple[str, str, str]:
    (root / "episodes" / "000002.npz").write_bytes(b"\x00" * 100)
    return "episodes/000002.npz", "", "corrupt or truncated"


def _nan_pixels_proprio(root: Path) -> tuple[str, str, str]:
    f = _edit(root, 0, lambda a: a["obs.proprio"].__setitem__((3, 2), np.inf))
    return f, "obs.proprio", "NaN or inf"


def _nan_reward(root: Path) -> tuple[str, str, str]:
    f = _edit(root, 1, lambda a: a["reward.env"].__setitem__(0, np.nan))
    return f, "reward.env", "NaN or inf"


def _missing_key(root: Path) -> tuple[str, str, str]:
    return _edit(root, 2, lambda a: a.pop("success")), "success", "missing"


def _wrong_shape(root: Path) -> tuple[str, str, str]:
    def fn(a: dict[str, np.ndarray]) -> None:
        a["obs.pixels"] = a["obs.pixels"][:, :32]

    return _edit(root, 3, fn), "obs.pixels", "shape"


def _wrong_dtype(root: Path) -> tuple[str, str, str]:
    def fn(a: dict[str, np.ndarray]) -> None:
        a["obs.proprio"] = a["obs.proprio"].astype(np.float64)

    return _edit(root, 3, fn), "obs.proprio", "dtype float64"


def _length_mismatch(root: Path) -> tuple[str, str, str]:
    def fn(a: dict[str, np.ndarray]) -> None:
        a["action"] = a["action"][:-1]

    return _edit(root, 4, fn), "obs.pixels", "T+1 frames"


def _both_flags(root: Path) -> tuple[str, str, str]:
    def fn(a: dict[str, np.ndarray]) -> None:
        a["terminated"][-1] = a["truncated"][-1] = True

    return _edit(root, 5, fn), "terminated", "both true"


def _undeclared_obs(root: Path) -> tuple[str, str, str]:
    def fn(a: dict[str, np.ndarray]) -> None:
        a["obs.depth"] = np.zeros((len(a["action"]) + 1, 4), np.float32)

    return _edit(root, 0, fn), "obs.depth", "not declared"


def _leftover_tmp(root: Path) -> tuple[str, str, str]:
    (root / "episodes" / ".000007.npz.tmp-abc123").write_bytes(b"PK")
    return "episodes/.000007.npz.tmp-abc123", "", "leftover temp file"


def _bad_meta(root: Path) -> tuple[str, str, str]:
    meta = json.loads((root / "meta.json").read_text())
    meta["action_spec"]["dim"] = "four"
    (root / "meta.json").write_text(json.dumps(meta))
    return "meta.json", "", "action_spec.dim"


def _missing_meta(root: Path) -> tuple[str, str, str]:
    (root / "meta.json").unlink()
    return "meta.json", "", "file not found"


def _reward_column_missing(root: Path) -> tuple[str, str, str]:
    def fn(a: dict[str, np.ndarray]) -> None:
        a["reward.goal"] = np.zeros(len(a["action"]), np.float32)

    _edit(root, 0, fn)  # a relabel that stopped after the first episode
    return "episodes/000001.npz", "reward.goal", "reward column missing"


@pytest.mark.parametrize(
    "damage",
    [
        _truncate,
        _garbage,
        _nan_pixels_proprio,
        _nan_reward,
        _missing_key,
        _wrong_shape,
        _wrong_dtype,
        _length_mismatch,
        _both_flags,
        _undeclared_obs,
        _leftover_tmp,
        _bad_meta,
        _missing_meta,
        _reward_column_missing,
    ],
)
def test_check_finds_each_problem(tiny_pixel_dataset: Path, damage) -> None:
    file, key, text = damage(tiny_pixel_dataset)
    probs = check_dataset(tiny_pixel_dataset)
    assert _find(probs, file, key, text), probs


def test_check_reports_every_episode_and_never_raises(tiny_state_dataset: Path) -> None:
    for i in range(6):
        p = tiny_state_dataset / "episodes" / f"{i:06d}.npz"
        p.write_bytes(p.read_bytes()[: 50 * (i + 1)])
    probs = check_dataset(tiny_state_dataset)
    assert sorted({p.file for p in probs}) == [f"episodes/{i:06d}.npz" for i in range(6)]
    assert check_dataset(tiny_state_dataset / "missing")[0].message == "dataset directory not found"
