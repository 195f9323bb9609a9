"""Dataset safety (the hostile-user test): file modes, episode names, locks, temp files, partial
reward columns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tinydata import tiny_meta

from robot_rl.data import Dataset, DatasetWriter, Episode, check_dataset
from robot_rl.data import format as fmt
from robot_rl.errors import UserError


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


HOLD = """
import sys, time
from robot_rl.data.lock import dir_lock
with dir_lock(sys.argv[1], "dataset"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_reward_column_is_refused_while_another_writer_holds_the_dataset(
    tiny_state_dataset: Path,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tiny_state_dataset)], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(UserError, match=f"dataset is in use by pid {holder.pid}"):
            Dataset(tiny_state_dataset).add_reward_column("x", _zeros, {})
    finally:
        holder.kill()
        holder.wait()
    assert Dataset(tiny_state_dataset).reward_keys == ["reward.env"]


def _zeros(ep: Episode) -> np.ndarray:
    return np.zeros(ep.length, np.float32)


def test_a_writer_clears_temp_files_a_killed_writer_left(tiny_state_dataset: Path) -> None:
    left = [
        tiny_state_dataset / "episodes" / ".000003.npz.tmp-k1ll3d",
        tiny_state_dataset / ".manifest.json.tmp-k1ll3d",
    ]
    for p in left:
        p.write_bytes(b"PK\x03")
    assert len(check_dataset(tiny_state_dataset)) == 2
    Dataset(tiny_state_dataset).add_reward_column("x", _zeros, {})
    assert not any(p.exists() for p in left)
    assert check_dataset(tiny_state_dataset) == []


def _interrupted_relabel(root: Path) -> None:
    """What a relabel killed after two episodes leaves: the column in episodes 0 and 1 only."""
    ds = Dataset(root)
    for i in (0, 1):
        ds._add_column_to(i, "reward.goal", _zeros)


def test_pretrain_after_an_interrupted_relabel_names_the_episodes(tiny_state_dataset: Path) -> None:
    import torch

    from robot_rl.training.offline import load_offline_buffer

    _interrupted_relabel(tiny_state_dataset)
    with pytest.raises(UserError) as e:
        load_offline_buffer(
            str(tiny_state_dataset), "reward.goal", ("state",), 0.99, torch.device("cpu"),
            show_progress=False,
        )  # fmt: skip
    msg = str(e.value)
    assert "missing from 4 of 6 episodes" in msg and "000002.npz" in msg and "relabel" in msg
    assert "\n" not in msg


def test_a_column_no_episode_has_is_still_not_found(tiny_state_dataset: Path) -> None:
    with pytest.raises(UserError, match=r"'reward.goal' not found \(has \['reward.env'\]\)"):
        Dataset(tiny_state_dataset).require_reward_column("reward.goal")


def test_relabel_run_again_finishes_an_interrupted_one(tiny_state_dataset: Path) -> None:
    _interrupted_relabel(tiny_state_dataset)
    assert any("reward column missing" in p.message for p in check_dataset(tiny_state_dataset))
    Dataset(tiny_state_dataset).add_reward_column("goal", _zeros, {"kind": "test"})
    assert check_dataset(tiny_state_dataset) == []
    Dataset(tiny_state_dataset).require_reward_column("reward.goal")


def test_checkpoint_directories_keep_the_umask(tmp_path):
    import os

    from robot_rl.data.io import atomic_dir

    old = os.umask(0o002)
    try:
        with atomic_dir(tmp_path / "ckpt") as d:
            (d / "x").write_text("1")
    finally:
        os.umask(old)
    assert (tmp_path / "ckpt").stat().st_mode & 0o777 == 0o775
