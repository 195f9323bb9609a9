"""End-to-end: the real pages in headless Chromium, driven by Playwright with the keyboard."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from labeling_helpers import call, stop

from robot_rl.data import Dataset
from robot_rl.data.labels import LabelStore

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser) -> Iterator:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def settle(page) -> None:
    """Wait until every request the page queued has been answered."""
    page.wait_for_function("document.body.dataset.pending === '0'", timeout=10_000)


def keys(page, *names: str) -> None:
    for k in names:
        page.keyboard.press(k)
    settle(page)


def text(page, sel: str) -> str:
    return page.locator(sel).inner_text()


def frame_labels(root) -> dict[tuple[int, int], int]:
    return {(x.episode, x.frame): x.label for x in LabelStore(root).frame_labels()}


def open_goals(context, server):
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#goals:not([hidden])")
    settle(page)
    return page


def test_goal_labelling_with_keys_undo_and_mark_to_end(tiny_pixel_dataset, start_server, context):
    server = start_server(tiny_pixel_dataset)
    page = open_goals(context, server)
    assert text(page, "#c-visited") == "1" and text(page, "#frame-no") == "0"
    keys(page, "ArrowRight", "ArrowRight", "f", "f")  # frames 2 and 3 not success, now on 4
    assert frame_labels(tiny_pixel_dataset) == {(0, 2): 0, (0, 3): 0}
    assert text(page, "#frame-no") == "4" and text(page, "#c-negatives") == "2"
    keys(page, "u")  # undo the last 'f': frame 3 is unlabelled again and shown
    assert frame_labels(tiny_pixel_dataset) == {(0, 2): 0}
    assert text(page, "#frame-no") == "3" and text(page, "#frame-label") == "unlabelled"
    n = Dataset(tiny_pixel_dataset).episode_length(0) + 1
    keys(page, "n", "n", "ArrowLeft", "e")  # frame 3 -> 5 -> 4, success from 4 to the end
    want = {(0, 2): 0} | {(0, f): 1 for f in range(4, n)}
    assert frame_labels(tiny_pixel_dataset) == want
    assert text(page, "#c-positives") == str(n - 4) and text(page, "#frame-label") == "success"
    assert page.locator("#strip img.pos").count() == n - 4
    keys(page, "ArrowDown", "s")  # next episode, first frame success
    assert frame_labels(tiny_pixel_dataset)[(1, 0)] == 1
    assert text(page, "#c-visited") == "2" and text(page, "#c-labelled") == str(n - 4 + 2)
    # The 64 px frame is shown large and crisp.
    box = page.locator("#frame").bounding_box()
    assert box["width"] >= 256
    rendering = page.eval_on_selector("#frame", "e => getComputedStyle(e).imageRendering")
    assert rendering == "pixelated"
    by = {x.by for x in LabelStore(tiny_pixel_dataset).frame_labels()}
    assert by == {"human"}


def test_two_pages_at_once_lose_nothing(tiny_pixel_dataset, start_server, context):
    server = start_server(tiny_pixel_dataset)
    a, b = open_goals(context, server), open_goals(context, server)
    keys(a, "s")  # A: frame 0 success
    keys(b, "ArrowDown", "f")  # B: episode 1 frame 0 not success
    keys(a, "s")  # A: frame 1 success
    keys(b, "f")
    assert frame_labels(tiny_pixel_dataset) == {(0, 0): 1, (0, 1): 1, (1, 0): 0, (1, 1): 0}
    keys(a, "u")  # undoes A's frame 1 only, not B's later label
    assert frame_labels(tiny_pixel_dataset) == {(0, 0): 1, (1, 0): 0, (1, 1): 0}
    a.reload()
    a.wait_for_selector("#goals:not([hidden])")
    settle(a)
    assert text(a, "#c-labelled") == "3"


def test_server_killed_mid_session_loses_nothing(tiny_pixel_dataset, start_server, context):
    server = start_server(tiny_pixel_dataset)
    page = open_goals(context, server)
    keys(page, "s", "s", "f")
    stop(server)  # the server dies mid-session
    keys(page, "s")  # this one cannot be saved: the page must say so
    assert "not reachable" in text(page, "#error")
    assert frame_labels(tiny_pixel_dataset) == {(0, 0): 1, (0, 1): 1, (0, 2): 0}
    again = start_server(tiny_pixel_dataset)
    page.goto(again.url)
    page.wait_for_selector("#goals:not([hidden])")
    settle(page)
    assert text(page, "#c-labelled") == "3" and page.locator("#strip img.pos").count() == 2
    assert page.locator("#error").is_hidden()


def test_invalid_label_file_error_is_shown(tiny_pixel_dataset, start_server, context):
    path = tiny_pixel_dataset / "labels" / "goals.json"
    path.parent.mkdir(parents=True)
    path.write_text("{oops")
    server = start_server(tiny_pixel_dataset)
    page = open_goals(context, server)
    assert "goals.json" in text(page, "#error") and "invalid JSON" in text(page, "#error")
    keys(page, "s")
    assert path.read_text() == "{oops"


def test_import_goal_images_from_the_page(tiny_pixel_dataset, start_server, context, tmp_path):
    import cv2
    import numpy as np

    folder = tmp_path / "pics"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((64, 64, 3), 200, np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.full((64, 64), 200, np.uint8))
    server = start_server(tiny_pixel_dataset, goals_from=folder)
    page = open_goals(context, server)
    page.click("#import summary")
    assert page.input_value("#import-folder") == str(folder.resolve())  # goals_from, filled in
    page.fill("#import-folder", str(folder))
    page.click("#import-form button")
    settle(page)
    assert "imported 1 image" in text(page, "#import-result")
    assert "b.png: has 1 channel" in text(page, "#import-result")
    assert text(page, "#c-images") == "1" and page.locator("#gallery img").count() == 1
    keys(page, "s")  # typing in the folder field did not label; keys work again after it
    assert frame_labels(tiny_pixel_dataset) == {(0, 0): 1}


def test_preferences_with_keys_and_undo(tiny_pixel_dataset, start_server, context):
    server = start_server(tiny_pixel_dataset, mode="preferences", labeller="dana")
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#prefs:not([hidden])")
    settle(page)
    total = int(text(page, "#p-total"))
    assert total > 4 and text(page, "#p-answered") == "0"
    # The clips animate: the step counter moves on its own.
    page.wait_for_function("Number(document.getElementById('p-step').textContent) > 1")
    shown = []
    for k in ("ArrowLeft", "ArrowRight", "=", " "):
        shown.append(page.evaluate("document.body.dataset.pair"))
        keys(page, k)
    assert text(page, "#p-answered") == "4" and text(page, "#p-skipped") == "1"
    prefs = LabelStore(tiny_pixel_dataset).preferences()
    assert [p.by for p in prefs] == ["dana"] * 4
    assert {p.preference for p in prefs[:2]} <= {0.0, 1.0}  # left/right map to a or b
    assert prefs[2].preference == 0.5 and prefs[3].preference is None
    keys(page, "u")
    assert len(LabelStore(tiny_pixel_dataset).preferences()) == 3
    assert page.evaluate("document.body.dataset.pair") == shown[-1]  # the skipped pair is back
    assert text(page, "#p-answered") == "3"
    status, nxt = call(server, "/api/prefs/next?tab=other")
    assert nxt["answered"] == 3


def test_path_traversal_from_the_browser_is_refused(tiny_pixel_dataset, start_server, context):
    server = start_server(tiny_pixel_dataset)
    page = context.new_page()
    for path in (
        "frames/../../etc/passwd",
        "static/%2e%2e/server.py",
        "goal_images/..%2fmeta.json",
    ):
        resp = page.goto(server.url + path)
        assert resp.status in (403, 404)
        body = page.content()
        assert "root:" not in body and "schema_version" not in body


def test_sharp_frames_where_stored_and_v_toggles_them(tiny_pixel_dataset, start_server, context):
    import cv2
    import numpy as np

    from robot_rl.data.display import write_display

    pixels = Dataset(tiny_pixel_dataset).load(1).obs["pixels"]
    write_display(tiny_pixel_dataset, 1, np.stack([cv2.resize(f, (192, 192)) for f in pixels]))
    server = start_server(tiny_pixel_dataset)
    page = open_goals(context, server)
    src = "document.getElementById('frame').getAttribute('src')"
    assert page.evaluate(src) == "/frames/0/0.png"  # episode 0 has no display frames
    assert page.is_visible("#view")
    keys(page, "ArrowDown", "ArrowRight", "ArrowRight")
    assert page.evaluate(src) == "/frames/1/2.jpg"  # the same frame index, sharper
    page.wait_for_function("document.getElementById('frame').naturalWidth === 192")
    keys(page, "v")
    assert page.evaluate(src) == "/frames/1/2.png" and not page.is_checked("#sharp")
    keys(page, "v")
    assert page.evaluate(src) == "/frames/1/2.jpg"
    keys(page, "s")  # labels the shown frame as before
    assert frame_labels(tiny_pixel_dataset) == {(1, 2): 1}
