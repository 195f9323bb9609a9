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
def test_pretrain_survives_sigkill(tiny_state_dataset, tmp_path):
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
    _kill_then_finish(args, tmp_path, lambda: (tmp_path / "run" / "checkpoint").exists())
    agent, info = load_agent(tmp_path / "run")
    assert info.step == 400
    assert np.all(np.isfinite(agent.act({"state": np.zeros(25, np.float32)})))
    steps = read_csv(tmp_path / "run" / "train.csv")["step"]
    assert steps == sorted(set(steps)) and steps[-1] == 400  # no duplicated or lost rows
    leftovers = [p for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name or ".old" in p.name]
    assert not leftovers, leftovers


def _kill_then_finish(args: list[str], cwd, ready) -> None:
    """Start, SIGKILL as soon as ``ready()`` (work is under way, not finished), run again."""
    p = start(args, cwd)
    deadline = time.time() + 120
    while not ready() and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert p.poll() is None, "finished before it could be killed: make the job longer"
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = subprocess.run(
        [sys.executable, "-m", "robot_rl.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_collect_survives_sigkill(tmp_path):
    from robot_rl.data import Dataset, check_dataset

    out = tmp_path / "data"
    _kill_then_finish(
        [
            "collect",
            "task=drawer",
            "obs=state",
            "episodes=150",
            "workers=1",
            "mixture=expert:0.5+play:0.5",
            f"out={out}",
            "progress=false",
        ],
        tmp_path,
        lambda: len(list(out.glob("episodes/*.npz"))) >= 5,
    )
    assert len(Dataset(out)) == 150 and check_dataset(out) == []


@pytest.mark.slow
def test_finetune_survives_sigkill(tmp_path):
    from robot_rl.training.checkpoint import load_loop_state

    run = tmp_path / "run"
    _kill_then_finish(
        [
            "finetune",
            "method=sac",
            "task=drawer",
            "obs=state",
            "env_steps=300",
            "random_steps=50",
            "checkpoint_every=50",
            "log_every=50",
            "eval.episodes=0",
            "agent.hidden_dims=[32,32]",
            "agent.batch_size=32",
            "progress=false",
            f"out={run}",
        ],
        tmp_path,
        lambda: (run / "checkpoint" / "state.pt").exists(),
    )
    state = load_loop_state(run / "checkpoint")
    assert state["step"] == 300 and state["online"]["valid"].sum() > 0
    steps = read_csv(run / "train.csv")["step"]
    assert steps == sorted(set(steps)) and steps[-1] == 300
    assert not [p for p in run.rglob("*") if ".tmp" in p.name or ".old" in p.name]
