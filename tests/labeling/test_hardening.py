"""The labeling server under hostile requests: imports only from the named folder or the
dataset, no symlink out of the dataset, 4xx (never 500) for malformed requests, a stalled client
dropped, and state changes refused from another site's page."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from labeling_helpers import call

from robot_rl.data import Dataset
from robot_rl.data.labels import LabelStore
from robot_rl.errors import UserError
from robot_rl.labeling.server import make_server

LABEL = {"tab": "t", "episode": 0, "frame": 1, "label": 1}


def raw(
    server, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    """A request sent as given (no header added but Host); returns (status, JSON body)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"127.0.0.1:{port}")
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.endheaders(body or None)
    r = conn.getresponse()
    status, data = r.status, r.read()
    conn.close()
    return status, json.loads(data)


def post(server, path: str, doc: object, **headers: str) -> tuple[int, dict]:
    body = json.dumps(doc).encode()
    hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}
    return raw(server, "POST", path, body, hdrs)


def goal_pictures(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"g{i}.png"), np.full((64, 64, 3), 40 * i, np.uint8))
    return folder


# -- imports: the named folder or the dataset, nothing else -----------------------------------
def test_import_from_elsewhere_is_refused_alike_whether_it_exists_or_not(
    tiny_pixel_dataset, start_server, tmp_path
):
    named = goal_pictures(tmp_path / "named")
    other = goal_pictures(tmp_path / "other")
    server = start_server(tiny_pixel_dataset, goals_from=named)
    answers = [
        post(server, "/api/import_goals", {"folder": folder})
        for folder in (str(other), str(tmp_path / "missing"), "/etc", "~nobody_here", "a\x00b")
    ]
    assert {status for status, _ in answers} == {403}
    assert len({doc["error"] for _, doc in answers}) == 1  # one message: nothing is revealed
    assert str(tmp_path) not in answers[0][1]["error"] and "\n" not in answers[0][1]["error"]
    assert LabelStore(tiny_pixel_dataset).image_labels() == []
    status, doc = post(server, "/api/import_goals", {"folder": str(named / ".." / "other")})
    assert status == 403  # '..' is resolved before the check
    status, doc = post(server, "/api/import_goals", {"folder": str(named)})
    assert status == 200 and len(doc["imported"]) == 2


def test_import_from_inside_the_dataset_needs_no_option(tiny_pixel_dataset, start_server):
    inside = goal_pictures(tiny_pixel_dataset / "goal_pictures", n=1)
    server = start_server(tiny_pixel_dataset)
    status, doc = post(server, "/api/import_goals", {"folder": str(inside)})
    assert status == 200 and doc["imported"] == ["goal_images/g0.png"]


def test_goals_from_must_be_a_folder(tiny_pixel_dataset, tmp_path):
    with pytest.raises(UserError, match="goals_from=.*not a folder"):
        make_server(tiny_pixel_dataset, port=0, goals_from=tmp_path / "missing")


def test_a_linked_picture_in_the_folder_is_not_read(tiny_pixel_dataset, start_server, tmp_path):
    named = goal_pictures(tmp_path / "named", n=1)
    secret = goal_pictures(tmp_path / "private", n=1) / "g0.png"
    (named / "link.png").symlink_to(secret)
    server = start_server(tiny_pixel_dataset, goals_from=named)
    status, doc = post(server, "/api/import_goals", {"folder": str(named)})
    assert status == 200 and doc["imported"] == ["goal_images/g0.png"]
    assert any("link.png" in m and "outside" in m for m in doc["refused"])


# -- symlinks out of the dataset ---------------------------------------------------------------
def test_linked_goal_images_folder_is_neither_served_nor_written(
    tiny_pixel_dataset, start_server, tmp_path
):
    outside = goal_pictures(tmp_path / "outside", n=1)
    store = LabelStore(tiny_pixel_dataset)
    store.root.mkdir()
    store.goal_images_dir.symlink_to(outside, target_is_directory=True)
    named = goal_pictures(tmp_path / "named", n=1)
    server = start_server(tiny_pixel_dataset, goals_from=named)
    status, body = call(server, "/goal_images/g0.png")
    assert status == 403 and b"PNG" not in body
    status, doc = post(server, "/api/import_goals", {"folder": str(named)})
    assert status == 403 and "outside the dataset" in doc["error"]
    assert status == post(server, "/api/goals/label", LABEL)[0]
    assert sorted(p.name for p in outside.iterdir()) == ["g0.png"]  # nothing written there


def test_linked_labels_folder_or_file_is_refused(tiny_pixel_dataset, start_server, tmp_path):
    outside = tmp_path / "outside_labels"
    outside.mkdir()
    (tiny_pixel_dataset / "labels").symlink_to(outside, target_is_directory=True)
    server = start_server(tiny_pixel_dataset)
    assert post(server, "/api/goals/label", LABEL)[0] == 403
    assert list(outside.iterdir()) == []
    (tiny_pixel_dataset / "labels").unlink()
    (tiny_pixel_dataset / "labels").mkdir()
    secret = tmp_path / "secret.json"
    secret.write_text('{"schema_version": 1, "frames": [], "images": [], "secret": 1}')
    (tiny_pixel_dataset / "labels" / "goals.json").symlink_to(secret)
    status, doc = call(server, "/api/goals?episode=0")
    assert status == 403 and "goals.json" in doc["error"]
    assert post(server, "/api/goals/label", LABEL)[0] == 403
    assert "secret" in secret.read_text()  # untouched


