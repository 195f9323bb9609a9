"""Benchmark (issue 4): the RLPD-style SAC update's throughput vs d3rlpy 2.8.1 SAC on this CPU.

RLPD update (ours): 10 LayerNorm critics, TD target = min over a random 2 (REDQ), UTD 20 critic
minibatch steps of batch 256 per `update` call, then one actor + temperature step; 256x256 MLPs,
state dim 25, action dim 4, float32, 2 threads. Measured as critic updates/s (update calls/s x
UTD), eager and torch.compile'd, exact targets and the optional block-target approximation.
d3rlpy SAC (10 and 2 critics; target = min over all; one critic + actor + temperature step per
update) via `algo.impl.update(TorchMiniBatch, step)`; our SAC with UTD 1 and the same ensemble is
shown beside it as the like-for-like row. FLOPs per critic update from torch FlopCounterMode
over one update call (eager; matmul + conv, forward + backward, actor step amortised over the
block) and the fraction of this CPU's fp32 matmul peak measured here. The same for 64 px pixels
with our shared DrQ encoder (channels_last on/off) against d3rlpy SAC with 2 critics and a
DrQ-shaped pixel encoder per network (its design; 10 per-critic conv encoders is impractical).

    .venv/bin/python scripts/bench_online_speed.py --quick   # ~2-3 minutes
"""

from __future__ import annotations

import os

# GNU OpenMP threads spin while they wait; if another busy process shares the 2 cores, every
# parallel op then stalls on a descheduled thread (measured: eager SAC updates 40x slower).
# Passive waiting avoids that at little cost. Must be set before torch loads; applies to both
# sides (the d3rlpy subprocess inherits it). Override with OMP_WAIT_POLICY=ACTIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402
from bench_common import (  # noqa: E402
    ACT_DIM,
    BATCH,
    HIDDEN,
    OBS_DIM,
    PX,
    random_batch,  # noqa: E402
    specs,
)

from robot_rl.agents.sac import SAC, SACConfig  # noqa: E402
from robot_rl.methods import method_agent_config  # noqa: E402
from robot_rl.types import ActionSpec, ArraySpec, Batch  # noqa: E402

STATE_SPEC, PIXEL_SPEC = specs()


def measure_ours(
    cfg: SACConfig, spec: dict[str, ArraySpec], seconds: float, min_windows: int = 3
) -> dict[str, Any]:
    """Critic updates/s of `SAC.update` on one fixed block, and FLOPs per critic update."""
    torch.manual_seed(0)
    batch = random_batch(spec, cfg.batch_size * cfg.utd_ratio)
    flops = _flops_per_critic_update(cfg, spec, batch)
    agent = SAC(cfg, spec, ActionSpec(ACT_DIM), torch.device("cpu"))
    t0 = time.perf_counter()
    agent.update(batch)  # compiles, if cfg.compile
    first = time.perf_counter() - t0
    rate = bc.time_rate(lambda: agent.update(batch), cfg.utd_ratio, seconds, 1, min_windows)
    return {
        "rate": rate,
        "flops_per_critic_update": flops,
        "first_update_s": first,
        "compile_fell_back": bool(agent._compile_failed),
    }


def _flops_per_critic_update(cfg: SACConfig, spec: dict[str, ArraySpec], batch: Batch) -> float:
    """FLOPs of one eager update call (same math as compiled) divided by the UTD ratio."""
    eager = SAC(_replace(cfg, compile=False), spec, ActionSpec(ACT_DIM), torch.device("cpu"))
    return bc.count_flops(lambda: eager.update(batch)) / cfg.utd_ratio


def _replace(cfg: SACConfig, **kw: Any) -> SACConfig:
    from dataclasses import replace

    return replace(cfg, **kw)


def d3_task(n_critics: int, seconds: float, pixels: bool = False, quick: bool = False) -> dict:
    return {
        "kind": "speed", "algo": "sac", "n_critics": n_critics, "batch": BATCH,
        "hidden": list(HIDDEN), "obs_shape": [3, PX, PX] if pixels else [OBS_DIM],
        "act_dim": ACT_DIM, "seconds": seconds, "pixels": pixels,
        **({"warmup": 1, "min_windows": 2} if pixels and quick else {}),
    }  # fmt: skip


def all_cases(px_utd: int) -> list[tuple[str, SACConfig, dict[str, ArraySpec], str]]:
    """(label, config, observation spec, d3rlpy row to compare with) of every row of ours."""
    # RLPD's critics at the RLPD paper's UTD 20 (the method table's rlpd runs UTD 10): the rate
    # per critic update is what is measured, and these rows keep their figures comparable.
    rlpd = method_agent_config("rlpd", batch_size=BATCH, hidden_dims=HIDDEN, utd_ratio=20)
    sac = SACConfig(batch_size=BATCH, hidden_dims=HIDDEN)
    px = _replace(rlpd, utd_ratio=px_utd)
    return [
        ("ours RLPD UTD20 eager", rlpd, STATE_SPEC, "d3rlpy SAC-10"),
        ("ours RLPD UTD20 compiled", _replace(rlpd, compile=True), STATE_SPEC, "d3rlpy SAC-10"),
        (
            "ours RLPD UTD20 compiled, block targets*",
            _replace(rlpd, compile=True, block_targets=True), STATE_SPEC, "d3rlpy SAC-10",
        ),
        ("ours SAC-10 UTD1 eager", _replace(sac, num_qs=10), STATE_SPEC, "d3rlpy SAC-10"),
        ("ours SAC-2 UTD1 eager", sac, STATE_SPEC, "d3rlpy SAC-2"),
        (f"ours RLPD 64px UTD{px_utd} channels_last", px, PIXEL_SPEC, "d3rlpy SAC-2 64px"),
        (
            f"ours RLPD 64px UTD{px_utd} NCHW weights",
            _replace(px, channels_last=False), PIXEL_SPEC, "d3rlpy SAC-2 64px",
        ),
    ]  # fmt: skip


