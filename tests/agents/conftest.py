"""Agent tests use one intra-op thread: tiny networks gain nothing from two, and on a shared
2-core machine OpenMP threads waiting on a busy core make each update 10-100x slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