def test_linked_episode_file_is_not_served(tiny_pixel_dataset, start_server, tmp_path):
    path = Dataset(tiny_pixel_dataset).path(2)
    moved = tmp_path / path.name
    shutil.move(path, moved)
    path.symlink_to(moved)
    server = start_server(tiny_pixel_dataset)
    status, doc = call(server, "/frames/2/0.png")
    assert status == 403 and b"outside the dataset" in doc
    assert call(server, "/frames/1/0.png")[0] == 200


# -- malformed requests: 4xx and a short JSON error, never a 500 -------------------------------
def _is_short_error(doc: dict) -> bool:
    return set(doc) == {"error"} and len(doc["error"]) < 200 and "\n" not in doc["error"]


@pytest.mark.parametrize(
    "length, status", [("abc", 400), ("-1", 400), ("1e3", 400), ("+5", 400), ("0x10", 400),
                       ("9" * 5000, 413), (str(300_000), 413)],
)  # fmt: skip
def test_bad_content_length(tiny_pixel_dataset, start_server, length, status):
    server = start_server(tiny_pixel_dataset)
    got, doc = raw(
        server,
        "POST",
        "/api/goals/label",
        headers={"Content-Type": "application/json", "Content-Length": length},
    )
    assert got == status and _is_short_error(doc)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,  # deep enough for a RecursionError, under the size cap
        b'{"a": ' * 8_000 + b"1" + b"}" * 8_000,
        b'{"tab": "t", "episode": ' + b"1" * 5000 + b"}",  # int() refuses 5000 digits
        b"\xff\xfe{",
        b"{not json",
        b"[1, 2]",
    ],
)
def test_bad_bodies(tiny_pixel_dataset, start_server, body):
    server = start_server(tiny_pixel_dataset)
    hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    status, doc = raw(server, "POST", "/api/goals/label", body, hdrs)
    assert status == 400 and _is_short_error(doc)


@pytest.mark.parametrize("choice", [["left"], {"x": 1}, 1, None, True, "LEFT"])
def test_bad_choice_types(tiny_pixel_dataset, start_server, choice):
    server = start_server(tiny_pixel_dataset, mode="preferences")
    status, doc = post(server, "/api/prefs/answer", {"tab": "t", "index": 0, "choice": choice})
    assert status == 400 and "choice" in doc["error"] and _is_short_error(doc)
    assert LabelStore(tiny_pixel_dataset).preferences() == []


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/prefs/answer", {"tab": ["t"], "index": 0, "choice": "left"}),
        ("/api/prefs/answer", {"tab": "t", "index": 1.5, "choice": "left"}),
        ("/api/prefs/answer", {"tab": "t", "index": 10**30, "choice": "left"}),
        ("/api/prefs/undo", {"tab": {"a": 1}}),
        ("/api/import_goals", {"folder": ["/tmp"]}),
        ("/api/goals/label", {"tab": "t", "episode": 0, "frame": 10**40, "label": 1}),
        ("/api/goals/visit", {"episode": None}),
    ],
)
def test_wrong_field_types(tiny_pixel_dataset, start_server, path, body):
    mode = "preferences" if path.startswith("/api/prefs") else "goals"
    server = start_server(tiny_pixel_dataset, mode=mode)
    status, doc = post(server, path, body)
    assert 400 <= status < 500 and _is_short_error(doc)


def test_other_methods_are_refused(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset)
    for method in ("PUT", "PATCH", "DELETE"):
        status, doc = raw(server, method, "/api/goals/label")
        assert status == 405 and _is_short_error(doc)


# -- a stalled client is dropped ---------------------------------------------------------------
@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"POST /api/goals/label HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finish
        b"POST /api/goals/label HTTP/1.0\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",  # body stalls
    ],
)
def test_a_stalled_client_is_dropped(tiny_pixel_dataset, start_server, sent):
    server = start_server(tiny_pixel_dataset, client_timeout=0.3)
    with socket.create_connection(server.server_address[:2], timeout=10) as s:
        s.sendall(sent)
        t0 = time.monotonic()
        reply = s.recv(65536)  # b"" (closed) or a 408, soon after the timeout
        waited = time.monotonic() - t0
    assert waited < 5 and (reply == b"" or reply.startswith(b"HTTP/1.0 408"))
    assert call(server, "/api/info")[0] == 200  # still serving the others


# -- another site's page cannot change state ---------------------------------------------------
def test_state_changes_only_from_the_app_own_origin(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset)
    port = server.server_address[1]
    foreign = ["http://evil.example", "null", f"http://127.0.0.1:{port + 1}"]
    foreign += [f"https://127.0.0.1:{port}", f"http://localhost.evil.example:{port}"]
    for origin in foreign:
        status, doc = post(server, "/api/goals/label", LABEL, Origin=origin)
        assert status == 403 and _is_short_error(doc), origin
    assert LabelStore(tiny_pixel_dataset).frame_labels() == []
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", None):
        headers = {} if origin is None else {"Origin": origin}
        assert post(server, "/api/goals/label", LABEL, **headers)[0] == 200, origin
