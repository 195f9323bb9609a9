"""The local labeling web app: a JSON API and static pages on the standard library's HTTP server.

Run ``serve(dataset_root, mode="goals")`` (or ``"preferences"``) and label in the browser. Every
answer is written at once through ``LabelStore``. Only files inside the dataset's episodes (as
frames), ``labels/goal_images/`` and the app's own ``static/`` folder are ever served; any other
path is refused, and so is a symlink that leads a served or written path out of the dataset.

It is a local app, hardened against the browser and the network it sits beside: it binds to
127.0.0.1, refuses a foreign ``Host`` (DNS rebinding) and a foreign ``Origin`` on every request
that changes state (cross-site requests), takes JSON bodies only (no form posts), of at most
``_MAX_BODY`` bytes, answers a malformed request with a 4xx and a one-line JSON error, and drops a
client that stalls for ``client_timeout`` seconds.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from robot_rl.data.labels import GOALS_FILE, PREFS_FILE, LabelStore
from robot_rl.errors import UserError
from robot_rl.labeling.frames import FrameSource, RequestError, check_inside
from robot_rl.labeling.goals import GoalSession
from robot_rl.labeling.prefs import CHOICES, PreferenceQueue

MODES = ("goals", "preferences")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
STATIC_DIR = Path(__file__).parent / "static"
_MAX_BODY = 64 << 10  # the largest request (an import's folder path) is far smaller
CLIENT_TIMEOUT_S = 30.0  # a connection idle this long (a stalled or slow client) is dropped
_TAB_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FRAME_RE = re.compile(r"^/frames/(\d{1,9})/(\d{1,9})\.png$")
# display frames (data/display.py): the same instants as the .png training frames, sharper
_DISPLAY_RE = re.compile(r"^/frames/(\d{1,9})/(\d{1,9})\.jpg$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class LabelServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer carrying the labeling state; ``.url`` is where to point a browser."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        app: LabelApp,
        allow_remote: bool,
        client_timeout: float = CLIENT_TIMEOUT_S,
    ):
        self.app = app
        self.allow_remote = allow_remote
        self.client_timeout = client_timeout
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str)  # an AF_INET/AF_INET6 address: (host, port, ...)
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


class LabelApp:
    """Everything the handler needs: frames, the label store and the mode's session."""

    def __init__(
        self,
        dataset_root: str | Path,
        mode: str,
        labeller: str,
        pairs_file: str | Path | None,
        segment_length: int,
        num_pairs: int,
        seed: int,
        goals_from: str | Path | None = None,
    ):
        if mode not in MODES:
            raise UserError(f"mode must be one of {MODES}, got {mode!r}")
        if not isinstance(labeller, str) or not re.fullmatch(r"[\w.:@-]{1,64}", labeller):
            raise UserError(f"labeller must be 1-64 letters, digits or '.:@-_', got {labeller!r}")
        self.mode = mode
        self.labeller = labeller
        self.frames = FrameSource(dataset_root)
        self.store = LabelStore(self.frames.root)
        self.goals_from = _goals_from(goals_from)
        self.goals = (
            GoalSession(self.frames, self.store, labeller, self.goals_from)
            if mode == "goals"
            else None
        )
        self.prefs = (
            PreferenceQueue(
                self.frames, self.store, labeller, pairs_file, segment_length, num_pairs, seed
            )
            if mode == "preferences"
            else None
        )

    def info(self) -> dict[str, Any]:
        self.frames.refresh()
        return {
            "mode": self.mode,
            "labeller": self.labeller,
            "dataset": str(self.frames.root),
            "task": self.frames.dataset.meta.task,
            "fps": self.frames.dataset.meta.control_freq,
            "image_key": self.frames.image_key,
            "frame_shape": list(self.frames.frame_shape),
            # display: the episode has sharper frames at /frames/<id>/<frame>.jpg
            "episodes": [
                {
                    "id": i,
                    "frames": self.frames.num_frames(i),
                    "display": self.frames.has_display(i),
                }
                for i in self.frames.episode_ids
            ],
            "queue": self.prefs.source if self.prefs else None,
            "goals_from": str(self.goals_from) if self.goals_from else None,
        }

    def check_paths(self) -> None:
        """403 if a symlink leads the label files out of the dataset (they are read and
        written through these paths)."""
        store = self.store
        for path, what in (
            (store.root, "labels"),
            (store.goal_images_dir, "labels/goal_images"),
            (store.root / GOALS_FILE, f"labels/{GOALS_FILE}"),
            (store.root / PREFS_FILE, f"labels/{PREFS_FILE}"),
            (store.root / ".lock", "labels/.lock"),
        ):
            check_inside(path, self.frames.root, what)


def _goals_from(folder: str | Path | None) -> Path | None:
    """The command line's goal-image folder, resolved; a UserError unless it is a folder."""
    if folder is None:
        return None
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise UserError(f"goals_from={folder}: not a folder (the goal images to import)")
    return path.resolve()


def _int(body: dict, key: str) -> int:
    v = body.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise RequestError(400, f"field {key!r} must be a non-negative integer, got {v!r}")
    return v


