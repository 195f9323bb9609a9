"""Shared fixtures: tiny synthetic datasets (see tinydata.py) and one torch thread per test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tinydata import make_tiny_dataset


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny networks gain nothing from two threads, and on a shared 2-core machine OpenMP
    threads waiting on a busy core make each update 10-100x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_state_dataset(tmp_path: Path) -> Path:
    """Root of a 6-episode state dataset (obs "state" [25], action dim 4)."""
    return make_tiny_dataset(tmp_path / "tiny_state", "state", episodes=6, seed=0)


@pytest.fixture
def tiny_pixel_dataset(tmp_path: Path) -> Path:
    """Root of a 6-episode pixel dataset (obs "pixels" [64,64,3] uint8 + "proprio" [10])."""
    return make_tiny_dataset(tmp_path / "tiny_pixels", "pixels", episodes=6, seed=0)
