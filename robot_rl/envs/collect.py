"""Collecting datasets: scripted experts, noisy experts, play, random, or a checkpoint's policy,
mixed in one call, in parallel worker processes (spawn context: EGL and fork do not mix), each
writing its own episodes atomically.

Resumable: episode ``i``'s behaviour and seed are a function of (mixture, episodes, seed, i), so
a re-run writes only the ids that are missing and never duplicates one.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import UserError


@dataclass(frozen=True)
class Component:
    kind: str  # expert | noisy | play | random | checkpoint
    noise: float
    fraction: float
    checkpoint: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "noisy":
            return f"noisy{self.noise:g}"
        return f"checkpoint:{self.checkpoint}" if self.checkpoint else self.kind


def parse_mixture(spec: str | list[tuple[str, float, float]]) -> list[Component]:
    """``"expert:0.3,noisy0.3:0.4,play:0.3"`` (commas or +), or a list of
    ``(kind, noise, fraction)`` tuples -> components, fractions normalised."""
    if not isinstance(spec, str):
        try:
            parts = [
                f"noisy{float(n):g}:{f}" if k == "noisy" or (k == "expert" and n) else f"{k}:{f}"
                for k, n, f in spec
            ]
        except (TypeError, ValueError):
            raise UserError(f"mixture {spec!r}: expected a list of (kind, noise, fraction)")
        spec = ",".join(parts)
    out = []
    for part in filter(None, (p.strip() for p in re.split(r"[,+]", spec))):
        if ":" not in part:
            raise UserError(f"mixture {spec!r}: {part!r} needs kind:fraction, e.g. expert:0.5")
        kind, frac = part.rsplit(":", 1)
        try:
            fraction = float(frac)
        except ValueError:
            raise UserError(f"mixture {spec!r}: fraction {frac!r} of {kind!r} is not a number")
        if fraction < 0:
            raise UserError(f"mixture {spec!r}: fraction of {kind!r} must be >= 0")
        if kind.startswith("checkpoint:"):
            out.append(Component("checkpoint", 0.0, fraction, kind.split(":", 1)[1]))
            continue
        m = re.fullmatch(r"(expert|noisy|play|random)([0-9.]*)", kind)
        if not m:
            raise UserError(
                f"mixture {spec!r}: unknown policy {kind!r}; use expert, noisy<level>"
                " (e.g. noisy0.3), play, random or checkpoint:<run dir>"
            )
        name, level = m.group(1), m.group(2)
        noise = float(level) if level else (0.2 if name == "noisy" else 0.0)
        out.append(Component(name, noise, fraction))
    total = sum(c.fraction for c in out)
    if not out or total <= 0:
        raise UserError(f"mixture {spec!r}: no policy with a positive fraction")
    return [Component(c.kind, c.noise, c.fraction / total, c.checkpoint) for c in out]


def assign(components: list[Component], episodes: int) -> list[int]:
    """Component index of every episode id: contiguous blocks, largest remainders rounding."""
    raw = np.array([c.fraction * episodes for c in components])
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: episodes - counts.sum()]:
        counts[i] += 1
    return [i for i, n in enumerate(counts) for _ in range(n)]


# --------------------------------------------------------------------------- worker side
_CACHE: dict[Any, Any] = {}


def _policy(task: str, comp: Component, seed: int):
    """A policy factory keyed by component kind (scripted, or a checkpoint's agent)."""
    if comp.kind == "checkpoint":
        assert comp.checkpoint is not None  # a "checkpoint" component always names one
        key = ("ckpt", comp.checkpoint)
        if key not in _CACHE:
            from robot_rl.agents.checkpoint import load_agent

            _CACHE[key] = load_agent(comp.checkpoint)[0]
        return _AgentPolicy(_CACHE[key])
    from robot_rl.envs.experts import make_scripted_policy

    noise = comp.noise if comp.kind == "noisy" else 0.0
    kind = "expert" if comp.kind == "noisy" else comp.kind
    return make_scripted_policy(task, kind, noise, 0.0, seed)


class _AgentPolicy:
    def __init__(self, agent: Any):
        self.agent = agent

    def reset(self, env: Any) -> None:
        self.obs = None

    def act(self, env: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.agent.act(obs, deterministic=False)


def collect_episode(
    task: str,
    obs: str,
    image_size: int,
    comp: Component,
    seed: int,
    terminate_on_success: bool = True,
):
    """Roll out one episode; returns an `Episode` (rewards: reward.env sparse, reward.dense).
    One env per (task, obs, size, terminate_on_success) is made and kept: ``reset(seed)``
    gives the episode a fresh env of that seed would, and making a rendering env costs more
    than a short episode."""
    from robot_rl.data import Episode
    from robot_rl.envs import make_env

    key = (task, obs, image_size, terminate_on_success)
    if key not in _CACHE:
        _CACHE[key] = make_env(
            task, obs=obs, image_size=image_size, terminate_on_success=terminate_on_success
        )
    env = _CACHE[key]
    pi = _policy(task, comp, seed)
    o, _ = env.reset(seed=seed)
    pi.reset(env)
    frames = {k: [v] for k, v in o.items()}
    actions, rew, dense, succ = [], [], [], []
    done, terminated = False, False
    while not done:
        a = np.asarray(pi.act(env, o), np.float32)  # scripted policies read the simulator
        o, r, terminated, truncated, info = env.step(a)
        for k, v in o.items():
            frames[k].append(v)
        actions.append(a)
        rew.append(r)
        dense.append(info["dense_reward"])
        succ.append(info["success"])
        done = terminated or truncated
    T = len(actions)
    term = np.zeros(T, bool)
    trunc = np.zeros(T, bool)
    term[-1], trunc[-1] = terminated, not terminated
    return Episode(
        obs={k: np.stack(v) for k, v in frames.items()},
        action=np.stack(actions),
        rewards={
            "reward.env": np.asarray(rew, np.float32),
            "reward.dense": np.asarray(dense, np.float32),
        },
        terminated=term,
        truncated=trunc,
        success=np.asarray(succ, bool),
        info={"task": task, "policy": comp.label, "noise": comp.noise, "seed": seed},
    )


def _work(job: tuple) -> list[dict[str, Any]]:
    """Worker: collect and write the episodes of one chunk; returns per-episode stats."""
    out_dir, task, obs, image_size, items = job
    from robot_rl.data import Dataset, DatasetWriter

    writer = DatasetWriter(out_dir, Dataset(out_dir).meta)
    stats = []
    for episode_id, comp, seed in items:
        ep = collect_episode(task, obs, image_size, comp, seed)
        writer.write(ep, episode_id)
        stats.append(
            {
                "id": episode_id,
                "policy": comp.label,
                "success": bool(ep.success.any()),
                "return": float(ep.rewards["reward.env"].sum()),
                "length": ep.length,
            }
        )
    return stats


def _init_worker() -> None:
    os.environ["LP_NUM_THREADS"] = "1"  # Mesa's llvmpipe: one thread per process
    import torch

    torch.set_num_threads(1)


# --------------------------------------------------------------------------- driver
def collect(
    task: str,
    out_dir: str | Path,
    episodes: int,
    mixture: str | list[tuple[str, float, float]] = "expert:1.0",
    obs: str = "pixels",
    image_size: int = 64,
    workers: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Collect ``episodes`` episodes into ``out_dir``; returns a summary."""
    from robot_rl.data import DatasetMeta, DatasetWriter
    from robot_rl.envs import env_obs_spec, get_task_info, make_env
    from robot_rl.progress import progress as bar
    from robot_rl.types import ActionSpec

    if episodes <= 0:
        raise UserError(f"episodes={episodes}: must be positive")
    if workers < 1:
        raise UserError(f"workers={workers}: must be at least 1")
    info = get_task_info(task)
    comps = parse_mixture(mixture)
    env = make_env(task, obs=obs, image_size=image_size)
    meta = DatasetMeta(
        task=task,
        control_freq=info.control_freq,
        obs_spec=env_obs_spec(env),
        action_spec=ActionSpec(info.action_dim),
        provenance={
            "source": "robot-rl collect",
            "mixture": mixture,
            "seed": seed,
            "episodes": episodes,
        },
    )
    env.close()
    writer = DatasetWriter(out_dir, meta)  # checks an existing dataset has the same spec
    plan = assign(comps, episodes)
    todo = [(i, comps[c], seed * 1_000_003 + i) for i, c in enumerate(plan) if not writer.exists(i)]
    skipped = episodes - len(todo)
    t0 = time.perf_counter()
    stats: list[dict[str, Any]] = []
    chunk = max(1, min(10, len(todo) // (4 * workers) or 1))
    jobs = [
        (str(out_dir), task, obs, image_size, todo[i : i + chunk])
        for i in range(0, len(todo), chunk)
    ]
    with bar(total=len(todo), desc=f"collect {task}", disable=not progress, unit="ep") as pb:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                stats += _work(job)
                pb.update(len(job[4]))
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
                for s in pool.imap_unordered(_work, jobs):
                    stats += s
                    pb.update(len(s))
    summary = _summary(stats, skipped, time.perf_counter() - t0, out_dir)
    print(_format(summary))
    return summary


def _summary(stats: list[dict], skipped: int, seconds: float, out_dir) -> dict[str, Any]:
    by: dict[str, dict[str, Any]] = {}
    for s in stats:
        d = by.setdefault(s["policy"], {"episodes": 0, "success": 0, "return": 0.0})
        d["episodes"] += 1
        d["success"] += s["success"]
        d["return"] += s["return"]
    per = {
        k: {
            "episodes": v["episodes"],
            "success_rate": v["success"] / v["episodes"],
            "mean_return": v["return"] / v["episodes"],
        }
        for k, v in by.items()
    }
    n = len(stats)
    return {
        "out": str(out_dir),
        "written": n,
        "skipped": skipped,
        "seconds": round(seconds, 1),
        "success_rate": float(np.mean([s["success"] for s in stats])) if n else None,
        "steps": int(sum(s["length"] for s in stats)),
        "by_policy": per,
    }


def _format(s: dict[str, Any]) -> str:
    lines = [
        f"{s['out']}: wrote {s['written']} episodes ({s['steps']} steps) in {s['seconds']} s"
        f", skipped {s['skipped']} already present"
    ]
    for k, v in sorted(s["by_policy"].items()):
        lines.append(
            f"  {k:<14} {v['episodes']:>5} episodes  success {v['success_rate']:.2f}"
            f"  return {v['mean_return']:.2f}"
        )
    return "\n".join(lines)
