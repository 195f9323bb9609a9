"""The labeling app's JSON API: labels saved at once, undo per tab, imports, queues, refusals."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from labeling_helpers import call, stop
from tinydata import make_tiny_dataset

from robot_rl.data import Dataset
from robot_rl.data.labels import FrameLabel, LabelStore, PreferencePair, Segment
from robot_rl.errors import UserError
from robot_rl.labeling.server import make_server


def label(server, tab, episode, frame, value, to_end=False):
    body = {"tab": tab, "episode": episode, "frame": frame, "label": value, "to_end": to_end}
    status, doc = call(server, "/api/goals/label", body)
    assert status == 200, doc
    return doc


def stored(root: Path) -> dict[tuple[int, int], FrameLabel]:
    return {(x.episode, x.frame): x for x in LabelStore(root).frame_labels()}


def raw_get(server, path: str) -> tuple[int, bytes]:
    """A GET with the path sent byte for byte (urllib and browsers would normalise '..')."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{port}")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


# -- frames and info ---------------------------------------------------------------------------
def test_frames_are_the_dataset_images(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset)
    status, info = call(server, "/api/info")
    ds = Dataset(tiny_pixel_dataset)
    assert status == 200 and [e["id"] for e in info["episodes"]] == ds.episode_ids
    assert info["episodes"][2]["frames"] == ds.episode_length(2) + 1
    status, png = call(server, "/frames/2/5.png")
    assert status == 200
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(decoded, ds.load(2).obs["pixels"][5])
    last = info["episodes"][2]["frames"] - 1
    assert call(server, f"/frames/2/{last}.png")[0] == 200
    assert call(server, f"/frames/2/{last + 1}.png")[0] == 404
    assert call(server, "/frames/99/0.png")[0] == 404
    assert call(server, "/frames/x/0.png")[0] == 404


def test_state_only_dataset_is_refused_with_a_clear_error(tiny_state_dataset):
    with pytest.raises(UserError, match="no image observation"):
        make_server(tiny_state_dataset, port=0)


# -- goal labels -------------------------------------------------------------------------------
def test_labels_are_saved_at_once_with_who_and_when(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset, labeller="alice")
    doc = label(server, "t1", 0, 4, 1)
    label(server, "t1", 0, 5, 0)
    assert doc["counts"]["labelled"] == 1 and doc["counts"]["positives"] == 1
    labs = stored(tiny_pixel_dataset)  # on disk before any shutdown
    assert labs[(0, 4)].label == 1 and labs[(0, 5)].label == 0
    assert labs[(0, 4)].by == "alice" and labs[(0, 4)].at.endswith("Z")
    status, st = call(server, "/api/goals?episode=0")
    assert st["counts"] == {
        "labelled": 2, "positives": 1, "negatives": 1, "episodes_visited": 1,
        "episodes_total": 6, "goal_images": 0,
    }  # fmt: skip


def test_mark_to_end_then_undo_restores_what_was_there(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset)
    n = Dataset(tiny_pixel_dataset).episode_length(1) + 1
    label(server, "t1", 1, 8, 0)
    doc = label(server, "t1", 1, 5, 1, to_end=True)
    assert doc["written"] == n - 5
    labs = stored(tiny_pixel_dataset)
    assert all(labs[(1, f)].label == 1 for f in range(5, n)) and (1, 4) not in labs
    status, doc = call(server, "/api/goals/undo", {"tab": "t1"})
    assert status == 200 and doc["undone"] == n - 5
    labs = stored(tiny_pixel_dataset)
    assert set(labs) == {(1, 8)} and labs[(1, 8)].label == 0  # the earlier label is back
    call(server, "/api/goals/undo", {"tab": "t1"})
    assert stored(tiny_pixel_dataset) == {}
    status, doc = call(server, "/api/goals/undo", {"tab": "t1"})
    assert doc["undone"] == 0 and "nothing to undo" in doc["message"]


def test_two_tabs_undo_only_their_own_actions(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset)
    label(server, "tabA", 0, 1, 1)
    label(server, "tabB", 0, 2, 0)
    label(server, "tabA", 0, 3, 1)
    label(server, "tabB", 0, 3, 0)  # B overwrites A's frame 3
    call(server, "/api/goals/undo", {"tab": "tabA"})  # A's frame-3 label was overwritten: kept
    labs = stored(tiny_pixel_dataset)
    assert labs[(0, 3)].label == 0 and set(labs) == {(0, 1), (0, 2), (0, 3)}
    call(server, "/api/goals/undo", {"tab": "tabA"})
    assert set(stored(tiny_pixel_dataset)) == {(0, 2), (0, 3)}


