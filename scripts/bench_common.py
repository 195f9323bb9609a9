"""Shared helpers of the speed benchmarks (bench_offline_speed.py, bench_online_speed.py).

- threads, timing (median and best of several windows: the machine is shared, so the median is
  the headline and the load average is recorded), FLOP counting (torch FlopCounterMode over one
  update), this CPU's fp32 matmul peak, table printing, atomic JSON output;
- the d3rlpy 2.8.1 reference, kept OUT of the project's environment (it pins gymnasium==1.0.0):
  installed once with `pip install --no-deps --target .bench-deps/d3rlpy` plus the small
  dependencies our venv lacks, and run in a subprocess with that directory first on PYTHONPATH
  (so it uses our torch and gymnasium). The worker half of this file is that subprocess:
  ``python scripts/bench_common.py --d3rlpy-worker < task.json``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEPS = ROOT / ".bench-deps" / "d3rlpy"
D3RLPY = "d3rlpy==2.8.1"
# d3rlpy's requirements that our venv lacks (torch, tqdm, click, numpy, typing-extensions are
# ours; gymnasium is deliberately ours, not its pinned 1.0.0). sklearn is imported by d3rlpy's
# PRDC module at package import, and sklearn 1.9 imports narwhals.
D3RLPY_EXTRA = [
    "gym==0.26.2", "gym-notices", "h5py", "structlog", "colorama", "dataclasses-json",
    "marshmallow", "typing-inspect", "scikit-learn", "scipy", "threadpoolctl", "narwhals",
]  # fmt: skip
THREADS = 2


# ---- environment ------------------------------------------------------------------------------
def cleanup_on_sigterm() -> None:
    """Make ``kill`` (SIGTERM) end the benchmark as Ctrl-C does: ``finally`` blocks run, so its
    temporary datasets are removed instead of left behind."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def set_threads(n: int = THREADS) -> None:
    """Pin torch (and any child process) to n intra-op threads."""
    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    torch.set_num_threads(n)


def machine_info() -> dict[str, Any]:
    """CPU model, torch version and thread count, for the JSON."""
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(default: active)"),
        "python": platform.python_version(),
        "load_avg_1min_start": os.getloadavg()[0],
    }


def wait_for_quiet(max_wait: float, threshold: float = 1.0) -> float:
    """Wait (up to max_wait s) until the 1-min load average drops below threshold; returns it.

    With 2 cores and 2 OpenMP threads, another busy process stalls every parallel op on a
    barrier, which can slow an update 10x or more: timings only mean something on a quiet box.
    """
    deadline = time.time() + max_wait
    load = os.getloadavg()[0]
    while load >= threshold and time.time() < deadline:
        print(f"waiting for a quiet machine: load average {load:.2f}", flush=True)
        time.sleep(min(30.0, max(1.0, deadline - time.time())))
        load = os.getloadavg()[0]
    return load


