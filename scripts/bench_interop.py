"""Bring-your-own-data benchmark: Minari datasets recorded with Minari's own DataCollector from
Gymnasium-Robotics FetchPush-v4 and FetchPickAndPlace-v4 (robot_rl's scripted experts with a
mixture of xyz noise levels; no success flag, Fetch's -1/0 reward, as a user would record them),
imported with `robot-rl dataset import-minari --sparse01`, trained with this project's BC / IQL /
Cal-QL and d3rlpy's BC / IQL (same data, same update budget), each evaluated in the recorded
Gymnasium env by its own success rule (info["is_success"] at the final step; any-step too), and
the time to import a 1,000-episode dataset (target < 30 s).

Minari's DataCollector needs jax, and the d3rlpy arm d3rlpy: both are installed into
.bench-deps/ for the benchmark only (--no-deps, PYTHONPATH), never into the project's venv.

    python scripts/bench_interop.py --quick   # ~3 min: few episodes and updates, one seed
    python scripts/bench_interop.py           # the full benchmark
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

sys.path.insert(0, str(bc.ROOT))  # this checkout's robot_rl, not another installed one

JAX_DIR = bc.ROOT / ".bench-deps" / "minari-jax"
JAX = ["jax==0.10.2", "jaxlib==0.10.2", "ml_dtypes", "opt_einsum"]
ENVS = {"FetchPush-v4": "push", "FetchPickAndPlace-v4": "pick_and_place"}  # env -> our expert
NOISES = (0.0, 0.1, 0.3, 0.6)  # xyz noise of the expert, one level per episode in turn
OURS, THEIRS = ("bc", "iql", "calql"), ("d3rlpy_bc", "d3rlpy_iql")
FULL = {"episodes": 300, "steps": 5000, "seeds": 3, "eval_episodes": 50, "import_episodes": 1000,
        "train_envs": list(ENVS)}  # fmt: skip
QUICK = {"episodes": 12, "steps": 50, "seeds": 1, "eval_episodes": 5, "import_episodes": 100,
         "train_envs": ["FetchPush-v4"]}  # both recorded and imported; one trained on  # fmt: skip


# ---- recording (inside a subprocess with jax on PYTHONPATH) ------------------------------------
class _FetchView:
    """What robot_rl's scripted experts read (``env.unwrapped.task_state()``), from Fetch's own
    observation dictionary."""

    def __init__(self) -> None:
        self.obs: dict[str, np.ndarray] = {}

    @property
    def unwrapped(self) -> _FetchView:
        return self

    def task_state(self) -> dict[str, Any]:
        o = self.obs["observation"]
        return {"grip": o[:3], "object": o[3:6], "goal": self.obs["desired_goal"],
                "fingers": float(o[9] + o[10])}  # fmt: skip


def record(task: dict[str, Any]) -> dict[str, Any]:
    """Record ``episodes`` with Minari's DataCollector (expert with a noise mixture, or random)."""
    os.environ["MINARI_DATASETS_PATH"] = task["minari_root"]
    import gymnasium as gym
    import gymnasium_robotics
    from minari import DataCollector

    from robot_rl.envs import make_scripted_policy

    gym.register_envs(gymnasium_robotics)
    env = DataCollector(gym.make(task["env"]))
    view, t0 = _FetchView(), time.perf_counter()
    for ep in range(task["episodes"]):
        noise = NOISES[ep % len(NOISES)]
        policy = make_scripted_policy(ENVS[task["env"]], "expert", noise, 0.0, task["seed"] + ep)
        view.obs, _ = env.reset(seed=task["seed"] + ep)
        policy.reset(view)
        done = False
        while not done:
            a = env.action_space.sample() if task["random"] else policy.act(view)
            view.obs, _, terminated, truncated, _ = env.step(a)
            done = terminated or truncated
    what = "uniform random actions" if task["random"] else f"robot_rl expert, xyz noise {NOISES}"
    env.create_dataset(dataset_id=task["dataset_id"], algorithm_name=what, author="bench_interop")
    env.close()
    return {"seconds": time.perf_counter() - t0}


