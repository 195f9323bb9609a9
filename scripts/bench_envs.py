"""Benchmark: the environments (issue 2).

1. env steps/s of every task: state only, and with 64 px and 84 px pixels (one process, random
   actions, resets included: what a collector pays);
2. collector scaling: `collect_episode` (the collector's own rollout code, expert on push, 64 px
   pixels) in one spawned process vs two at once (LP_NUM_THREADS=1 each), and the ratio;
3. scripted policy success over N episodes per task (N=100, --quick 10): expert at noise 0, 0.1,
   0.2, 0.3 (xyz noise), play and random (seeds 0..N-1);
4. dataset write and read throughput (episodes/s, MB/s) of 64 px pixel episodes through
   robot_rl.data (DatasetWriter.write / Dataset.load).

    MUJOCO_GL=egl .venv/bin/python scripts/bench_envs.py [--quick]

Prints tables and writes bench-results/bench_envs.json. The machine is shared: rates are the
median of several timing windows (best window beside it) and the load average is recorded.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")  # Mesa llvmpipe: one render thread per process

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

TARGET_PIXELS_64 = 200.0  # steps/s in one process
TARGET_SCALING = 1.7  # two processes vs one
TARGET_EXPERT = 0.95  # noiseless expert success on every task
POLICIES = [("expert", 0.0), ("noisy", 0.1), ("noisy", 0.2), ("noisy", 0.3), ("play", 0.0),
            ("random", 0.0)]  # fmt: skip


# ---- 1. step rate ---------------------------------------------------------------------------
def step_rate(task: str, obs: str, size: int, seconds: float) -> dict[str, float]:
    """Steps/s of random actions (resetting at episode ends) in this process."""
    from robot_rl.envs import make_env

    env = make_env(task, obs=obs, image_size=size, seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (1000, 4)).astype(np.float32)
    i = [0]

    def step() -> None:
        _, _, term, trunc, _ = env.step(actions[i[0] % 1000])
        i[0] += 1
        if term or trunc:
            env.reset()

    rate = bc.time_rate(step, 1.0, seconds, warmup=5)
    env.close()
    return rate


# ---- 2. collector scaling -------------------------------------------------------------------
def _collector(ready: Any, go: Any, results: Any, seconds: float, worker: int) -> None:
    """One collector process: roll out expert episodes with 64 px pixels for ``seconds``."""
    from robot_rl.envs.collect import Component, collect_episode

    comp = Component("expert", 0.0, 1.0)
    collect_episode("push", "pixels", 64, comp, seed=10_000 + worker)  # warm-up: env, renderer
    ready.put(worker)
    go.wait()
    steps, n, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        steps += collect_episode("push", "pixels", 64, comp, seed=worker * 1000 + n).length
        n += 1
    results.put((worker, steps, time.perf_counter() - t0))


def collector_rate(processes: int, seconds: float) -> float:
    """Total steps/s of ``processes`` spawned collectors started together."""
    ctx = mp.get_context("spawn")  # EGL and fork do not mix
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_collector, args=(ready, go, results, seconds, w))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    go.set()
    out = [results.get(timeout=300 + 2 * seconds) for _ in procs]
    for p in procs:
        p.join()
    return sum(steps / dt for _, steps, dt in out)


# ---- 3. scripted policy success -------------------------------------------------------------
def success_rate(task: str, kind: str, noise: float, episodes: int) -> dict[str, float]:
    from robot_rl.envs import make_env, make_scripted_policy

    env = make_env(task, obs="state")
    wins, lengths = [], []
    for seed in range(episodes):
        pi = make_scripted_policy(task, kind, noise, seed=seed)
        env.reset(seed=seed)
        pi.reset(env)
        done, ok, t = False, False, 0
        while not done:
            _, _, term, trunc, info = env.step(pi.act(env))
            ok, done, t = ok or info["success"], term or trunc, t + 1
        wins.append(ok)
        lengths.append(t)
    env.close()
    return {"success_rate": float(np.mean(wins)), "mean_length": float(np.mean(lengths))}


# ---- 4. dataset throughput --------------------------------------------------------------------
def dataset_throughput(episodes: int) -> dict[str, float]:
    """Write then read ``episodes`` 64 px push episodes (one real rollout, stored many times)."""
    from robot_rl.data import Dataset, DatasetMeta, DatasetWriter
    from robot_rl.envs import get_task_info, make_env
    from robot_rl.envs.collect import Component, collect_episode
    from robot_rl.training.episodes import env_obs_spec
    from robot_rl.types import ActionSpec

    env = make_env("push", obs="pixels", image_size=64)
    meta = DatasetMeta(
        task="push",
        control_freq=get_task_info("push").control_freq,
        obs_spec=env_obs_spec(env),
        action_spec=ActionSpec(4),
        provenance={"source": "scripts/bench_envs.py"},
    )
    env.close()
    # a play episode runs the full 50 steps: 51 frames of 64x64x3
    ep = collect_episode("push", "pixels", 64, Component("play", 0.0, 1.0), seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_envs_"))
    try:
        writer = DatasetWriter(tmp / "ds", meta)
        t0 = time.perf_counter()
        for i in range(episodes):
            writer.write(ep, i)
        write_s = time.perf_counter() - t0
        mb = sum(p.stat().st_size for p in (tmp / "ds" / "episodes").glob("*.npz")) / 1e6
        ds = Dataset(tmp / "ds")
        t0 = time.perf_counter()
        frames = sum(e.obs["pixels"].shape[0] for e in ds)
        read_s = time.perf_counter() - t0
        assert frames == episodes * (ep.length + 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "episodes": episodes,
        "steps_per_episode": ep.length,
        "mb_on_disk": mb,
        "mb_in_memory": episodes * ep.obs["pixels"].nbytes / 1e6,
        "write_episodes_per_s": episodes / write_s,
        "write_mb_per_s": mb / write_s,
        "read_episodes_per_s": episodes / read_s,
        "read_mb_per_s": mb / read_s,
    }


# ---- driver -----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small budgets (under 2 minutes)")
    ap.add_argument("--episodes", type=int, default=None, help="episodes per success cell")
    args = ap.parse_args()
    from robot_rl.envs import list_tasks

    quick = args.quick
    n_success = args.episodes or (10 if quick else 100)
    window = 0.6 if quick else 3.0
    collector_s = 4.0 if quick else 15.0
    tasks = list_tasks()
    started = time.perf_counter()
    info = {"load_avg_1min_start": os.getloadavg()[0], "cores": os.cpu_count()}

    steps: dict[str, dict[str, Any]] = {}
    for task in tasks:
        steps[task] = {
            "state": step_rate(task, "state", 64, window),
            "pixels64": step_rate(task, "pixels", 64, window),
            "pixels84": step_rate(task, "pixels", 84, window),
        }
    bc.print_table(
        f"env steps/s, one process (median of windows; target: 64 px >= {TARGET_PIXELS_64:.0f})",
        ["task", "state", "pixels 64", "pixels 84", "64 px target"],
        [
            [t, s["state"]["median"], s["pixels64"]["median"], s["pixels84"]["median"],
             "ok" if s["pixels64"]["median"] >= TARGET_PIXELS_64 else "MISS"]
            for t, s in steps.items()
        ],
    )  # fmt: skip

    one = collector_rate(1, collector_s)
    two = collector_rate(2, collector_s)
    ratio = two / one
    bc.print_table(
        f"collector (push, expert, 64 px pixels, spawn, LP_NUM_THREADS=1), {collector_s:g} s",
        ["processes", "steps/s total", "ratio", f"target >= {TARGET_SCALING}"],
        [[1, one, 1.0, ""], [2, two, ratio, "ok" if ratio >= TARGET_SCALING else "MISS"]],
    )

    success: dict[str, dict[str, Any]] = {}
    for task in tasks:
        success[task] = {
            (k if k != "noisy" else f"noisy{n:g}"): success_rate(task, k, n, n_success)
            for k, n in POLICIES
        }
    labels = ["expert", "noisy0.1", "noisy0.2", "noisy0.3", "play", "random"]
    bc.print_table(
        f"scripted success rate, {n_success} episodes each (target: expert >= {TARGET_EXPERT})",
        ["task", *labels, "expert target"],
        [
            [t, *(f"{s[k]['success_rate']:.2f}" for k in labels),
             "ok" if s["expert"]["success_rate"] >= TARGET_EXPERT else "MISS"]
            for t, s in success.items()
        ],
    )  # fmt: skip

    data = dataset_throughput(20 if quick else 100)
    bc.print_table(
        f"dataset throughput, {data['episodes']} episodes of {data['steps_per_episode']} steps"
        f" at 64 px ({data['mb_on_disk']:.1f} MB on disk, {data['mb_in_memory']:.1f} MB pixels)",
        ["direction", "episodes/s", "MB/s (on disk)"],
        [
            ["write", data["write_episodes_per_s"], data["write_mb_per_s"]],
            ["read", data["read_episodes_per_s"], data["read_mb_per_s"]],
        ],
    )

    info["load_avg_1min_end"] = os.getloadavg()[0]
    info["seconds"] = round(time.perf_counter() - started, 1)
    out = bc.write_json(
        "envs",
        {
            "quick": quick,
            "machine": info,
            "targets": {
                "pixels64_steps_per_s": TARGET_PIXELS_64,
                "two_process_ratio": TARGET_SCALING,
                "expert_success": TARGET_EXPERT,
            },
            "steps_per_s": steps,
            "collector": {"one": one, "two": two, "ratio": ratio, "seconds": collector_s},
            "success": success,
            "dataset": data,
        },
    )
    print(f"\n{info['seconds']} s; load average {info['load_avg_1min_start']:.1f} -> "
          f"{info['load_avg_1min_end']:.1f}; wrote {out}")  # fmt: skip


if __name__ == "__main__":
    main()
