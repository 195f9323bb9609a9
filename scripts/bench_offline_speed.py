"""Benchmark (issue 3): offline agents' update throughput vs d3rlpy 2.8.1 on this CPU.

Same settings both sides: batch 256, two hidden layers of 256, state dim 25, action dim 4,
float32, 2 threads; CQL/Cal-QL with 10 sampled actions per sampler, 2 critics, fixed CQL weight.
Ours: `robot_rl.agents.make_agent(...).update(Batch)`; d3rlpy: `algo.impl.update(TorchMiniBatch,
step)`, its lowest-overhead path (the TorchMiniBatch is built directly from torch tensors, so
neither side pays a numpy conversion). Also: IQL on 64 px pixels, FLOPs per update (torch
FlopCounterMode over one update: matmuls and convolutions, forward + backward) and the fraction
of this CPU's fp32 matmul peak (measured here), and whether the losses agree: with d3rlpy's
initial weights copied into ours, on one shared batch,
- IQL: the Q loss (sum over critics of the TD MSE to r + gamma V(s')) and the V expectile loss,
  which are deterministic given the weights: they should agree to float precision;
- CQL: the conservative gap E_s[logsumexp_IS Q(s, .)] - E_D[Q(s, a)] (per critic, averaged),
  which samples actions: averaged over repeats on both sides, with the policy's log-std set to a
  constant so both sample the same distribution; it should agree within a few standard errors.

    .venv/bin/python scripts/bench_offline_speed.py --quick   # ~2-3 minutes
"""

from __future__ import annotations

import os

# GNU OpenMP threads spin while they wait; if another busy process shares the 2 cores, every
# parallel op then stalls on a descheduled thread (measured: eager SAC updates 40x slower).
# Passive waiting avoids that at little cost. Must be set before torch loads; applies to both
# sides (the d3rlpy subprocess inherits it). Override with OMP_WAIT_POLICY=ACTIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import copy
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402
from bench_common import ACT_DIM, BATCH, HIDDEN, OBS_DIM, PX, specs  # noqa: E402
from bench_common import random_batch as shared_random_batch  # noqa: E402

from robot_rl.agents import config_with, make_agent  # noqa: E402
from robot_rl.types import ActionSpec, ArraySpec, Batch  # noqa: E402

ALGOS = ("bc", "iql", "cql", "calql")
STATE_SPEC, PIXEL_SPEC = specs()


def random_batch(spec: dict[str, ArraySpec], n: int, seed: int = 0) -> Batch:
    return shared_random_batch(spec, n, seed, mc_return=True)  # Cal-QL reads mc_return


def ours_agent(name: str, spec: dict[str, ArraySpec]) -> Any:
    extra = {"cql_n_actions": 10} if name in ("cql", "calql") else {}
    cfg = config_with(name, batch_size=BATCH, hidden_dims=HIDDEN, **extra)
    return make_agent(name, cfg, spec, ActionSpec(ACT_DIM), "cpu")


def measure_ours(
    name: str, spec: dict[str, ArraySpec], seconds: float, warmup: int = 2, min_windows: int = 3
) -> dict[str, Any]:
    torch.manual_seed(0)
    agent = ours_agent(name, spec)
    batch = random_batch(spec, BATCH)
    flops = bc.count_flops(lambda: agent.update(batch))
    rate = bc.time_rate(lambda: agent.update(batch), 1.0, seconds, warmup, min_windows)
    return {"rate": rate, "flops": flops}


def build_ours(name: str) -> tuple[Any, float]:
    """(update closure, 1 update per call) of our state-observation agent ``name`` (paired run)."""
    torch.manual_seed(0)
    agent = ours_agent(name, STATE_SPEC)
    batch = random_batch(STATE_SPEC, BATCH)
    return (lambda: agent.update(batch)), 1.0


def d3_task(name: str, seconds: float, pixels: bool = False, quick: bool = False) -> dict:
    shape = [3, PX, PX] if pixels else [OBS_DIM]
    return {
        "kind": "speed", "algo": name, "n_critics": 2, "batch": BATCH, "hidden": list(HIDDEN),
        "obs_shape": shape, "act_dim": ACT_DIM, "seconds": seconds, "pixels": pixels,
        "n_actions": 10, **(_FEW if pixels and quick else {}),
    }  # fmt: skip


_FEW = {"warmup": 1, "min_windows": 2}  # slow pixel updates in --quick: fewer timed calls