# ---- timing and FLOPs ---------------------------------------------------------------------------
def time_rate(
    fn: Callable[[], Any],
    units_per_call: float,
    seconds: float,
    warmup: int = 2,
    min_windows: int = 3,
) -> dict[str, float]:
    """Units per second of fn: median and best over ~8 windows filling ``seconds``.

    The median is robust to another process stealing a core for a while; the best window is
    what the code does on a quiet machine. Both are reported.
    """
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    calls = max(1, int(seconds / 8 / one))
    rates = []
    deadline = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        rates.append(calls * units_per_call / (time.perf_counter() - t0))
        if time.perf_counter() > deadline and len(rates) >= min_windows:
            break
    rates.sort()
    return {"median": rates[len(rates) // 2], "best": rates[-1], "windows": len(rates)}


def count_flops(fn: Callable[[], Any]) -> int:
    """Matmul/conv FLOPs (forward + backward) torch dispatches during one fn() call."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_peak_gflops(seconds: float = 3.0, sizes: tuple[int, ...] = (1024, 2048)) -> float:
    """This CPU's fp32 matmul throughput: best GFLOP/s of large square matmuls (current threads)."""
    import torch

    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        out = torch.empty(n, n)
        rate = time_rate(lambda a=a, b=b, out=out: torch.mm(a, b, out=out), 1.0, seconds / 2)
        best = max(best, rate["best"] * 2 * n**3 / 1e9)
    return best


# ---- output -----------------------------------------------------------------------------------
def fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if math.isnan(x):
            return "-"
        return f"{x:.{digits}f}"
    return str(x)


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    """Plain fixed-width table on stdout."""
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n## {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


RESULTS = ROOT / "bench-results"


def atomic_write_json(path: Path, payload: dict[str, Any]) -> Path:
    """``payload`` as JSON at ``path``, written atomically (a reader never sees half a file);
    numpy scalars are written as floats, keys in the order the benchmark made them."""
    from robot_rl.data.format import atomic_write

    atomic_write(path, lambda f: json.dump(payload, f, indent=2, default=float), mode="w")
    return path


def parse_parts(text: str, known: set[str], also: set[str] = frozenset()) -> set[str]:
    """``--parts a,b`` of a benchmark with several parts ('' = none: print and redraw only)."""
    parts = {p for p in text.split(",") if p} | set(also)
    if parts - known:
        raise SystemExit(f"--parts: unknown {sorted(parts - known)} (known: {sorted(known)})")
    return parts


def previous_results(path: Path, quick: bool) -> dict[str, Any]:
    """The results file of an earlier run of the same mode, so parts not run now are kept;
    another mode's figures never mix with these."""
    from robot_rl.data.format import read_json
    from robot_rl.errors import UserError

    try:
        doc = read_json(path) if path.exists() else {}
    except UserError as e:  # a broken results file: a message naming it, nothing overwritten
        raise SystemExit(f"{e}; fix or move it, then re-run") from None
    return doc if isinstance(doc, dict) and doc.get("quick") == quick else {}


def update_results(path: Path, quick: bool, parts: dict[str, Any]) -> dict[str, Any]:
    """Merge ``parts`` into the results file as it is now on disk (same mode) and write it: two
    runs measuring different parts of one benchmark at once keep each other's figures."""
    doc = {**previous_results(path, quick), **parts, "quick": quick}
    atomic_write_json(path, doc)
    return doc


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """bench-results/bench_<name>.json, written atomically."""
    return atomic_write_json(RESULTS / f"bench_{name}.json", payload)


def cli(args: list[str], threads: int, log: Path) -> None:
    """`robot-rl <args>` in a subprocess with ``threads`` torch threads; output to ``log``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        p = subprocess.run(
            [sys.executable, "-m", "robot_rl.cli.main", *args], stdout=f, stderr=subprocess.STDOUT,
            env=env, cwd=ROOT,
        )  # fmt: skip
    if p.returncode != 0:
        tail = log.read_text()[-1500:]
        raise RuntimeError(f"robot-rl {' '.join(args[:2])} failed (log {log}):\n{tail}")


def run_units(
    todo: list[dict[str, Any]], fn: Callable[[dict[str, Any]], dict[str, Any]], jobs: int
) -> list[dict[str, Any]]:
    """Run independent benchmark units ``fn(unit)`` (``jobs`` at once in spawned processes),
    printing one line as each finishes; returns ``{**unit, **result}`` for each. ``fn`` must be
    importable (a module-level function) and should save its own result so a killed benchmark
    can skip finished units on the next run."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    t0, out = time.perf_counter(), []

    def done(u: dict[str, Any], r: dict[str, Any]) -> None:
        out.append({**u, **r})
        msg = r["error"][-200:] if "error" in r else r.get("summary", "done")
        print(f"[{(time.perf_counter() - t0) / 60:5.1f} min] {u['name']}: {msg}", flush=True)

    if jobs <= 1:
        for u in todo:
            done(u, fn(u))
        return out
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(fn, u): u for u in todo}
        for f in as_completed(futures):
            done(futures[f], f.result())
    return out


def start(args: Any) -> tuple[dict[str, Any], float, dict[str, Any]]:
    """The speed benchmarks' common opening: threads, optional wait for a quiet machine, a load
    warning, this CPU's matmul peak and the d3rlpy reference. Returns (machine info, peak, d3)."""
    set_threads()
    wait_for_quiet(args.wait_quiet)
    info = machine_info()
    if info["load_avg_1min_start"] > 1.0:
        print(
            f"WARNING: load average {info['load_avg_1min_start']:.2f}: other processes share "
            "the 2 cores, timings will be low and noisy (see --wait-quiet)"
        )
    peak = matmul_peak_gflops(2.0 if args.quick else 6.0)
    d3 = {"ok": False, "how": "skipped (--no-d3rlpy)"} if args.no_d3rlpy else ensure_d3rlpy()
    print(f"fp32 matmul peak at {THREADS} threads: {peak:.0f} GFLOP/s; d3rlpy: {d3}")
    return info, peak, d3


# ---- the shared benchmark problem -------------------------------------------------------------
OBS_DIM, ACT_DIM, BATCH, HIDDEN, PX = 25, 4, 256, (256, 256), 64  # the issues' settings


def problem_settings(seconds: float, quick: bool, **extra: Any) -> dict[str, Any]:
    """The shared benchmark problem and timing, for a speed benchmark's JSON "settings"."""
    return {
        "batch": BATCH, "hidden": HIDDEN, "obs_dim": OBS_DIM, "act_dim": ACT_DIM, "pixels": PX,
        "threads": THREADS, "seconds_per_measurement": seconds, "quick": quick,
        "d3rlpy_path": "algo.impl.update(TorchMiniBatch, grad_step)", **extra,
    }  # fmt: skip


def specs() -> tuple[dict[str, Any], dict[str, Any]]:
    """(state spec, 64 px pixel spec) of the benchmark problem."""
    from robot_rl.types import ArraySpec

    return {"state": ArraySpec((OBS_DIM,), "float32")}, {"pixels": ArraySpec((PX, PX, 3), "uint8")}


def random_batch(spec: dict[str, Any], n: int, seed: int = 0, mc_return: bool = False) -> Any:
    """A fixed batch of random transitions (uint8 images, float vectors) as a robot_rl Batch."""
    import torch

    from robot_rl.types import Batch

    g = torch.Generator().manual_seed(seed)

    def obs() -> dict[str, Any]:
        return {
            k: torch.randint(0, 256, (n, *s.shape), generator=g, dtype=torch.uint8)
            if s.dtype == "uint8"
            else torch.randn(n, *s.shape, generator=g)
            for k, s in spec.items()
        }

    return Batch(
        obs=obs(),
        action=torch.rand(n, ACT_DIM, generator=g) * 2 - 1,
        reward=torch.randn(n, generator=g),
        next_obs=obs(),
        terminated=(torch.rand(n, generator=g) < 0.05).float(),
        mc_return=torch.randn(n, generator=g) if mc_return else None,
    )


# ---- d3rlpy, outside the project's environment -----------------------------------------------
def _d3rlpy_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(DEPS), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(THREADS)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _d3rlpy_version() -> str | None:
    if not (DEPS / "d3rlpy").is_dir():
        return None
    code = "import d3rlpy, gymnasium; print(d3rlpy.__version__, gymnasium.__version__)"
    r = subprocess.run(
        [sys.executable, "-c", code], env=_d3rlpy_env(), capture_output=True, text=True
    )
    return r.stdout.split()[0] if r.returncode == 0 and r.stdout.strip() else None


def ensure_d3rlpy() -> dict[str, Any]:
    """Make d3rlpy importable from .bench-deps/d3rlpy (idempotent); says how it got there."""
    want = D3RLPY.split("==")[1]
    method = f"pip install --no-deps --target {DEPS} {D3RLPY} + its small deps"
    have = _d3rlpy_version()
    if have == want:
        return {"ok": True, "version": have, "how": f"cached ({method}), subprocess"}
    # Install into a fresh temporary directory, then move it into place (atomic for readers).
    DEPS.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=DEPS.parent, prefix=".d3rlpy-"))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp)]
    r = subprocess.run([*cmd, D3RLPY, *D3RLPY_EXTRA], capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        return {"ok": False, "how": method, "error": r.stderr.strip()[-600:]}
    if DEPS.exists():
        shutil.rmtree(DEPS)
    os.replace(tmp, DEPS)
    have = _d3rlpy_version()
    if have != want:
        return {"ok": False, "how": method, "error": f"installed but import gives {have!r}"}
    return {"ok": True, "version": have, "how": f"installed now ({method}), subprocess"}


def run_d3rlpy(task: dict[str, Any], timeout: float = 1800.0) -> dict[str, Any]:
    """Run one worker task in the d3rlpy subprocess; {"error": ...} if it fails."""
    try:
        r = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--d3rlpy-worker"],
            input=json.dumps(task),
            env=_d3rlpy_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"d3rlpy worker timed out after {timeout:.0f} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"error": (r.stderr.strip() or r.stdout.strip())[-800:]}
    return json.loads(lines[-1])


# ---- the worker (runs inside the d3rlpy subprocess) ---------------------------------------------
def _d3_algo(name: str, spec: dict[str, Any]) -> Any:
    """A d3rlpy algorithm with our network sizes; spec: hidden, n_critics, pixels, n_actions."""
    import d3rlpy

    hidden = list(spec["hidden"])
    if spec.get("pixels"):
        # DrQ-shaped conv stack (ours: 4 x 32 channels, stride 2,1,1,1, 50 features), but built
        # d3rlpy's way: every network (actor, each critic, value) has its own encoder.
        enc = d3rlpy.models.PixelEncoderFactory(
            filters=[[32, 3, 2], [32, 3, 1], [32, 3, 1], [32, 3, 1]], feature_size=50
        )
    else:
        enc = d3rlpy.models.VectorEncoderFactory(hidden_units=hidden)
    common = {"batch_size": spec["batch"]}
    n_crit = spec.get("n_critics", 2)
    if name == "bc":
        cfg = d3rlpy.algos.BCConfig(encoder_factory=enc, policy_type="stochastic", **common)
    elif name == "iql":
        cfg = d3rlpy.algos.IQLConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, value_encoder_factory=enc,
            n_critics=n_crit, **common,
        )  # fmt: skip
    elif name in ("cql", "calql"):
        cls = d3rlpy.algos.CQLConfig if name == "cql" else d3rlpy.algos.CalQLConfig
        # alpha_learning_rate=0: a fixed CQL weight, like our default (lagrange=False).
        cfg = cls(
            actor_encoder_factory=enc, critic_encoder_factory=enc, n_critics=n_crit,
            n_action_samples=spec.get("n_actions", 10), alpha_learning_rate=0.0, **common,
        )  # fmt: skip
    elif name == "sac":
        cfg = d3rlpy.algos.SACConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, n_critics=n_crit, **common
        )
    else:
        raise ValueError(f"unknown d3rlpy algorithm {name!r}")
    algo = cfg.create(device="cpu:0")
    algo.create_impl(tuple(spec["obs_shape"]), spec["act_dim"])
    return algo


