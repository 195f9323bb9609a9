"""Dataset safety (the hostile-user test): file modes, episode names, locks, temp files, partial
reward columns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
