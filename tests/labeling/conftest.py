"""Fixtures for the labeling app: servers on ephemeral ports, stopped after each test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from labeling_helpers import stop

from robot_rl.labeling.server import LabelServer, make_server


@pytest.fixture
def start_server() -> Iterator[Callable[..., LabelServer]]:
    """``start_server(root, **kwargs)`` -> a running LabelServer on a free port."""
    servers: list[LabelServer] = []

    def start(root: Path, **kwargs: Any) -> LabelServer:
        server = make_server(root, port=0, **kwargs)
        # A short poll interval makes shutdown (after every test) quick.
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        stop(s)