def _d3_batch(spec: dict[str, Any], arrays: dict[str, Any] | None = None) -> Any:
    """A TorchMiniBatch of random (or given) data, built directly: no numpy round trip."""
    import torch
    from d3rlpy.torch_utility import TorchMiniBatch

    b, a = spec["batch"], spec["act_dim"]
    if arrays is None:
        shape = (b, *spec["obs_shape"])
        rand = torch.rand if spec.get("pixels") else torch.randn  # pixels: floats in [0, 1]
        arrays = {
            "obs": rand(*shape), "next_obs": rand(*shape),
            "action": torch.rand(b, a) * 2 - 1, "reward": torch.randn(b),
            "terminated": (torch.rand(b) < 0.05).float(), "mc_return": torch.randn(b),
        }  # fmt: skip
    t = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in arrays.items()}
    return TorchMiniBatch(
        observations=t["obs"],
        actions=t["action"],
        rewards=t["reward"].view(-1, 1),
        next_observations=t["next_obs"],
        next_actions=t["action"].clone(),
        returns_to_go=t["mc_return"].view(-1, 1),
        terminals=t["terminated"].view(-1, 1),
        intervals=torch.ones(b, 1),
        device="cpu:0",
    )


def _d3_speed(task: dict[str, Any]) -> dict[str, Any]:
    """updates/s of algo.impl.update(TorchMiniBatch, step), and FLOPs of one update."""
    import torch

    torch.manual_seed(0)
    algo = _d3_algo(task["algo"], task)
    batch = _d3_batch(task)
    step = [0]

    def update() -> None:
        algo.impl.update(batch, step[0])
        step[0] += 1

    flops = count_flops(update)
    rate = time_rate(
        update, 1.0, task["seconds"], task.get("warmup", 2), task.get("min_windows", 3)
    )
    return {"rate": rate, "flops": flops}


