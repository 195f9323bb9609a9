"""Display frames in the labeling app: served at their own size when the episode has them, the
training frames otherwise; damaged or stray display files are named by check_dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from labeling_helpers import call

from robot_rl.data import Dataset, check_dataset
from robot_rl.data.display import display_path, read_display, write_display
from robot_rl.data.format import dataset_lock, load_npz, save_npz
from robot_rl.errors import UserError

SIZE = 192


def _upscaled(root: Path, episode: int) -> np.ndarray:
    """The episode's training frames at SIZE px: what a display file of it could hold."""
    pixels = Dataset(root).load(episode).obs["pixels"]
    return np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST) for f in pixels])


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


@pytest.fixture
def with_display(tiny_pixel_dataset: Path) -> Path:
    """The tiny pixel dataset, episodes 0 and 2 with display frames, the others without."""
    for i in (0, 2):
        write_display(tiny_pixel_dataset, i, _upscaled(tiny_pixel_dataset, i))
    return tiny_pixel_dataset


def test_display_frames_are_served_at_their_size(with_display, start_server):
    server = start_server(with_display)
    status, info = call(server, "/api/info")
    assert status == 200
    assert [e["display"] for e in info["episodes"]] == [True, False, True, False, False, False]
    status, jpeg = call(server, "/frames/2/5.jpg")
    assert status == 200
    shown = _decode(jpeg)
    assert shown.shape == (SIZE, SIZE, 3)
    # the same instant as training frame 5 (JPEG is lossy: nearest, not equal)
    frames = _upscaled(with_display, 2).astype(int)
    errors = np.abs(frames - shown.astype(int)).mean(axis=(1, 2, 3))
    assert errors.argmin() == 5 and errors[5] < 3
    last = info["episodes"][2]["frames"] - 1
    assert call(server, f"/frames/2/{last}.jpg")[0] == 200
    assert call(server, f"/frames/2/{last + 1}.jpg")[0] == 404


def test_episode_without_display_frames_falls_back_to_training_frames(with_display, start_server):
    server = start_server(with_display)
    status, body = call(server, "/frames/1/3.jpg")
    assert status == 404 and b"no display frames" in body
    status, png = call(server, "/frames/1/3.png")
    assert status == 200
    np.testing.assert_array_equal(_decode(png), Dataset(with_display).load(1).obs["pixels"][3])


def test_training_frames_and_readers_are_unchanged(tiny_pixel_dataset, start_server):
    before = {i: load_npz(Dataset(tiny_pixel_dataset).path(i)) for i in range(6)}
    write_display(tiny_pixel_dataset, 0, _upscaled(tiny_pixel_dataset, 0))
    ds = Dataset(tiny_pixel_dataset)
    assert ds.episode_ids == list(range(6))  # display/ is not a second episodes/
    for i, arrays in before.items():
        after = ds.load_arrays(i)
        assert after.keys() == arrays.keys()
        for k in arrays:
            np.testing.assert_array_equal(after[k], arrays[k])
    server = start_server(tiny_pixel_dataset)
    status, png = call(server, "/frames/0/2.png")  # the training frame, as before
    np.testing.assert_array_equal(_decode(png), before[0]["obs.pixels"][2])
    assert check_dataset(tiny_pixel_dataset) == []


def test_dataset_without_display_frames_labels_as_before(tiny_pixel_dataset, start_server):
    server = start_server(tiny_pixel_dataset)
    _, info = call(server, "/api/info")
    assert not any(e["display"] for e in info["episodes"])
    body = {"tab": "t1", "episode": 1, "frame": 2, "label": 1, "to_end": False}
    assert call(server, "/api/goals/label", body)[0] == 200


def test_check_dataset_names_damaged_and_stray_display_files(with_display):
    path = display_path(with_display, 2)
    arrays = load_npz(path)
    arrays["offsets"] = arrays["offsets"][:-1]  # one frame short
    save_npz(path, arrays)
    save_npz(display_path(with_display, 9), load_npz(display_path(with_display, 0)))
    (with_display / "display" / "notes.txt").write_text("x")
    probs = {(p.file, p.key): p.message for p in check_dataset(with_display)}
    assert "one per frame" in probs[("display/000002.npz", "offsets")]
    assert "not in episodes/" in probs[("display/000009.npz", "")]
    assert "unexpected file" in probs[("display/notes.txt", "")]
    assert ("display/000000.npz", "offsets") not in probs
    n = Dataset(with_display).episode_length(2) + 1
    with pytest.raises(UserError, match=r"000002\.npz: key 'offsets'"):
        read_display(path, n)


def test_damaged_display_file_is_a_one_line_error_in_the_page(with_display, start_server):
    display_path(with_display, 0).write_bytes(b"\x00" * 50)
    server = start_server(with_display)
    status, body = call(server, "/frames/0/0.jpg")
    assert status == 500 and b"000000.npz" in body and b"\n" not in body.strip()
    assert call(server, "/frames/0/0.png")[0] == 200  # the training frames still show


def test_interrupted_display_write_is_cleaned_by_the_next_writer(with_display):
    stale = with_display / "display" / ".000003.npz.tmp-abc"
    stale.write_bytes(b"half")
    assert any(p.file == "display/.000003.npz.tmp-abc" for p in check_dataset(with_display))
    with dataset_lock(with_display):
        pass
    assert not stale.exists()
