"""The run scaffold both loops share: a checkpoint resumes agent, loop state, logs and clock;
each agent's discount is read in one place."""

from __future__ import annotations

import numpy as np
import torch

from robot_rl.agents import config_with, discount_of, make_agent
from robot_rl.training.logger import Logger, read_csv
from robot_rl.training.run import Checkpointer, RunSpec
from robot_rl.types import ActionSpec, ArraySpec, ObsSpec


def _spec() -> RunSpec:
    obs: ObsSpec = {"state": ArraySpec((5,), "float32")}
    return RunSpec("push", "state", 64, obs, ActionSpec(2))


def test_checkpointer_resumes_agent_loop_state_logs_and_clock(tmp_path):
    cfg = config_with("bc", hidden_dims=[8])
    spec = _spec()
    agent = make_agent("bc", cfg, spec.obs_spec, spec.action_spec)
    logger = Logger(tmp_path)
    for step in (10, 20, 30):
        logger.log("train", step, {"actor/loss": 1.0})
    ckpt = Checkpointer(tmp_path, agent, "pretrain", "bc", cfg, spec)
    assert ckpt.resume(torch.device("cpu"), logger) is None  # nothing to resume yet
    assert "step" not in read_csv(tmp_path / "train.csv")  # a killed start's rows are gone
    for step in (10, 20, 30):
        logger.log("train", step, {"actor/loss": 1.0})
    ckpt.save(20, {"step": 20, "elapsed_s": 5.0})

    fresh = make_agent("bc", cfg, spec.obs_spec, spec.action_spec)
    again = Checkpointer(tmp_path, fresh, "pretrain", "bc", cfg, spec)
    state = again.resume(torch.device("cpu"), logger)
    assert state is not None and state["step"] == 20
    assert read_csv(tmp_path / "train.csv")["step"] == [10, 20]  # rows after the checkpoint go
    assert again.elapsed() >= 5.0  # the clock continues from the checkpoint's
    for a, b in zip(agent.state_dict().values(), fresh.state_dict().values(), strict=True):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b)


def test_discount_of_each_agent():
    assert discount_of("iql", config_with("iql", discount=0.9)) == 0.9
    assert discount_of("sac", None) == 0.99
    assert np.isclose(discount_of("bc", None), 0.99)  # BC learns no values: the buffer's default