def ensure_jax() -> dict[str, Any]:
    """jax for Minari's DataCollector, in .bench-deps/minari-jax (idempotent)."""
    how = f"pip install --no-deps --target {JAX_DIR} {' '.join(JAX)}"
    if (JAX_DIR / "jax").is_dir():
        return {"ok": True, "how": f"cached ({how})"}
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(JAX_DIR), *JAX], capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        shutil.rmtree(JAX_DIR, ignore_errors=True)
        return {"ok": False, "how": how, "error": r.stderr.strip()[-400:]}
    return {"ok": True, "how": f"installed now ({how})"}


def run_recorder(task: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(JAX_DIR), str(bc.ROOT)]),
           "PYTHONWARNINGS": "ignore"}  # fmt: skip
    r = subprocess.run([sys.executable, __file__, "--record-worker"], input=json.dumps(task),
                       env=env, capture_output=True, text=True)  # fmt: skip
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"recording {task['dataset_id']} failed: {r.stderr[-800:]}")
    return json.loads(lines[-1])


# ---- training and evaluation --------------------------------------------------------------------
def train_ours(u: dict[str, Any]) -> dict[str, Any]:
    out = Path(u["root"]) / "runs" / u["name"]
    t0 = time.perf_counter()
    bc.cli(
        ["pretrain", f"agent={u['algo']}", f"dataset={u['dataset']}", f"out={out}",
         f"steps={u['steps']}", f"seed={u['seed']}", "progress=false", "overwrite=true",
         f"eval.every={u['steps']}", f"eval.episodes={u['eval_episodes']}", "eval.video=false",
         f"checkpoint_every={u['steps']}"],
        1, Path(u["root"]) / "logs" / f"{u['name']}.log",
    )  # fmt: skip
    from robot_rl.training.logger import read_csv

    ev = read_csv(out / "eval.csv")
    return {"final": ev["eval/final_success_rate"][-1], "any": ev["eval/success_rate"][-1],
            "seconds": time.perf_counter() - t0}  # fmt: skip


class _D3Agent:
    def __init__(self, algo: Any) -> None:
        self.algo = algo

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.algo.predict(obs["state"][None].astype(np.float32))[0]


def d3_train(task: dict[str, Any]) -> dict[str, Any]:
    """(Inside the d3rlpy subprocess.) d3rlpy BC / IQL on the same transitions, same update
    budget and network sizes, evaluated by robot_rl's own `evaluate` in the recorded env."""
    import d3rlpy
    import torch

    from robot_rl.training.evaluate import evaluate

    torch.set_num_threads(1)
    d3rlpy.seed(task["seed"])
    t0 = time.perf_counter()
    data = np.load(task["transitions"])
    ds = d3rlpy.dataset.MDPDataset(
        observations=data["obs"], actions=data["action"], rewards=data["reward"],
        terminals=data["terminal"], timeouts=data["timeout"],
    )  # fmt: skip
    enc = d3rlpy.models.VectorEncoderFactory(hidden_units=[256, 256])
    scaler = d3rlpy.preprocessing.StandardObservationScaler()  # ours: normalize_obs=true
    if task["algo"] == "d3rlpy_bc":
        cfg: Any = d3rlpy.algos.BCConfig(encoder_factory=enc, batch_size=256,
                                         observation_scaler=scaler)  # fmt: skip
    else:
        cfg = d3rlpy.algos.IQLConfig(
            actor_encoder_factory=enc, critic_encoder_factory=enc, value_encoder_factory=enc,
            batch_size=256, expectile=0.7, weight_temp=3.0, max_weight=100.0,
            observation_scaler=scaler,
        )  # fmt: skip
    algo = cfg.create(device="cpu:0")
    algo.fit(ds, n_steps=task["steps"], n_steps_per_epoch=task["steps"], show_progress=False,
             logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9)  # fmt: skip
    m = evaluate(_D3Agent(algo), task["task"], "state", 64, task["eval_episodes"], task["seed"])
    return {"final": m["eval/final_success_rate"], "any": m["eval/success_rate"],
            "seconds": time.perf_counter() - t0}  # fmt: skip