def _content_length(value: str | None) -> int:
    """The body size a request announces; 400 if not a number, 413 if over ``_MAX_BODY``."""
    text = (value or "0").strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise RequestError(400, "header Content-Length must be a non-negative integer")
    if len(text) > 9 or int(text) > _MAX_BODY:  # no int() of a thousand digits
        raise RequestError(413, f"request body too large (at most {_MAX_BODY} bytes)")
    return int(text)


def _json_object(raw: bytes) -> dict[str, Any]:
    """A request body parsed as a JSON object; 400 with a short reason otherwise."""
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as e:
        raise RequestError(400, f"request body is not JSON ({e})") from None
    except UnicodeDecodeError:
        raise RequestError(400, "request body is not UTF-8 text") from None
    except (RecursionError, ValueError):  # nested thousands deep, or a number of 5000 digits
        raise RequestError(400, "request body is JSON this app does not accept") from None
    if not isinstance(body, dict):
        raise RequestError(400, "request body must be a JSON object")
    return body


def _tab(value: Any) -> str:
    if not isinstance(value, str) or not _TAB_RE.match(value):
        raise RequestError(400, "field 'tab' must be 1-64 letters, digits, '-' or '_'")
    return value


class _Handler(BaseHTTPRequestHandler):
    server: LabelServer
    # HTTP/1.0: one request per connection, so a stopped server stops answering at once
    # (a keep-alive connection would keep a handler thread serving after shutdown).
    protocol_version = "HTTP/1.0"
    timeout = CLIENT_TIMEOUT_S  # socket timeout: a stalled client frees its thread

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.client_timeout)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        pass  # quiet: the page shows errors; 500s are printed in _run

    # -- plumbing --------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, doc: Any) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def _path(self) -> tuple[str, dict[str, str]]:
        """The decoded path and query; 403 for anything that could step outside a folder."""
        raw, _, query = self.path.partition("?")
        path = urllib.parse.unquote(raw)
        parts = path.split("/")
        bad = not path.startswith("/") or path.startswith("//") or "\\" in path or "\x00" in path
        if bad or any(p in (".", "..") for p in parts):
            raise RequestError(403, f"refused: {path!r} is outside the files this app serves")
        return path, {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}

    def _check_host(self) -> None:
        # A page on another site could reach 127.0.0.1 through DNS rebinding; its Host differs.
        if self.server.allow_remote:
            return
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in LOCAL_HOSTS:
            raise RequestError(403, f"refused: Host {host!r} is not this local server")

    def _check_origin(self) -> None:
        # A page on another site can send a request here (the browser adds its Origin); only
        # this app's own pages may change state. No Origin: not a browser's cross-site request.
        origin = self.headers.get("Origin")
        if origin is None:
            return
        port = self.server.server_address[1]
        own = {f"http://{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")}
        if self.server.allow_remote:
            own.add(f"http://{self.headers.get('Host')}")
        if origin not in own:
            raise RequestError(403, "refused: this request comes from another site's page")

    def _body(self) -> dict[str, Any]:
        # JSON only: a cross-site <form> cannot send application/json without a CORS preflight.
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise RequestError(415, "send the request body as application/json")
        n = _content_length(self.headers.get("Content-Length"))
        try:
            raw = self.rfile.read(n)
        except TimeoutError:
            raise RequestError(408, "the request body did not arrive in time") from None
        return _json_object(raw)

    def _run(self, method: str) -> None:
        path = self.path
        try:
            self._check_host()
            if method != "GET":
                self._check_origin()
            path, query = self._path()
            if path.startswith(("/api/", "/goal_images/")):
                self.server.app.check_paths()
            if method == "GET":
                self._get(path, query)
            elif method == "POST":
                self._post(path, self._body())
            else:
                raise RequestError(405, f"method {method} is not used by this app")
        except RequestError as e:
            self._error(e.status, str(e), path)
        except UserError as e:  # e.g. a label file edited into invalid JSON: nothing is written
            self._error(500, str(e), path)
        except (TimeoutError, ConnectionError):
            return  # the client stalled or went away: nobody to answer
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            self._error(500, f"internal error: {type(e).__name__}: {e}", path)

    def _error(self, status: int, message: str, path: str) -> None:
        if path.startswith("/api/"):
            self._json(status, {"error": message})
        else:
            self._send(status, message.encode(), "text/plain; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self._run("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._run("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._run("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._run("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._run("DELETE")

    # -- routes ----------------------------------------------------------------------------------
    def _get(self, path: str, query: dict[str, str]) -> None:
        app = self.server.app
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/") :])
        if m := _FRAME_RE.match(path):
            png = app.frames.png(int(m.group(1)), int(m.group(2)))
            return self._send(200, png, "image/png", cache="max-age=3600")
        if m := _DISPLAY_RE.match(path):
            jpeg = app.frames.jpeg(int(m.group(1)), int(m.group(2)))
            return self._send(200, jpeg, "image/jpeg", cache="max-age=3600")
        if path.startswith("/goal_images/"):
            return self._goal_image(path[len("/goal_images/") :])
        if path == "/api/info":
            return self._json(200, app.info())
        if path == "/api/goals":
            episode = query.get("episode")
            if episode is not None and not episode.isdigit():
                raise RequestError(400, "query 'episode' must be an episode id")
            return self._json(200, self._goals().state(None if episode is None else int(episode)))
        if path == "/api/prefs/next":
            return self._json(200, self._prefs().next(_tab(query.get("tab"))))
        if path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        raise RequestError(404, f"not found: {path}")

    def _post(self, path: str, body: dict[str, Any]) -> None:
        if path == "/api/goals/label":
            g = self._goals()
            to_end = body.get("to_end", False)
            if not isinstance(to_end, bool):
                raise RequestError(400, "field 'to_end' must be true or false")
            ep = _int(body, "episode")
            n = g.label(_tab(body.get("tab")), ep, _int(body, "frame"), _int(body, "label"), to_end)
            return self._json(200, {"written": n, **g.state(ep)})
        if path == "/api/goals/undo":
            g = self._goals()
            done = g.undo(_tab(body.get("tab")))
            return self._json(200, {**done, **g.state(done.get("episode"))})
        if path == "/api/goals/visit":
            self._goals().visit(_int(body, "episode"))
            return self._json(200, {"ok": True})
        if path == "/api/import_goals":
            folder = body.get("folder")
            if not isinstance(folder, str) or not folder.strip():
                raise RequestError(400, "field 'folder' must be a folder path on this machine")
            return self._json(200, self._goals().import_folder(folder.strip()))
        if path == "/api/prefs/answer":
            q = self._prefs()
            choice = body.get("choice")
            if not isinstance(choice, str):  # answer() refuses any other string
                raise RequestError(400, f"field 'choice' must be one of {sorted(CHOICES)}")
            return self._json(200, q.answer(_tab(body.get("tab")), _int(body, "index"), choice))
        if path == "/api/prefs/undo":
            return self._json(200, self._prefs().undo(_tab(body.get("tab"))))
        raise RequestError(404, f"not found: POST {path}")

    def _goals(self) -> GoalSession:
        if self.server.app.goals is None:
            raise RequestError(404, "this server runs in preferences mode (no goal labelling)")
        return self.server.app.goals

    def _prefs(self) -> PreferenceQueue:
        if self.server.app.prefs is None:
            raise RequestError(404, "this server runs in goals mode (no preference queue)")
        return self.server.app.prefs

    def _static(self, name: str) -> None:
        files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        if name not in files:
            raise RequestError(404, f"not found: /static/{name}")
        ctype = _TYPES.get(files[name].suffix, "application/octet-stream")
        self._send(200, files[name].read_bytes(), ctype + "; charset=utf-8", cache="no-cache")

    def _goal_image(self, name: str) -> None:
        app = self.server.app
        folder = check_inside(app.store.goal_images_dir, app.frames.root, "labels/goal_images")
        if not _NAME_RE.match(name):
            raise RequestError(403, f"refused: {name!r} is not a goal image name")
        target = (folder / name).resolve()
        if target.parent != folder:  # a symlink pointing out of the folder
            raise RequestError(403, f"refused: goal_images/{name} points outside the dataset")
        if target.suffix.lower() != ".png" or not target.is_file():
            raise RequestError(404, f"not found: goal_images/{name}")
        self._send(200, target.read_bytes(), "image/png", cache="no-cache")


def make_server(
    dataset_root: str | Path,
    mode: str = "goals",
    host: str = "127.0.0.1",
    port: int = 8765,
    labeller: str = "human",
    pairs_file: str | Path | None = None,
    *,
    segment_length: int = 25,
    num_pairs: int = 100,
    seed: int = 0,
    goals_from: str | Path | None = None,
    allow_remote: bool = False,
    client_timeout: float = CLIENT_TIMEOUT_S,
) -> LabelServer:
    """Build (not start) the server; ``port=0`` picks a free port. Run ``.serve_forever()``."""
    if host not in LOCAL_HOSTS and not allow_remote:
        raise UserError(
            f"host {host!r}: the labeling app binds to 127.0.0.1 only (its API writes labels "
            "without authentication); pass allow_remote=True to expose it on purpose"
        )
    app = LabelApp(
        dataset_root, mode, labeller, pairs_file, segment_length, num_pairs, seed, goals_from
    )
    try:
        return LabelServer((host, port), app, allow_remote, client_timeout)
    except OSError as e:
        raise UserError(
            f"cannot listen on {host}:{port} ({e.strerror}); try another port"
        ) from None


def serve(
    dataset_root: str | Path,
    mode: str = "goals",
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    labeller: str = "human",
    pairs_file: str | Path | None = None,
    **kwargs: Any,
) -> None:
    """Serve the labeling app until Ctrl-C; labels are saved as they are given."""
    server = make_server(dataset_root, mode, host, port, labeller, pairs_file, **kwargs)
    print(f"robot_rl labeling ({mode}) on {server.url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        import webbrowser

        threading.Timer(0.3, webbrowser.open, args=(server.url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped; all labels were already saved", flush=True)
    finally:
        server.server_close()