def test_parallel_tabs_and_a_second_server_lose_nothing(tiny_pixel_dataset, start_server):
    a, b = start_server(tiny_pixel_dataset), start_server(tiny_pixel_dataset)
    errors: list[Exception] = []

    def work(server, tab, episode):
        try:
            for f in range(12):
                label(server, tab, episode, f, f % 2)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [
        threading.Thread(target=work, args=(s, t, ep))
        for s, t, ep in ((a, "x", 0), (a, "y", 1), (b, "z", 2))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    labs = stored(tiny_pixel_dataset)
    assert {(ep, f) for ep in (0, 1, 2) for f in range(12)} == set(labs)


def test_killed_server_process_loses_no_acknowledged_label(tiny_pixel_dataset):
    """SIGKILL the real server process mid-stream: every label answered 200 is on disk."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "robot_rl.labeling", str(tiny_pixel_dataset), "--port", "0",
           "--no-browser"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        acked: list[int] = []

        def post(frame: int) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            body = json.dumps({"tab": "k", "episode": 0, "frame": frame, "label": 1})
            conn.request("POST", "/api/goals/label", body, {"Content-Type": "application/json"})
            return conn.getresponse().status

        def stream():
            for f in range(19):
                try:
                    if post(f) == 200:
                        acked.append(f)
                except OSError:
                    return

        t = threading.Thread(target=stream)
        t.start()
        while len(acked) < 5 and t.is_alive():
            time.sleep(0.005)
        proc.kill()
        t.join()
    finally:
        proc.kill()
        proc.wait()
    assert len(acked) >= 5, proc.stderr.read()
    labs = stored(tiny_pixel_dataset)  # parses: the file is never half-written
    assert {(0, f) for f in acked} <= set(labs)


def test_restart_shows_the_labels_of_the_previous_session(tiny_pixel_dataset, start_server):
    first = start_server(tiny_pixel_dataset)
    label(first, "t", 3, 2, 1)
    stop(first)
    second = start_server(tiny_pixel_dataset)
    status, st = call(second, "/api/goals?episode=3")
    assert st["labels"] == [{"episode": 3, "frame": 2, "label": 1, "by": "human"}]


def test_invalid_label_file_is_reported_and_never_overwritten(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset)
    path = tiny_pixel_dataset / "labels" / "goals.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema_version": 1, "frames": [')
    status, doc = call(server, "/api/goals?episode=0")
    assert status == 500 and "goals.json" in doc["error"] and "invalid JSON" in doc["error"]
    status, doc = call(
        server, "/api/goals/label", {"tab": "t", "episode": 0, "frame": 0, "label": 1}
    )
    assert status == 500 and "goals.json" in doc["error"]
    assert path.read_text() == '{"schema_version": 1, "frames": ['


@pytest.mark.parametrize(
    "body, field",
    [
        ({"tab": "t", "episode": 0, "frame": 0, "label": 2}, "label"),
        ({"tab": "t", "episode": 0, "frame": -1, "label": 1}, "frame"),
        ({"tab": "t", "episode": "0", "frame": 0, "label": 1}, "episode"),
        ({"tab": "../x", "episode": 0, "frame": 0, "label": 1}, "tab"),
        ({"tab": "t", "episode": 0, "frame": 0, "label": 1, "to_end": "yes"}, "to_end"),
    ],
)
def test_bad_label_requests_name_the_field(tiny_pixel_dataset, start_server, body, field):
    server = start_server(tiny_pixel_dataset)
    status, doc = call(server, "/api/goals/label", body)
    assert status == 400 and field in doc["error"]
    assert not (tiny_pixel_dataset / "labels" / "goals.json").exists()


# -- security ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/frames/../../etc/passwd",
        "/frames/%2e%2e/%2e%2e/etc/passwd",
        "/static/../server.py",
        "/static/..%2fserver.py",
        "//etc/passwd",
        "/goal_images/../../meta.json",
        "/goal_images/..%2f..%2fmeta.json",
        "/frames/0/..%5c..%5cmeta.json",
        "/etc/passwd",
        "/static/%2Fetc%2Fpasswd",
    ],
)
def test_paths_outside_the_app_are_refused(tiny_pixel_dataset, start_server, path):
    server = start_server(tiny_pixel_dataset)
    status, body = raw_get(server, path)
    assert status in (403, 404)
    assert b"root:" not in body and b"schema_version" not in body and b"import" not in body
    assert body  # a message, not an empty page


def test_symlink_out_of_goal_images_is_refused(tiny_pixel_dataset, start_server, tmp_path):
    server = start_server(tiny_pixel_dataset)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    gdir = LabelStore(tiny_pixel_dataset).goal_images_dir
    gdir.mkdir(parents=True)
    (gdir / "evil.png").symlink_to(secret)
    status, body = raw_get(server, "/goal_images/evil.png")
    assert status == 403 and b"secret" not in body and b"outside" in body


def test_only_local_hosts(tiny_pixel_dataset, start_server):
    with pytest.raises(UserError, match="127.0.0.1 only"):
        make_server(tiny_pixel_dataset, host="0.0.0.0", port=0)
    server = start_server(tiny_pixel_dataset)
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/api/info", headers={"Host": f"evil.example:{port}"})
    assert conn.getresponse().status == 403  # DNS rebinding
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("POST", "/api/goals/label", "tab=t&episode=0", {"Content-Type": "text/plain"})
    assert conn.getresponse().status == 415  # a cross-site form cannot post labels


# -- goal images -------------------------------------------------------------------------------
def test_import_goal_images(tiny_pixel_dataset, start_server, tmp_path):
    folder = tmp_path / "goals"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "good.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "big photo.jpg"), rng.integers(0, 255, (120, 100, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "gray.png"), rng.integers(0, 255, (64, 64), dtype=np.uint8))
    cv2.imwrite(str(folder / "rgba.png"), rng.integers(0, 255, (64, 64, 4), dtype=np.uint8))
    (folder / "notes.txt").write_text("ignored")
    server = start_server(tiny_pixel_dataset, labeller="bob", goals_from=folder)
    status, doc = call(server, "/api/import_goals", {"folder": str(folder)})
    assert status == 200, doc
    assert sorted(doc["imported"]) == ["goal_images/big_photo.png", "goal_images/good.png"]
    assert any("big photo.jpg" in m and "100x120 to 64x64" in m for m in doc["messages"])
    refused = " ".join(doc["refused"])
    assert "gray.png: has 1 channel" in refused and "rgba.png: has 4 channel" in refused
    store = LabelStore(tiny_pixel_dataset)
    labs = {x.file: x for x in store.image_labels()}
    assert set(labs) == set(doc["imported"]) and all(
        x.label == 1 and x.by == "bob" for x in labs.values()
    )
    img = cv2.imread(str(store.root / "goal_images" / "big_photo.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (64, 64, 3)
    status, png = call(server, "/goal_images/good.png")
    assert status == 200 and png[:4] == b"\x89PNG"
    # Importing the same folder again adds no duplicates.
    call(server, "/api/import_goals", {"folder": str(folder)})
    assert len(store.image_labels()) == 2 and len(list(store.goal_images_dir.iterdir())) == 2
    status, doc = call(server, "/api/import_goals", {"folder": str(folder / "nope")})
    assert status == 400 and "nope" in doc["error"]  # inside the named folder: it may say


# -- preferences -------------------------------------------------------------------------------
def test_preferences_answers_are_saved_and_undone(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset, mode="preferences", labeller="carol")
    store = LabelStore(tiny_pixel_dataset)
    status, nxt = call(server, "/api/prefs/next?tab=a")
    total = nxt["total"]
    assert status == 200 and nxt["answered"] == 0 and total > 10
    answers = {}
    for choice in ("left", "right", "equal", "skip"):
        pair = nxt["pair"]
        status, nxt = call(
            server, "/api/prefs/answer", {"tab": "a", "index": pair["index"], "choice": choice}
        )
        assert status == 200
        answers[pair["index"]] = (pair, choice)
        assert store.preferences()[-1].by == "carol"  # saved at once
    assert nxt["answered"] == 4 and nxt["skipped"] == 1 and nxt["total"] == total
    expected_left = {"left": 1.0, "right": 0.0, "equal": 0.5, "skip": None}
    for p, (pair, choice) in zip(store.preferences(), answers.values()):
        left = Segment(**pair["left"])
        want = expected_left[choice]
        if want is not None and left != p.a:  # shown swapped: P(a better) = 1 - P(left better)
            assert left == p.b
            want = 1.0 - want
        assert p.preference == want
    status, doc = call(server, "/api/prefs/undo", {"tab": "a"})
    assert doc["pair"]["index"] == list(answers)[-1] and doc["answered"] == 3
    assert [p.preference for p in store.preferences()][-1] == 0.5


def test_two_tabs_get_different_pairs_and_undo_their_own(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset, mode="preferences")
    _, a = call(server, "/api/prefs/next?tab=a")
    _, b = call(server, "/api/prefs/next?tab=b")
    assert a["pair"]["index"] != b["pair"]["index"]
    call(server, "/api/prefs/answer", {"tab": "a", "index": a["pair"]["index"], "choice": "left"})
    call(server, "/api/prefs/answer", {"tab": "b", "index": b["pair"]["index"], "choice": "right"})
    call(server, "/api/prefs/undo", {"tab": "a"})
    prefs = LabelStore(tiny_pixel_dataset).preferences()
    assert len(prefs) == 1 and prefs[0].by == "human"
    _, doc = call(server, "/api/prefs/next?tab=c")
    assert doc["answered"] == 1


def test_pairs_file_is_the_queue_and_answered_pairs_are_not_asked_again(
    tiny_pixel_dataset, start_server, tmp_path
):
    pairs = [
        {
            "a": {"episode": 0, "start": 0, "length": 5},
            "b": {"episode": 1, "start": 2, "length": 5},
        },
        {
            "a": {"episode": 2, "start": 1, "length": 5},
            "b": {"episode": 3, "start": 0, "length": 5},
        },
        {
            "a": {"episode": 4, "start": 3, "length": 5},
            "b": {"episode": 5, "start": 1, "length": 5},
        },
    ]
    qfile = tmp_path / "queries.json"
    qfile.write_text(json.dumps({"pairs": pairs, "selection": "disagreement"}))
    # Pair 0 was answered by a synthetic teacher earlier.
    LabelStore(tiny_pixel_dataset).add_preferences(
        [PreferencePair(Segment(0, 0, 5), Segment(1, 2, 5), 1.0, "teacher:oracle")]
    )
    server = start_server(tiny_pixel_dataset, mode="preferences", pairs_file=qfile)
    _, nxt = call(server, "/api/prefs/next?tab=t")
    assert (nxt["answered"], nxt["total"], nxt["pair"]["index"]) == (1, 3, 1)
    shown = {Segment(**nxt["pair"]["left"]), Segment(**nxt["pair"]["right"])}
    assert shown == {Segment(2, 1, 5), Segment(3, 0, 5)}
    for _ in range(2):
        _, nxt = call(
            server,
            "/api/prefs/answer",
            {"tab": "t", "index": nxt["pair"]["index"], "choice": "equal"},
        )
    assert nxt["pair"] is None and nxt["answered"] == 3


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"pair": []}, "field 'pairs' must be a list"),
        ({"pairs": [{"a": {"episode": 0, "start": 0, "length": 5}}]}, "pairs[0].b must be"),
        ({"pairs": [{"a": {"episode": 0, "start": 0, "length": 5},
                     "b": {"episode": 9, "start": 0, "length": 5}}]}, "pairs[0].b.episode"),
        ({"pairs": [{"a": {"episode": 0, "start": 0, "length": 500},
                     "b": {"episode": 1, "start": 0, "length": 5}}]}, "pairs[0].a: steps [0, 500)"),
        ({"pairs": [{"a": {"episode": 0, "start": "0", "length": 5},
                     "b": {"episode": 1, "start": 0, "length": 5}}]}, "pairs[0].a.start must be"),
        ({"pairs": [{"a": {"episode": 0, "start": 0, "length": 5},
                     "b": {"episode": 1, "start": 0, "length": 4}}]},
         "pairs[0]: segments a and b must have the same length"),
    ],
)  # fmt: skip
def test_bad_pairs_file_names_the_field(tiny_pixel_dataset, tmp_path, doc, message):
    qfile = tmp_path / "q.json"
    qfile.write_text(json.dumps(doc))
    with pytest.raises(UserError) as e:
        make_server(tiny_pixel_dataset, mode="preferences", port=0, pairs_file=qfile)
    assert str(qfile) in str(e.value) and message in str(e.value)


def test_mode_specific_endpoints_and_bad_mode(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset, mode="preferences")
    status, doc = call(server, "/api/goals")
    assert status == 404 and "preferences mode" in doc["error"]
    with pytest.raises(UserError, match="mode must be one of"):
        make_server(tiny_pixel_dataset, mode="ranking", port=0)


def test_small_dataset_sampling_gives_distinct_pairs(tmp_path, start_server):
    root = make_tiny_dataset(tmp_path / "three", "pixels", episodes=3, seed=1)
    server = start_server(root, mode="preferences", num_pairs=30, segment_length=25)
    _, nxt = call(server, "/api/prefs/next?tab=t")
    seen = set()
    while nxt["pair"] is not None:
        p = nxt["pair"]
        key = frozenset(
            [json.dumps(p["left"], sort_keys=True), json.dumps(p["right"], sort_keys=True)]
        )
        assert key not in seen and len(key) == 2
        seen.add(key)
        _, nxt = call(
            server, "/api/prefs/answer", {"tab": "t", "index": p["index"], "choice": "skip"}
        )
    assert len(seen) == nxt["total"] > 1
