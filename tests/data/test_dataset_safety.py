"""Dataset safety (the hostile-user test): file modes, episode names, locks, temp files, partial
reward columns."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tinydata import tiny_meta

from robot_rl.data import Dataset, DatasetWriter, check_dataset
from robot_rl.data import format as fmt


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_keep_the_users_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        fmt.atomic_write_json(tmp_path / "meta.json", {"a": 1})
        fmt.save_npz(tmp_path / "episodes" / "000000.npz", {})
    finally:
        os.umask(old)
    for path in (tmp_path / "meta.json", tmp_path / "episodes" / "000000.npz"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


def _check_finds(root: Path, file: str, text: str, **kw: object) -> None:
    probs = check_dataset(root, **kw)  # type: ignore[arg-type]
    assert any(p.file == file and text in p.message for p in probs), probs


def test_check_flags_an_empty_dataset(tmp_path: Path) -> None:
    DatasetWriter(tmp_path / "ds", tiny_meta("state"))
    _check_finds(tmp_path / "ds", "episodes", "no episodes")


def test_check_flags_an_unknown_task(tiny_state_dataset: Path) -> None:
    assert check_dataset(tiny_state_dataset, tasks=["tiny", "push"]) == []
    _check_finds(tiny_state_dataset, "meta.json", "unknown task 'tiny'", tasks=["push"])


def test_a_second_name_for_an_episode_id_is_not_a_second_episode(tiny_state_dataset: Path) -> None:
    eps = tiny_state_dataset / "episodes"
    shutil.copy(eps / "000004.npz", eps / "4.npz")
    shutil.copy(eps / "000005.npz", eps / "0000007.npz")
    assert Dataset(tiny_state_dataset).episode_ids == [0, 1, 2, 3, 4, 5]
    _check_finds(tiny_state_dataset, "episodes/4.npz", "duplicate episode id 4")
    _check_finds(tiny_state_dataset, "episodes/0000007.npz", "rename it 000007.npz")


def test_check_names_a_truncated_episode(tiny_state_dataset: Path) -> None:
    path = tiny_state_dataset / "episodes" / "000003.npz"
    path.write_bytes(path.read_bytes()[:-500])
    probs = check_dataset(tiny_state_dataset)
    assert [p.file for p in probs] == ["episodes/000003.npz"], probs
    assert "truncated" in probs[0].message
