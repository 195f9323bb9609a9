"""Collecting datasets: scripted experts, noisy experts, play, random, or a checkpoint's policy,
mixed in one call, in parallel worker processes (spawn context: EGL and fork do not mix), each
writing its own episodes atomically.

Resumable: episode ``i``'s behaviour and seed are a function of (mixture, episodes, seed, i), so
a re-run writes only the ids that are missing and never duplicates one.
"""

from __future__ import annotations

import json
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
    return rollout(task, obs, image_size, comp, seed, terminate_on_success)[0]


def rollout(
    task: str,
    obs: str,
    image_size: int,
    comp: Component,
    seed: int,
    terminate_on_success: bool = True,
    display_size: int = 0,
) -> tuple[Any, np.ndarray | None]:
    """`collect_episode`, plus the episode's frames at ``display_size`` px ([T+1, S, S, 3],
    the same camera and instants as ``pixels``) when it is not 0."""
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
    # Rendered beside the observation, never into it: the training frames stay as they were.
    display = [env.unwrapped.render_pixels(display_size)] if display_size else []
    actions, rew, dense, succ = [], [], [], []
    done, terminated = False, False
    while not done:
        a = np.asarray(pi.act(env, o), np.float32)  # scripted policies read the simulator
        o, r, terminated, truncated, info = env.step(a)
        for k, v in o.items():
            frames[k].append(v)
        if display_size:
            display.append(env.unwrapped.render_pixels(display_size))
        actions.append(a)
        rew.append(r)
        dense.append(info["dense_reward"])
        succ.append(info["success"])
        done = terminated or truncated
    T = len(actions)
    term = np.zeros(T, bool)
    trunc = np.zeros(T, bool)
    term[-1], trunc[-1] = terminated, not terminated
    episode = Episode(
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
    return episode, np.stack(display) if display else None


def _work(job: tuple) -> list[dict[str, Any]]:
    """Worker: collect and write the episodes of one chunk; returns per-episode stats."""
    out_dir, task, obs, image_size, display_size, items = job
    from robot_rl.data import Dataset, DatasetWriter
    from robot_rl.data.display import write_display

    writer = DatasetWriter(out_dir, Dataset(out_dir).meta)
    stats = []
    for episode_id, comp, seed in items:
        ep, display = rollout(task, obs, image_size, comp, seed, display_size=display_size)
        # Display frames first: an episode on disk then has them, and a kill in between
        # leaves only a display file that the resumed collect writes again with its episode.
        if display is not None:
            write_display(Path(out_dir), episode_id, display)
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


# --------------------------------------------------------------------------- plan
# A dataset's plan is a list of batches in meta.json's provenance, each
# {"first": id, "episodes": n, "mixture": canonical, "seed": s}: episode i of a batch is
# collected by its mixture's component assign(...)[i - first] with seed s * 1_000_003 + i.
# A first collect makes one batch; extending (a larger episodes=) or append=true adds one.
SOURCE = "robot-rl collect"


def canonical_mixture(spec: str | list[tuple[str, float, float]]) -> str:
    """One spelling per mixture: ``expert:1`` and ``expert:1.0`` compare equal."""
    return "+".join(f"{c.label}:{c.fraction:.6g}" for c in parse_mixture(spec))


def collect_batches(provenance: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The collect plan recorded in a dataset's provenance (None: not made by collect).
    An older robot_rl recorded one mixture, seed and episode count: one batch."""
    if provenance.get("source") != SOURCE:
        return None
    raw = provenance.get("batches") or [{"first": 0, **provenance}]
    try:
        return [
            {
                "first": int(b["first"]),
                "episodes": int(b["episodes"]),
                "mixture": canonical_mixture(b["mixture"]),
                "seed": int(b["seed"]),
            }
            for b in raw
        ]
    except (KeyError, TypeError, ValueError, UserError) as e:
        raise UserError(
            f"meta.json: key 'provenance' is not a robot-rl collect plan ({type(e).__name__}: "
            f"{e}); collect into a new out="
        ) from None


def _describe(batch: dict[str, Any]) -> str:
    last = batch["first"] + batch["episodes"] - 1
    return f"mixture={batch['mixture']} seed={batch['seed']} (episodes {batch['first']}-{last})"


def plan_batches(
    out_dir: str | Path,
    batches: list[dict[str, Any]],
    mixture: str,
    seed: int,
    episodes: int,
    append: bool = False,
    fix: str = "collect into a new out=, or pass append=true to add episodes of these settings "
    "after the existing ones (episodes= counts them all)",
) -> list[dict[str, Any]]:
    """The plan after this request: the same (resume), one batch more (extend, append), or a
    UserError saying what differs and ``fix``. ``mixture`` is canonical."""
    total = batches[-1]["first"] + batches[-1]["episodes"] if batches else 0
    wanted = {"mixture": mixture, "seed": seed}
    other = [b for b in batches if {k: b[k] for k in wanted} != wanted]
    if other and not append:
        raise UserError(
            f"{out_dir}: was collected with {_describe(other[0])}; this run asks "
            f"mixture={mixture} seed={seed}: {fix}"
        )
    if episodes < total:
        raise UserError(
            f"{out_dir}: holds a plan of {total} episodes, more than episodes={episodes}: pass "
            f"episodes={total} (or more) to resume or extend it, or collect into a new out="
        )
    if episodes == total:
        if batches and {k: batches[-1][k] for k in wanted} != wanted:
            raise UserError(
                f"{out_dir}: already plans {total} episodes, the last with "
                f"{_describe(batches[-1])}; to append episodes of mixture={mixture} "
                f"seed={seed}, raise episodes= above {total}"
            )
        return batches
    return [*batches, {"first": total, "episodes": episodes - total, **wanted}]


def planned_episodes(batches: list[dict[str, Any]]) -> list[tuple[int, Component, int]]:
    """(episode id, component, seed) of every episode the plan holds."""
    out = []
    for b in batches:
        comps = parse_mixture(b["mixture"])
        for k, c in enumerate(assign(comps, b["episodes"])):
            i = b["first"] + k
            out.append((i, comps[c], b["seed"] * 1_000_003 + i))
    return out


def _existing_info(path: Path) -> dict[str, Any] | None:
    """The info of a complete, readable episode file; None if it is truncated or unreadable."""
    from robot_rl.data.format import INFO_KEY, load_npz

    try:
        arrays = load_npz(path)  # every member: a truncated one fails here
        info = json.loads(str(arrays[INFO_KEY][()]))
        return info if isinstance(info, dict) else None
    except (UserError, KeyError, ValueError):
        return None


def episodes_to_collect(
    root: Path, plan: list[tuple[int, Component, int]]
) -> tuple[list[tuple[int, Component, int]], list[int]]:
    """The planned episodes missing or unreadable on disk, and the ids of the unreadable ones.

    An episode on disk that another policy or seed collected is a UserError: the directory
    holds episodes of two collections (an older robot_rl mixed them without a word)."""
    from robot_rl.data import Dataset
    from robot_rl.data.format import episode_path

    planned = {i for i, _, _ in plan}
    extra = [i for i in Dataset(root).episode_ids if i not in planned]
    if extra:
        raise UserError(
            f"{root}: episodes {extra[:5]} are not in the collect plan of meta.json (ids "
            f"0-{len(plan) - 1}); collect into a new out="
        )
    todo, broken = [], []
    for i, comp, seed in plan:
        path = episode_path(root, i)
        if not path.exists():
            todo.append((i, comp, seed))
            continue
        info = _existing_info(path)
        if info is None:
            todo.append((i, comp, seed))
            broken.append(i)
        elif (info.get("policy"), info.get("seed")) != (comp.label, seed):
            raise UserError(
                f"{path}: collected by policy {info.get('policy')} seed {info.get('seed')}, but "
                f"meta.json plans {comp.label} seed {seed}: the directory mixes two "
                "collections; collect into a new out="
            )
    return todo, broken


# --------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class CollectSettings:
    task: str
    obs: str = "pixels"
    image_size: int = 64
    workers: int = 1
    progress: bool = True
    display_size: int = 0  # display frames for the labeling app (data/display.py); 0 = none


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
    append: bool = False,
    display_size: int = 0,
) -> dict[str, Any]:
    """Collect until ``out_dir`` holds ``episodes`` episodes; returns a summary.

    A re-run with the same settings resumes (missing and unreadable episodes are collected
    again, identically) or extends (a larger ``episodes``). Other settings are refused unless
    ``append``: then the new episodes follow the existing ones and provenance lists both.
    ``display_size`` > 0 also writes each new episode's frames at that size for the labeling
    app (``display/<id>.npz``, see data/display.py); episodes already on disk keep what they had.
    """
    from robot_rl.data.display import check_display_size
    from robot_rl.data.format import dataset_lock

    if episodes <= 0:
        raise UserError(f"episodes={episodes}: must be positive")
    if workers < 1:
        raise UserError(f"workers={workers}: must be at least 1")
    check_display_size(display_size, image_size)
    if display_size and obs == "state":
        raise UserError(
            f"display_size={display_size}: needs obs=pixels or obs=both (display frames are a "
            "sharper view of the pixels the classifier sees)"
        )
    settings = CollectSettings(task, obs, image_size, workers, progress, display_size)
    mix = canonical_mixture(mixture)
    meta = _meta(settings, [{"first": 0, "episodes": episodes, "mixture": mix, "seed": seed}])
    with dataset_lock(out_dir):  # one writer at a time; clears a killed run's temp files
        plan = _settle_plan(Path(out_dir), meta, mix, seed, episodes, append)
        return _collect_plan(Path(out_dir), settings, plan)


def _meta(s: CollectSettings, batches: list[dict[str, Any]]) -> Any:
    """The dataset meta a collect of ``s`` writes (spec from a fresh env)."""
    from robot_rl.data import DatasetMeta
    from robot_rl.envs import env_obs_spec, get_task_info, make_env
    from robot_rl.types import ActionSpec

    info = get_task_info(s.task)
    env = make_env(s.task, obs=s.obs, image_size=s.image_size)
    try:
        spec = env_obs_spec(env)
    finally:
        env.close()
    return DatasetMeta(
        task=s.task,
        control_freq=info.control_freq,
        obs_spec=spec,
        action_spec=ActionSpec(info.action_dim),
        provenance={"source": SOURCE, "batches": batches, "episodes": _total(batches)},
    )


def _total(batches: list[dict[str, Any]]) -> int:
    return batches[-1]["first"] + batches[-1]["episodes"]


def _settle_plan(
    root: Path, meta: Any, mixture: str, seed: int, episodes: int, append: bool
) -> list[tuple[int, Component, int]]:
    """Check the request against the dataset on disk, record the plan in meta.json, and
    return the episodes it holds."""
    from robot_rl.data import Dataset, DatasetWriter

    writer = DatasetWriter(root, meta)  # checks an existing dataset has the same spec
    batches = collect_batches(writer.meta.provenance)
    if batches is None:
        if Dataset(root).episode_ids:
            raise UserError(
                f"{root}: holds episodes that robot-rl collect did not make "
                f"(provenance {writer.meta.provenance}); collect into a new out="
            )
        batches = []
    batches = plan_batches(root, batches, mixture, seed, episodes, append)
    prov = {"source": SOURCE, "batches": batches, "episodes": _total(batches)}
    if writer.meta.provenance != prov:
        writer.set_provenance(prov)
    return planned_episodes(batches)


def _collect_plan(
    root: Path, s: CollectSettings, plan: list[tuple[int, Component, int]]
) -> dict[str, Any]:
    """Collect the planned episodes that are missing or unreadable."""
    from robot_rl.progress import progress as bar

    todo, broken = episodes_to_collect(root, plan)
    t0 = time.perf_counter()
    stats: list[dict[str, Any]] = []
    chunk = max(1, min(10, len(todo) // (4 * s.workers) or 1))
    jobs = [
        (str(root), s.task, s.obs, s.image_size, s.display_size, todo[i : i + chunk])
        for i in range(0, len(todo), chunk)
    ]
    with bar(total=len(todo), desc=f"collect {s.task}", disable=not s.progress, unit="ep") as pb:
        if s.workers == 1 or len(jobs) <= 1:
            for job in jobs:
                stats += _work(job)
                pb.update(len(job[-1]))
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(s.workers, initializer=_init_worker) as pool:
                for st in pool.imap_unordered(_work, jobs):
                    stats += st
                    pb.update(len(st))
    summary = _summary(stats, len(plan) - len(todo), time.perf_counter() - t0, root)
    summary["repaired"] = broken
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
    if s.get("repaired"):
        names = ", ".join(f"{i:06d}.npz" for i in s["repaired"])
        lines.append(f"  collected again (the files were truncated or unreadable): {names}")
    for k, v in sorted(s["by_policy"].items()):
        lines.append(
            f"  {k:<14} {v['episodes']:>5} episodes  success {v['success_rate']:.2f}"
            f"  return {v['mean_return']:.2f}"
        )
    return "\n".join(lines)
