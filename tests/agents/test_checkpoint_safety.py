"""Agent checkpoints are loaded as tensors and plain data only: a crafted agent.pt cannot run
code, and a damaged one is a one-line error naming the file."""

from __future__ import annotations

import os
from pathlib import Path

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
