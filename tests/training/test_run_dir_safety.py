"""What a run may delete and leave: overwrite=true replaces only a run of the same stage, a run
that stops on bad input leaves nothing behind, and a second writer of a run is refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_offline_loop import cfg_for

from robot_rl.errors import UserError
from robot_rl.training.offline import pretrain


def test_overwrite_refuses_what_is_not_a_pretrain_run(tmp_path, tiny_state_dataset, monkeypatch):
    precious = tmp_path / "work"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    monkeypatch.chdir(precious)
    for out, why in (
        (".", "working directory"),
        (str(tmp_path), "working directory"),  # a parent of it
        (str(tiny_state_dataset), "is a dataset"),
    ):
        with pytest.raises(UserError, match=why):
            pretrain(cfg_for(tiny_state_dataset, out, overwrite=True))
    other = tmp_path / "other"
    other.mkdir()
    (other / "paper.tex").write_text("x")
    with pytest.raises(UserError, match="no run_config.json"):
        pretrain(cfg_for(tiny_state_dataset, other, overwrite=True))
    assert (precious / "notes.txt").read_text() == "mine" and (other / "paper.tex").exists()
    assert (tiny_state_dataset / "meta.json").exists()


def test_overwrite_replaces_a_pretrain_run(tmp_path, tiny_state_dataset):
    run = pretrain(cfg_for(tiny_state_dataset, tmp_path / "run", steps=10))
    with pytest.raises(UserError, match="different config"):
        pretrain(cfg_for(tiny_state_dataset, run, steps=10, seed=1))
    pretrain(cfg_for(tiny_state_dataset, run, steps=10, seed=1, overwrite=True))
    assert '"seed": 1' in (run / "run_config.json").read_text()


def test_a_run_stopped_by_bad_input_leaves_nothing(tmp_path, tiny_state_dataset):
    out = tmp_path / "run"
    with pytest.raises(UserError, match="reward column .reward.nope. not found"):
        pretrain(cfg_for(tiny_state_dataset, out, reward_key="reward.nope"))
    assert not out.exists()
    pretrain(cfg_for(tiny_state_dataset, out, steps=10))  # the corrected command just runs
    assert (out / "checkpoint" / "agent.pt").exists()


HOLD = """
import sys, time
from robot_rl.data.lock import dir_lock
with dir_lock(sys.argv[1], "pretrain run"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_of_a_run_is_refused(tmp_path, tiny_state_dataset):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"in use by pid {p.pid}"):
            pretrain(cfg_for(tiny_state_dataset, out, steps=10))
    finally:
        p.kill()
        p.wait()
    assert sorted(os.listdir(out)) == [".lock"]  # the refused run wrote nothing
