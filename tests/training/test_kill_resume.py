"""SIGKILL at a random moment, re-run: the run finishes and nothing on disk is corrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from robot_rl.training.checkpoint import load_agent
from robot_rl.training.logger import read_csv


def start(args: list[str], cwd) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "robot_rl.cli.main", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.parametrize("delay", [3.0])
def test_pretrain_survives_sigkill(tiny_state_dataset, tmp_path, delay):
    args = [
        "pretrain",
        f"dataset={tiny_state_dataset}",
        "agent=iql",
        "steps=400",
        "checkpoint_every=25",
        "log_every=25",
        "eval.episodes=0",
        "progress=false",
        "agent.hidden_dims=[32,32]",
        "agent.batch_size=32",
        f"out={tmp_path / 'run'}",
    ]
    p = start(args, tmp_path)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = subprocess.run(
        [sys.executable, "-m", "robot_rl.cli.main", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    agent, info = load_agent(tmp_path / "run")
    assert info.step == 400
    assert np.all(np.isfinite(agent.act({"state": np.zeros(25, np.float32)})))
    steps = read_csv(tmp_path / "run" / "train.csv")["step"]
    assert steps == sorted(set(steps)) and steps[-1] == 400  # no duplicated or lost rows
    leftovers = [p for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name or ".old" in p.name]
    assert not leftovers, leftovers