PAIRED = {  # rows also timed in alternating windows against d3rlpy (load-robust ratio)
    "ours RLPD UTD20 eager": 10, "ours RLPD UTD20 compiled": 10, "ours SAC-10 UTD1 eager": 10,
}  # fmt: skip


def build_ours(label: str) -> tuple[Any, float]:
    """(update closure, critic updates per call) of state row ``label`` (for the paired run)."""
    _, cfg, spec, _ = next(c for c in all_cases(2) if c[0] == label)
    torch.manual_seed(0)
    agent = SAC(cfg, spec, ActionSpec(ACT_DIM), torch.device("cpu"))
    batch = random_batch(spec, agent.sample_size)
    return (lambda: agent.update(batch)), float(cfg.utd_ratio)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short windows, pixel UTD 2 (~2-3 min)")
    p.add_argument("--seconds", type=float, default=None, help="timing seconds per measurement")
    p.add_argument("--no-d3rlpy", action="store_true", help="ours only")
    p.add_argument(
        "--wait-quiet", type=float, default=0.0, help="wait up to this many s for load < 1"
    )
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    p.add_argument("--no-pixels", action="store_true", help="skip the 64 px rows")
    args = p.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    px_utd = 2 if args.quick else 20
    info, peak, d3 = bc.start(args)

    ours_cases = [
        c for c in all_cases(px_utd)
        if not (args.no_compile and c[1].compile) and not (args.no_pixels and c[2] is PIXEL_SPEC)
    ]  # fmt: skip
    results: dict[str, Any] = {}
    for label, cfg, spec, _ in ours_cases:
        few = 2 if args.quick and spec is PIXEL_SPEC else 3
        results[label] = measure_ours(cfg, spec, seconds, few)
        r = results[label]
        print(f"  {label}: {r['rate']['median']:.1f} critic updates/s", flush=True)
    d3_cases = [("d3rlpy SAC-10", d3_task(10, seconds)), ("d3rlpy SAC-2", d3_task(2, seconds))]
    if not args.no_pixels:
        d3_cases.append(("d3rlpy SAC-2 64px", d3_task(2, seconds, True, args.quick)))
    for label, task in d3_cases:
        results[label] = bc.run_d3rlpy(task) if d3["ok"] else {"error": d3.get("error", "n/a")}
        if "rate" in results[label]:  # one critic update per d3rlpy update
            results[label]["flops_per_critic_update"] = results[label]["flops"]
            print(f"  {label}: {results[label]['rate']['median']:.1f} updates/s", flush=True)

    paired: dict[str, Any] = {}
    for label in [c[0] for c in ours_cases if c[0] in PAIRED] if d3["ok"] else []:
        task = {**d3_task(PAIRED[label], seconds), "kind": "paired"}
        paired[label] = bc.run_d3rlpy({**task, "script": Path(__file__).stem, "case": label})
        r = paired[label].get("paired", {})
        print(f"  paired {label} / d3rlpy SAC-{PAIRED[label]}: {r.get('ratio_median')}", flush=True)

    rows = []
    for label, _, _, ref in [*ours_cases, *((lbl, None, None, None) for lbl, _ in d3_cases)]:
        r = results[label]
        if "rate" not in r:
            rows.append([label, "error", *[""] * 6])  # as many cells as headers
            continue
        rate, gflop = r["rate"]["median"], r["flops_per_critic_update"] / 1e9
        ref_rate = results.get(ref, {}).get("rate", {}).get("median") if ref else None
        pr = paired.get(label, {}).get("paired", {}).get("ratio_median")
        rows.append([
            label, rate, r["rate"]["best"], gflop, 100 * gflop * rate / peak,
            rate / ref_rate if ref_rate else None, pr, ref or "",
        ])  # fmt: skip
    headers = [
        "variant", "critic upd/s", "best", "GFLOP/critic upd", "% peak", "ratio",
        "paired ratio", "vs",
    ]  # fmt: skip
    bc.print_table("online critic updates/s (median of windows)", headers, rows)
    print("* block targets: all UTD targets from the block-start target critic (approximation)")
    print("ratio: of the medians above; paired ratio: median over alternating ours/d3rlpy windows")
    info["load_avg_1min_end"] = os.getloadavg()[0]
    out = bc.write_json(
        "online_speed",
        {
            "settings": bc.problem_settings(
                seconds,
                args.quick,
                pixel_utd=px_utd,
                rlpd={"num_qs": 10, "num_min_qs": 2, "layer_norm": True, "utd": 20},
                flops="torch FlopCounterMode over one update (eager), per critic update",
            ),  # fmt: skip
            "machine": info,
            "matmul_peak_gflops": peak,
            "d3rlpy": d3,
            "results": results,
            "paired": paired,
        },
    )
    print(f"\nload average (1 min): {info['load_avg_1min_start']:.2f} at start, "
          f"{info['load_avg_1min_end']:.2f} at end; wrote {out}")  # fmt: skip


if __name__ == "__main__":
    main()
