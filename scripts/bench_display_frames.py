"""Benchmark: display frames for the labeling app (issue 18 item 6), what they cost.

For zone and drawer, collect the same N episodes (the pipeline's mixture, one process, 64 px
pixels for training) without display frames and with them at 128 and 256 px
(`robot-rl collect display_size=`), and report
1. bytes on disk per episode: the episode npz (unchanged) and the display file beside it;
2. collection seconds per episode (median of rounds; each setting warmed up first);
3. serving one frame over HTTP from the labeling server: a display JPEG (first frame of an
   episode: its file is read; later frames: cached) against the training PNG;
4. the alternative, re-rendering from the episode's seed and actions: seconds per episode at
   256 px, and whether the replay reproduces the stored 64 px frames bit for bit.

    MUJOCO_GL=egl nice .venv/bin/python scripts/bench_display_frames.py [--quick]

Prints tables and writes bench-results/bench_display_frames.json (--quick, under 3 minutes:
bench_display_frames_quick.json, same code path).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")  # Mesa llvmpipe: one render thread per process

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

TASKS = ("zone", "drawer")
SIZES = (0, 128, 256)  # 0: no display frames
MIXTURE = "expert:0.2+noisy0.3:0.2+play:0.6"  # the pipeline's


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.npz")) if folder.is_dir() else 0


def collect_cell(task: str, size: int, episodes: int, seed: int, root: Path) -> dict[str, Any]:
    """Collect ``episodes`` episodes into ``root`` (after a one-episode warm-up elsewhere)."""
    from robot_rl.envs.collect import collect

    common = dict(obs="pixels", image_size=64, mixture=MIXTURE, progress=False)
    with contextlib.redirect_stdout(io.StringIO()):  # collect's own summary lines
        collect(task, root.with_name(root.name + "-warm"), 1, seed=seed + 99, display_size=size,
                **common)  # fmt: skip
        t0 = time.perf_counter()
        summary = collect(task, root, episodes, seed=seed, display_size=size, **common)
        seconds = time.perf_counter() - t0
    return {
        "seconds_per_episode": seconds / episodes,
        "ms_per_step": 1000 * seconds / summary["steps"],
        "steps": summary["steps"],
        "episode_bytes": _dir_bytes(root / "episodes") / episodes,
        "display_bytes": _dir_bytes(root / "display") / episodes,
    }


def _get(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as r:
        n = len(r.read())
    return time.perf_counter() - t0, n


def serve_times(root: Path, episodes: int) -> dict[str, Any]:
    """Milliseconds to GET one frame from a running labeling server (each file read once)."""
    from robot_rl.labeling.server import make_server

    server = make_server(root, port=0)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        info = server.app.info()
        eps = [(e["id"], e["frames"]) for e in info["episodes"]][:episodes]
        out: dict[str, Any] = {}
        for ext in ("jpg", "png"):
            first, later, sizes = [], [], []
            for ep, n in eps:
                for f in range(n):
                    dt, nbytes = _get(f"{server.url}frames/{ep}/{f}.{ext}")
                    (first if f == 0 else later).append(1000 * dt)
                    sizes.append(nbytes)
            out[ext] = {
                "ms_first_frame_of_episode": statistics.median(first),
                "ms_later_frame": statistics.median(later),
                "bytes_per_frame": statistics.mean(sizes),
                "frames": len(first) + len(later),
            }
        return out
    finally:
        server.shutdown()
        server.server_close()


def replay_cell(root: Path, size: int, episodes: int) -> dict[str, Any]:
    """Re-render ``episodes`` stored episodes from their seed and actions at ``size`` px."""
    from robot_rl.data import Dataset
    from robot_rl.envs import make_env

    ds = Dataset(root)
    env = make_env(ds.meta.task, obs="pixels", image_size=64)
    env.unwrapped.render_pixels(size)  # the renderer exists before the clock starts
    identical, seconds, steps = 0, 0.0, 0
    for i in ds.episode_ids[:episodes]:
        ep = ds.load(i)
        t0 = time.perf_counter()
        o, _ = env.reset(seed=ep.info["seed"])
        frames, display = [o["pixels"]], [env.unwrapped.render_pixels(size)]
        for a in ep.action:
            o, *_ = env.step(a)
            frames.append(o["pixels"])
            display.append(env.unwrapped.render_pixels(size))
        seconds += time.perf_counter() - t0
        steps += ep.length
        identical += bool(np.array_equal(np.stack(frames), ep.obs["pixels"]))
    env.close()
    return {
        "seconds_per_episode": seconds / episodes,
        "ms_per_step": 1000 * seconds / steps,
        "episodes_identical": identical,
        "episodes": episodes,
    }


def run(quick: bool, episodes: int, rounds: int, tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for task in TASKS:
        cells: dict[int, list[dict[str, Any]]] = {s: [] for s in SIZES}
        for r in range(rounds):  # settings interleaved: a load spike hits all of them
            for size in SIZES:
                root = tmp / f"{task}-{size}-r{r}"
                cells[size].append(collect_cell(task, size, episodes, 0, root))
        results[task] = {}
        for size in SIZES:
            runs = cells[size]
            med = {k: statistics.median(c[k] for c in runs) for k in runs[0]}
            med["seconds_per_episode_rounds"] = [c["seconds_per_episode"] for c in runs]
            results[task][str(size)] = med
        base = results[task]["0"]
        for size in SIZES:
            cell = results[task][str(size)]
            cell["time_ratio"] = cell["seconds_per_episode"] / base["seconds_per_episode"]
            # the least loaded round of each (the machine is shared: load only adds time)
            cell["time_ratio_best"] = min(cell["seconds_per_episode_rounds"]) / min(
                base["seconds_per_episode_rounds"]
            )
            cell["bytes_ratio"] = (cell["episode_bytes"] + cell["display_bytes"]) / (
                results[task]["0"]["episode_bytes"]
            )
    serve = serve_times(tmp / "zone-256-r0", 2 if quick else 10)
    replay = {
        task: replay_cell(tmp / f"{task}-0-r0", 256, min(episodes, 3 if quick else 10))
        for task in TASKS
    }
    return {"collect": results, "serve": serve, "replay_256": replay}


def report(doc: dict[str, Any]) -> None:
    rows = []
    for task, cells in doc["collect"].items():
        for size, c in cells.items():
            rows.append([
                task, "off" if size == "0" else f"{size} px", c["seconds_per_episode"],
                c["ms_per_step"], f"{c['time_ratio']:.2f}x", f"{c['time_ratio_best']:.2f}x",
                c["episode_bytes"] / 1e3,
                c["display_bytes"] / 1e3, f"{c['bytes_ratio']:.2f}x",
            ])  # fmt: skip
    bc.print_table(
        f"collect {doc['episodes']} episodes ({MIXTURE}), 64 px training frames, 1 process;"
        f" median of {doc['rounds']} rounds",
        [
            "task",
            "display",
            "s/episode",
            "ms/step",
            "time",
            "time (best round)",
            "episode KB",
            "display KB",
            "bytes",
        ],
        rows,
    )
    s = doc["serve"]
    bc.print_table(
        "serving one frame over HTTP (zone, median ms)",
        ["frame", "first of episode", "later", "KB/frame"],
        [
            ["display 256 px JPEG", s["jpg"]["ms_first_frame_of_episode"],
             s["jpg"]["ms_later_frame"], s["jpg"]["bytes_per_frame"] / 1e3],
            ["training 64 px PNG", s["png"]["ms_first_frame_of_episode"],
             s["png"]["ms_later_frame"], s["png"]["bytes_per_frame"] / 1e3],
        ],
    )  # fmt: skip
    bc.print_table(
        "the alternative: re-render at 256 px from the episode's seed and actions",
        ["task", "s/episode", "ms/step", "64 px frames reproduced"],
        [
            [t, r["seconds_per_episode"], r["ms_per_step"],
             f"{r['episodes_identical']}/{r['episodes']} episodes"]
            for t, r in doc["replay_256"].items()
        ],
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small budgets (under 3 minutes)")
    ap.add_argument("--episodes", type=int, default=None, help="episodes per cell")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="wait up to this many s for a 1-min load average under 1.5 first",
    )
    args = ap.parse_args()
    bc.cleanup_on_sigterm()
    bc.set_threads(1)
    quick = args.quick
    episodes = args.episodes or (6 if quick else 30)
    rounds = 1 if quick else 3
    bc.wait_for_quiet(args.wait_quiet, 1.5)
    machine = bc.machine_info()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_display_"))
    try:
        doc = {"quick": quick, "episodes": episodes, "rounds": rounds, "mixture": MIXTURE,
               **run(quick, episodes, rounds, tmp)}  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine["load_avg_1min_end"] = os.getloadavg()[0]
    machine["seconds"] = round(time.perf_counter() - started, 1)
    doc = {"machine": machine, **doc}
    report(doc)
    out = bc.write_json("display_frames_quick" if quick else "display_frames", doc)
    print(f"\n{machine['seconds']} s; load average {machine['load_avg_1min_start']:.1f} -> "
          f"{machine['load_avg_1min_end']:.1f}; wrote {out}")  # fmt: skip


if __name__ == "__main__":
    main()