def train_theirs(u: dict[str, Any], d3: dict[str, Any]) -> dict[str, Any]:
    if not d3.get("ok"):
        return {"error": f"d3rlpy unavailable: {d3.get('error', d3.get('how'))}"}
    return bc.run_d3rlpy({**u, "kind": "call", "script": "bench_interop", "fn": "d3_train"})


# ---- the benchmark ------------------------------------------------------------------------------
def make_data(root: Path, b: dict[str, Any]) -> dict[str, Any]:
    """Record, import (timed), export transitions for d3rlpy; the import of the big dataset."""
    from bench_offline_quality import export_transitions

    from robot_rl.data.minari_io import import_minari

    mroot, data = root / "minari", {}
    jobs = [(env_id, b["episodes"], False) for env_id in ENVS]
    jobs.append(("FetchPush-v4", b["import_episodes"], True))
    for env_id, episodes, random in jobs:
        did = f"bench/{env_id.split('-')[0].lower()}-{'random' if random else 'mixed'}-v0"
        rec = run_recorder({"env": env_id, "episodes": episodes, "random": random, "seed": 0,
                            "dataset_id": did, "minari_root": str(mroot)})  # fmt: skip
        t0 = time.perf_counter()
        ds = import_minari(did, root / "data" / did.replace("/", "_"), mroot, sparse01=True)
        secs = time.perf_counter() - t0
        succ = float(np.mean([ds.load(i).success.any() for i in ds.episode_ids]))
        final = float(np.mean([ds.load(i).success[-1] for i in ds.episode_ids]))
        data[did] = {"env": env_id, "episodes": episodes, "record_s": rec["seconds"],
                     "import_s": secs, "import_s_per_1000": secs * 1000 / episodes,
                     "success_any": succ, "success_final": final, "path": str(ds.root),
                     "task": ds.meta.task,
                     "provenance_success": ds.meta.provenance["success"]}  # fmt: skip
        if not random:
            export_transitions(str(ds.root), root / "data" / f"{env_id}.transitions.npz")
    return data


