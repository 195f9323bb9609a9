"""Fixtures for the labeling app: servers on ephemeral ports, stopped after each test."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from robot_rl.labeling.server import LabelServer, make_server


def stop(server: LabelServer) -> None:
    """Stop serving and close the socket (a second call is harmless)."""
    server.shutdown()
    server.server_close()


@pytest.fixture
def start_server() -> Iterator[Callable[..., LabelServer]]:
    """``start_server(root, **kwargs)`` -> a running LabelServer on a free port."""
    servers: list[LabelServer] = []

    def start(root: Path, **kwargs: Any) -> LabelServer:
        server = make_server(root, port=0, **kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        stop(s)


def call(server: LabelServer, path: str, body: dict | None = None) -> tuple[int, Any]:
    """GET (or POST ``body`` as JSON) ``path``; returns (status, parsed JSON or bytes)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path.lstrip("/"), data=data)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    return status, json.loads(raw) if ctype.startswith("application/json") else raw
