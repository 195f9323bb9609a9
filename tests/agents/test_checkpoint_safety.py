"""Agent checkpoints are loaded as tensors and plain data only: a crafted agent.pt cannot run
code, and a damaged one is a one-line error naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.agents.checkpoint import load_agent_state
from robot_rl.errors import UserError


class Payload:
    """Unpickling this runs os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_is_refused_without_running_its_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "agent.pt"
    torch.save({"actor": Payload(marker)}, path)
    with pytest.raises(UserError, match="agent.pt: not a readable agent checkpoint"):
        load_agent_state(path)
    assert not marker.exists()


def test_truncated_and_foreign_files_are_one_line_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"actor": {"w": torch.ones(3)}, "num_updates": 4}, good)
    assert load_agent_state(good)["num_updates"] == 4
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(UserError, match="cut.pt"):
        load_agent_state(cut)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(UserError, match="text.pt") as err:
        load_agent_state(text)
    assert "\n" not in str(err.value)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(UserError, match="not an agent's state dict"):
        load_agent_state(listed)


def test_loop_state_loads_arrays_and_refuses_code(tmp_path: Path) -> None:
    from robot_rl.training.checkpoint import load_loop_state

    rng = np.random.default_rng(0)
    state = {
        "step": 7,
        "rng": {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()},
        "replay": {"obs": np.zeros((3, 2), np.float32), "done": np.ones(3, bool)},
        "scalar": np.float64(1.5),
        "ids": {1: np.arange(4, dtype=np.int64)},
        "frames": np.zeros((4, 8, 8, 3), np.uint8)[1:],  # a view, as the online loop keeps
    }
    torch.save(state, tmp_path / "state.pt")
    got = load_loop_state(tmp_path)
    assert got is not None and got["step"] == 7 and got["scalar"] == 1.5
    assert got["replay"]["done"].dtype == bool and got["ids"][1].tolist() == [0, 1, 2, 3]
    marker = tmp_path / "pwned"
    torch.save({"step": Payload(marker)}, tmp_path / "state.pt")
    with pytest.raises(UserError, match="state.pt: not a readable loop state"):
        load_loop_state(tmp_path)
    assert not marker.exists()
    (tmp_path / "state.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="overwrite=true"):
        load_loop_state(tmp_path)


def test_preference_updater_state_is_plain_data() -> None:
    """PEBBLE's pairs and episode memory go into state.pt as dicts and arrays, and come back."""
    from robot_rl.data import Episode
    from robot_rl.rewards.segments import EpisodeMemory, SegmentPairs, Segments

    seg = Segments({"state": np.ones((2, 3, 4), np.float32)}, np.zeros((2, 3, 1), np.float32),
                   np.ones((2, 3), np.float32))  # fmt: skip
    pairs = SegmentPairs(seg, seg, np.array([1.0, 0.5], np.float32))
    back = SegmentPairs.from_dict(pairs.to_dict())
    assert len(back) == 2 and back.a.obs["state"].shape == (2, 3, 4)
    mem = EpisodeMemory({"state": None}, 1, capacity=4)
    ep = Episode({"state": np.zeros((3, 4), np.float32)}, np.zeros((2, 1), np.float32),
                 {"reward.env": np.zeros(2, np.float32)}, np.zeros(2, bool), np.zeros(2, bool),
                 np.array([False, True]), {"seed": 3})  # fmt: skip
    mem.add(ep)
    again = EpisodeMemory({"state": None}, 1, capacity=4)
    again.load_state_dict(mem.state_dict())
    assert again[0].info == {"seed": 3} and again[0].is_success and len(again) == 1