# ---- loss agreement ---------------------------------------------------------------------------
def _load_ensemble(module: torch.nn.Module, w: dict[str, np.ndarray], prefix: str) -> None:
    """d3rlpy per-member Linear layers [M, out, in] -> our EnsembleLinear [M, in, out]."""
    layers = [*module.linears, module.head]
    with torch.no_grad():
        for i, lin in enumerate(layers):
            lin.weight.copy_(torch.from_numpy(w[f"{prefix}.{i}.weight"]).transpose(1, 2))
            lin.bias.copy_(torch.from_numpy(w[f"{prefix}.{i}.bias"]).unsqueeze(1))


def _load_mlp(mlp: torch.nn.Module, w: dict[str, np.ndarray], prefix: str) -> list[torch.nn.Linear]:
    lins = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(lins):
            key = f"{prefix}.{i}.weight"
            if key in w and tuple(w[key].shape) == tuple(lin.weight.shape):
                lin.weight.copy_(torch.from_numpy(w[key]))
                lin.bias.copy_(torch.from_numpy(w[f"{prefix}.{i}.bias"]))
    return lins


def loss_agreement(name: str, repeats: int, log_std: float = -1.0) -> dict[str, Any]:
    """Our loss values vs d3rlpy's on one batch, with d3rlpy's initial weights copied into ours."""
    batch = random_batch(STATE_SPEC, BATCH, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        batch_file, weights_file = Path(tmp) / "batch.npz", Path(tmp) / "weights.npz"
        np.savez(
            batch_file, obs=batch.obs["state"].numpy(), next_obs=batch.next_obs["state"].numpy(),
            action=batch.action.numpy(), reward=batch.reward.numpy(),
            terminated=batch.terminated.numpy(), mc_return=batch.mc_return.numpy(),
        )  # fmt: skip
        task = {
            **d3_task(name, 0.0), "kind": "losses", "seed": 0, "repeats": repeats,
            "log_std": log_std, "batch_file": str(batch_file), "weights_file": str(weights_file),
        }  # fmt: skip
        theirs = bc.run_d3rlpy(task)
        if "error" in theirs:
            return {"error": theirs["error"]}
        w = dict(np.load(weights_file))
    agent = ours_agent(name, STATE_SPEC)
    _load_ensemble(agent.critic, w, "q_funcs")
    _load_ensemble(agent.critic_target, w, "targ_q_funcs")
    out: dict[str, Any] = {"what": {}}
    if name == "iql":
        _load_mlp(agent.value, w, "value")
        ours = copy.deepcopy(agent).update(batch)  # metrics are computed before the step
        keys = ["critic/loss", "value/loss"]
        mine = {k: float(ours[k]) for k in keys}
        out["what"] = "IQL Q loss and V expectile loss, identical weights and batch"
    else:
        lins = _load_mlp(agent.actor, w, "policy")
        head = lins[-1]  # [2A, H]: rows [:A] mean (d3rlpy's mu), rows [A:] log-std
        lo, hi = agent.actor.log_std_min, agent.actor.log_std_max
        raw = math.atanh(2.0 * (log_std - lo) / (hi - lo) - 1.0)  # our squash -> log_std
        with torch.no_grad():
            head.weight[:ACT_DIM].copy_(torch.from_numpy(w[f"policy.{len(lins) - 1}.weight"]))
            head.bias[:ACT_DIM].copy_(torch.from_numpy(w[f"policy.{len(lins) - 1}.bias"]))
            head.weight[ACT_DIM:].zero_()
            head.bias[ACT_DIM:].fill_(raw)
        gaps = [float(copy.deepcopy(agent).update(batch)["cql/gap"]) for _ in range(repeats)]
        keys = ["cql/gap"]
        mine = {"cql/gap": float(np.mean(gaps))}
        out["ours_sem"] = float(np.std(gaps) / math.sqrt(len(gaps)))
        out["d3rlpy_sem"] = theirs["cql/gap_sem"]
        out["what"] = (
            f"CQL conservative gap (mean over critics), {repeats} sampled repeats each side, "
            f"identical weights and batch, policy log-std fixed at {log_std}"
        )
    out["values"] = {
        k: {
            "ours": mine[k],
            "d3rlpy": theirs[k],
            "rel_diff": abs(mine[k] - theirs[k]) / max(abs(theirs[k]), 1e-12),
        }
        for k in keys
    }
    return out


# ---- main -------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short timing windows (~2-3 min total)")
    p.add_argument("--seconds", type=float, default=None, help="timing seconds per measurement")
    p.add_argument("--no-d3rlpy", action="store_true", help="ours only")
    p.add_argument("--no-pixels", action="store_true", help="skip the 64 px row")
    p.add_argument(
        "--wait-quiet", type=float, default=0.0, help="wait up to this many s for load < 1"
    )
    args = p.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    info, peak, d3 = bc.start(args)

    results: dict[str, Any] = {}
    rows = []
    cases = [(a, STATE_SPEC, False) for a in ALGOS]
    cases += [] if args.no_pixels else [("iql", PIXEL_SPEC, True)]
    for name, spec, pixels in cases:
        label = f"{name}{' 64px' if pixels else ''}"
        few = _FEW if pixels and args.quick else {}
        ours = measure_ours(name, spec, seconds, **few)
        task = d3_task(name, seconds, pixels, args.quick)
        theirs = bc.run_d3rlpy(task) if d3["ok"] else {"error": "n/a"}
        results[label] = {"ours": ours, "d3rlpy": theirs}
        o_rate, o_gflop = ours["rate"]["median"], ours["flops"] / 1e9
        t_rate = theirs["rate"]["median"] if "rate" in theirs else float("nan")
        t_gflop = theirs["flops"] / 1e9 if "flops" in theirs else float("nan")
        rows.append([
            label, o_rate, ours["rate"]["best"], t_rate,
            theirs["rate"]["best"] if "rate" in theirs else float("nan"),
            o_rate / t_rate if t_rate == t_rate else float("nan"),
            o_gflop, 100 * o_gflop * o_rate / peak, t_gflop, 100 * t_gflop * t_rate / peak,
        ])  # fmt: skip
        print(f"  {label}: ours {o_rate:.1f}/s, d3rlpy {t_rate:.1f}/s", flush=True)
    paired: dict[str, Any] = {}
    for name in ALGOS if d3["ok"] else ():
        task = {**d3_task(name, seconds), "kind": "paired", "script": Path(__file__).stem}
        paired[name] = bc.run_d3rlpy({**task, "case": name})
        print(f"  paired {name}: {paired[name].get('paired', {}).get('ratio_median')}", flush=True)
        rows[ALGOS.index(name)].insert(6, paired[name].get("paired", {}).get("ratio_median"))
    for row in rows[len(paired) :]:
        row.insert(6, None)
    headers = [
        "algo", "ours upd/s", "ours best", "d3rlpy upd/s", "d3 best", "ratio", "paired ratio",
        "ours GFLOP/upd", "ours %peak", "d3 GFLOP/upd", "d3 %peak",
    ]  # fmt: skip
    bc.print_table("offline updates/s (median of windows; ratio = ours / d3rlpy)", headers, rows)
    print("paired ratio: median over alternating ours/d3rlpy windows (robust to machine load)")

    agreement = {}
    if d3["ok"]:
        repeats = 20 if args.quick else 100
        agreement = {name: loss_agreement(name, repeats) for name in ("iql", "cql")}
        arows = []
        for name, res in agreement.items():
            if "error" in res:
                arows.append([name, "error", res["error"][-60:], "", "", ""])
                continue
            for k, v in res["values"].items():
                sem = (res.get("ours_sem", 0.0) ** 2 + res.get("d3rlpy_sem", 0.0) ** 2) ** 0.5
                arows.append([name, k, v["ours"], v["d3rlpy"], v["rel_diff"], sem or "-"])
        bc.print_table(
            "losses agree (same weights, same batch)",
            ["algo", "quantity", "ours", "d3rlpy", "rel diff", "std err of diff"],
            [[r[0], r[1], *(bc.fmt(x, 4) for x in r[2:])] for r in arows],
        )
    info["load_avg_1min_end"] = os.getloadavg()[0]
    out = bc.write_json(
        "offline_speed",
        {
            "settings": bc.problem_settings(
                seconds,
                args.quick,
                cql_n_actions=10,
                n_critics=2,
                flops="torch FlopCounterMode over one update (matmul + conv, fwd + bwd)",
            ),  # fmt: skip
            "machine": info,
            "matmul_peak_gflops": peak,
            "d3rlpy": d3,
            "results": results,
            "paired": paired,
            "loss_agreement": agreement,
        },
    )
    print(f"\nload average (1 min): {info['load_avg_1min_start']:.2f} at start, "
          f"{info['load_avg_1min_end']:.2f} at end; wrote {out}")  # fmt: skip


if __name__ == "__main__":
    main()
