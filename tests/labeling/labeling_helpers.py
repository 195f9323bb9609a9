"""Helpers for the labeling tests: stop a server, call its API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from robot_rl.labeling.server import LabelServer


def stop(server: LabelServer) -> None:
    """Stop serving and close the socket (a second call is harmless)."""
    server.shutdown()
    server.server_close()


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