def measured(u: dict[str, Any], d3: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One (env, algorithm, seed): read back when measured before with the same budget, else
    trained and evaluated now and saved at once (a killed benchmark loses no finished run)."""
    path = Path(u["root"]) / "results" / f"{u['name']}.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("budget") == b and "error" not in old:
            return old
    try:
        r = train_theirs(u, d3) if u["algo"] in THEIRS else train_ours(u)
    except Exception as e:  # a failed arm is a row saying why, not a lost run
        r = {"error": f"{type(e).__name__}: {str(e)[-300:]}"}
    print(f"  {u['name']}: {r.get('error') or r}", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    bc.atomic_write_json(path, {**u, **r, "budget": b})
    return {**u, **r, "budget": b}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed (< 3 min)")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--episodes", type=int)
    ap.add_argument("--no-d3rlpy", action="store_true")
    ap.add_argument("--out", default="runs/bench_interop")
    ap.add_argument("--fresh", action="store_true", help="discard runs measured before")
    args = ap.parse_args()
    bc.cleanup_on_sigterm()
    t_start = time.perf_counter()
    b = dict(QUICK if args.quick else FULL)
    for key in ("steps", "seeds", "episodes"):
        if getattr(args, key) is not None:
            b[key] = getattr(args, key)
    root = Path(args.out).resolve() / ("quick" if args.quick else "full")
    if args.quick or args.fresh:  # a quick run is always measured afresh
        shutil.rmtree(root, ignore_errors=True)
    info = bc.machine_info()
    jax = ensure_jax()
    if not jax["ok"]:
        raise SystemExit(f"cannot record with Minari's DataCollector (needs jax): {jax}")
    d3 = {"ok": False, "how": "skipped (--no-d3rlpy)"} if args.no_d3rlpy else bc.ensure_d3rlpy()
    print(f"budget {b}; jax: {jax['how']}; d3rlpy: {d3.get('how')} ok={d3['ok']}", flush=True)
    saved = root / "data.json"
    old = json.loads(saved.read_text()) if saved.exists() else {}
    if old.get("budget") == b:
        data = old["data"]  # recorded and imported before (the timings are from then)
    else:
        shutil.rmtree(root, ignore_errors=True)
        data = make_data(root, b)
        bc.atomic_write_json(saved, {"budget": b, "data": data})
    results = []
    for did, d in data.items():
        if "random" in did or d["env"] not in b["train_envs"]:
            continue
        for algo in (*OURS, *THEIRS):
            for seed in range(b["seeds"]):
                u = {"name": f"{d['env']}-{algo}-s{seed}", "env": d["env"], "algo": algo,
                     "seed": seed, "dataset": d["path"], "task": d["task"], "root": str(root),
                     "steps": b["steps"], "eval_episodes": b["eval_episodes"],
                     "transitions": str(root / "data" / f"{d['env']}.transitions.npz")}  # fmt: skip
                results.append(measured(u, d3, b))
    report(data, results, b, info, d3, jax, args.quick, time.perf_counter() - t_start)


def report(data, results, b, info, d3, jax, quick: bool, seconds: float) -> None:  # noqa: ANN001
    rows = [[did, d["episodes"], bc.fmt(d["success_any"], 2), bc.fmt(d["success_final"], 2),
             bc.fmt(d["record_s"]), bc.fmt(d["import_s"], 2), bc.fmt(d["import_s_per_1000"])]
            for did, d in data.items()]  # fmt: skip
    bc.print_table("Minari datasets (recorded with DataCollector, imported with --sparse01)",
                   ["dataset", "episodes", "success any", "success final", "record s",
                    "import s", "import s/1000 ep"], rows)  # fmt: skip
    table: dict[str, Any] = {}
    for r in results:
        e = table.setdefault(f"{r['env']}/{r['algo']}", {"final": [], "any": [], "errors": []})
        if "error" in r:
            e["errors"].append(r["error"])
        else:
            e["final"].append(r["final"])
            e["any"].append(r["any"])
    rows = []
    for key, e in table.items():
        mean = lambda xs: f"{np.mean(xs):.2f} ± {np.std(xs):.2f}" if xs else "-"  # noqa: E731
        rows.append([*key.split("/"), mean(e["final"]), mean(e["any"]), len(e["final"]),
                     (e["errors"][0][:60] if e["errors"] else "")])  # fmt: skip
    bc.print_table(f"Success in the recorded env ({b['eval_episodes']} episodes, {b['steps']} "
                   "updates)", ["env", "algorithm", "final-step success", "any-step success",
                                "seeds", "error"], rows)  # fmt: skip
    target = next(d["import_s_per_1000"] for did, d in data.items() if "random" in did)
    n = b["import_episodes"]
    scaled = "" if n == 1000 else f" (scaled from {n})"
    print(f"import of 1,000 episodes: {target:.1f} s{scaled} (target < 30 s); "
          f"total {seconds / 60:.1f} min")  # fmt: skip
    path = bc.write_json("interop_quick" if quick else "interop", {
        "machine": info, "budget": b, "quick": quick, "seconds": seconds, "datasets": data,
        "results": results, "table": table, "d3rlpy": d3, "jax": jax,
        "noise_mixture": NOISES, "import_target_s_per_1000": 30.0,
    })  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__" and "--record-worker" in sys.argv:
    print(json.dumps(record(json.loads(sys.stdin.read()))))
elif __name__ == "__main__":
    main()