def paired_rates(
    fn_a: Callable[[], Any],
    units_a: float,
    fn_b: Callable[[], Any],
    units_b: float,
    seconds: float,
) -> dict[str, float]:
    """Alternating timing windows of a and b: the median of the per-pair rate ratios a/b.

    Both sides see nearly the same machine load within a pair, so the ratio stays meaningful
    even when other processes share the cores (the absolute rates do not).
    """
    for fn in (fn_a, fn_b):
        fn()
    calls = []
    for fn in (fn_a, fn_b):
        t0 = time.perf_counter()
        fn()
        calls.append(max(1, int(seconds / 16 / max(time.perf_counter() - t0, 1e-6))))
    ratios, rates_a, rates_b = [], [], []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(ratios) < 3:
        pair = []
        for fn, n, units in ((fn_a, calls[0], units_a), (fn_b, calls[1], units_b)):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            pair.append(n * units / (time.perf_counter() - t0))
        rates_a.append(pair[0])
        rates_b.append(pair[1])
        ratios.append(pair[0] / pair[1])
    med = sorted(ratios)[len(ratios) // 2]
    return {
        "ratio_median": med,
        "a_median": sorted(rates_a)[len(rates_a) // 2],
        "b_median": sorted(rates_b)[len(rates_b) // 2],
        "pairs": len(ratios),
    }


def _d3_paired(task: dict[str, Any]) -> dict[str, Any]:
    """Ours (built by the bench script's `build_ours(case)`) vs d3rlpy, alternating windows."""
    import importlib

    import torch

    torch.manual_seed(0)
    algo = _d3_algo(task["algo"], task)
    batch = _d3_batch(task)
    step = [0]

    def theirs() -> None:
        algo.impl.update(batch, step[0])
        step[0] += 1

    ours, units = importlib.import_module(task["script"]).build_ours(task["case"])
    return {"paired": paired_rates(ours, units, theirs, 1.0, task["seconds"])}


def _linear(dst: Any, w: Any, b: Any) -> None:
    dst[0].append(w.detach().numpy().copy())
    dst[1].append(b.detach().numpy().copy())


def _d3_losses(task: dict[str, Any]) -> dict[str, Any]:
    """Loss values of d3rlpy IQL / CQL on a given batch, plus its weights for ours to copy.

    IQL: Q (TD to r + gamma V(s')) and V (expectile) losses, deterministic given the weights.
    CQL: the conservative gap E[logsumexp_IS Q] - E_D[Q] per member (before its weight and
    threshold), averaged over `repeats` evaluations (it samples actions); the policy's
    log-std head is set to a constant so both sides sample from the same distribution.
    """
    import numpy as np
    import torch

    torch.manual_seed(task["seed"])
    data = dict(np.load(task["batch_file"]))
    algo = _d3_algo(task["algo"], task)
    impl, mods = algo.impl, algo.impl._modules
    batch = _d3_batch(task, data)

    weights: dict[str, Any] = {}
    for name in ("q_funcs", "targ_q_funcs"):
        ws, bs = [], []
        for q in getattr(mods, name):
            layers = [m for m in q._encoder._layers if isinstance(m, torch.nn.Linear)]
            mw, mb = [], []
            for lin in [*layers, q._fc]:
                _linear((mw, mb), lin.weight, lin.bias)
            ws.append(mw)
            bs.append(mb)
        for i in range(len(ws[0])):  # layer i of every member: [M, out, in], [M, out]
            weights[f"{name}.{i}.weight"] = np.stack([w[i] for w in ws])
            weights[f"{name}.{i}.bias"] = np.stack([b[i] for b in bs])
    out: dict[str, Any] = {}
    with torch.no_grad():
        if task["algo"] == "iql":
            vf = mods.value_func
            lins = [m for m in vf._encoder._layers if isinstance(m, torch.nn.Linear)] + [vf._fc]
            for i, lin in enumerate(lins):
                weights[f"value.{i}.weight"] = lin.weight.numpy().copy()
                weights[f"value.{i}.bias"] = lin.bias.numpy().copy()
            q_tpn = impl.compute_target(batch)
            out["critic/loss"] = float(impl.compute_critic_loss(batch, q_tpn).q_loss)
            out["value/loss"] = float(impl.compute_value_loss(batch))
        else:
            pol = mods.policy
            pol._logstd.weight.zero_()
            pol._logstd.bias.fill_(task["log_std"])
            lins = [m for m in pol._encoder._layers if isinstance(m, torch.nn.Linear)]
            for i, lin in enumerate([*lins, pol._mu]):
                weights[f"policy.{i}.weight"] = lin.weight.numpy().copy()
                weights[f"policy.{i}.bias"] = lin.bias.numpy().copy()
            gaps = []
            for _ in range(task["repeats"]):
                loss = impl._compute_conservative_loss(
                    batch.observations, batch.actions, batch.next_observations, batch.returns_to_go
                )  # conservative_weight * (gap_m - alpha_threshold), [M]
                gap = loss / algo.config.conservative_weight + algo.config.alpha_threshold
                gaps.append(float(gap.mean()))
            out["cql/gap"] = float(np.mean(gaps))
            out["cql/gap_sem"] = float(np.std(gaps) / np.sqrt(len(gaps)))
    np.savez(task["weights_file"], **weights)
    return out


def _worker() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    task = json.loads(sys.stdin.read())
    import torch

    torch.set_num_threads(THREADS)
    import d3rlpy

    if task["kind"] == "call":  # a function of a bench script, e.g. bench_offline_quality.d3_train
        import importlib

        fn = getattr(importlib.import_module(task["script"]), task["fn"])
    else:
        fn = {"speed": _d3_speed, "losses": _d3_losses, "paired": _d3_paired}[task["kind"]]
    result = fn(task)
    result["d3rlpy_version"] = d3rlpy.__version__
    print(json.dumps(result))


if __name__ == "__main__" and "--d3rlpy-worker" in sys.argv:
    _worker()
