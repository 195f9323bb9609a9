"""The one offline loop: pre-train any agent on a dataset, with evaluation, checkpoints, resume."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.errors import UserError
from robot_rl.progress import progress
from robot_rl.training.common import restore_rng, rng_state, select_obs_keys
from robot_rl.training.evaluate import EvalConfig
from robot_rl.training.logger import Logger, LoggerConfig
from robot_rl.training.run import Checkpointer, Evaluator, RunContext, RunSpec, open_run
from robot_rl.types import ActionSpec


@dataclass
class PretrainConfig:
    dataset: str = "???"  # dataset directory (robot-rl collect output)
    reward_key: str = "reward.env"  # reward column: reward.env or one added by relabel
    agent_name: str = "calql"  # bc | filtered_bc | iql | cql | calql
    agent: Any = None  # the agent's config dataclass
    obs: str = "auto"  # state | pixels | both | auto (what the dataset has)
    steps: int = 20_000  # gradient updates
    reward_scale: float = 1.0  # r' = r * scale + bias, applied when data is loaded
    reward_bias: float = 0.0
    fail_reward: float | None = 0.0  # sparse per-step failure reward, for Cal-QL MC returns
    # Standardise vector observations by the dataset's mean and std (stored in the checkpoint,
    # so fine-tuning and evaluation see the same inputs).
    normalize_obs: bool = True
    # End each episode at its first reward-1 step (a binary learned reward's success), as the
    # online loop does when a goal classifier fires. For reward columns from a classifier.
    terminate_on_reward: bool = False
    seed: int = 0
    device: str = "auto"
    out: str = "runs/pretrain"
    overwrite: bool = False
    log_every: int = 250
    checkpoint_every: int = 2_000
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    progress: bool = True


def load_offline_buffer(
    dataset: str,
    reward_key: str,
    obs_keys: tuple[str, ...],
    gamma: float,
    device: torch.device,
    reward_scale: float = 1.0,
    reward_bias: float = 0.0,
    fail_reward: float | None = 0.0,
    top_fraction: float = 1.0,
    show_progress: bool = True,
    terminate_on_reward: bool = False,
):
    """Dataset episodes (optionally the top fraction by return) into a replay buffer."""
    from robot_rl.data import Dataset, ReplayBuffer

    ds = Dataset(dataset)
    ids = ds.episode_ids
    if not ids:
        raise UserError(f"{ds.root}: dataset has no episodes")
    ds.require_reward_column(reward_key)
    if not 0.0 < top_fraction <= 1.0:
        raise UserError(f"agent.top_fraction={top_fraction}: must be in (0, 1]")
    if top_fraction < 1.0:
        from robot_rl.agents.bc import filter_top_episodes

        ids = filter_top_episodes(ds, reward_key, top_fraction)
    frames = sum(ds.episode_length(i) + 1 for i in ids)
    spec = {k: ds.meta.obs_spec[k] for k in obs_keys}
    buf = ReplayBuffer(
        spec,
        ds.meta.action_spec.dim,
        frames,
        gamma,
        reward_scale,
        reward_bias,
        device,
        fail_reward=fail_reward,
    )
    for i in progress(ids, desc="loading episodes", disable=not show_progress, leave=False):
        ep = ds.load(i)
        if not np.all(np.isfinite(ep.rewards[reward_key])):
            raise UserError(f"{ds.path(i)}: column '{reward_key}' has NaN or inf values")
        if terminate_on_reward:
            ep = end_at_first_success(ep, reward_key)
        buf.add_episode(ep, reward_key)
    return ds, buf


def end_at_first_success(ep: Any, reward_key: str, success_reward: float = 1.0) -> Any:
    """The episode cut at the first step whose (binary, learned) reward says success, which
    becomes a true termination: the same rule the online loop applies when a goal classifier
    ends an episode. Without it, a classifier that fires before the simulator's own success
    step pays reward 1 on non-terminal steps, and the agent learns to hover there."""
    from robot_rl.data import Episode

    hits = np.flatnonzero(ep.rewards[reward_key] >= success_reward)
    if hits.size == 0:
        return ep
    t = int(hits[0]) + 1  # steps kept
    term = np.zeros(t, bool)
    term[-1] = True
    return Episode(
        obs={k: v[: t + 1] for k, v in ep.obs.items()},
        action=ep.action[:t],
        rewards={k: v[:t] for k, v in ep.rewards.items()},
        terminated=term,
        truncated=np.zeros(t, bool),
        success=ep.success[:t],
        info=ep.info,
    )


def pretrain(cfg: PretrainConfig) -> Path:
    """Train ``cfg.agent_name`` offline; returns the run directory (checkpoint inside)."""

    if cfg.steps <= 0:
        raise UserError(f"steps={cfg.steps}: must be positive")
    with open_run(cfg, budget_field="steps", kind="pretrain") as run:
        return _pretrain(cfg, run)


def _pretrain(cfg: PretrainConfig, run: RunContext) -> Path:
    from robot_rl.agents import make_agent

    spec, buf = load_pretrain_data(cfg, run.device)
    agent = make_agent(cfg.agent_name, cfg.agent, spec.obs_spec, spec.action_spec, run.device)
    if cfg.normalize_obs:
        agent.encoder.set_normalization(buf.obs_stats())
    ckpt = Checkpointer(run.dir, agent, "pretrain", cfg.agent_name, cfg.agent, spec)
    logger = Logger(run.dir, cfg.logger, config=dataclasses.asdict(cfg))
    step = resume_pretrain(run, ckpt, logger)
    if step >= cfg.steps:
        print(f"[pretrain] {run.dir}: already complete ({step} steps)")
        return run.dir
    if step:
        print(f"[pretrain] resuming {run.dir} at step {step}")
    evaluator = Evaluator(agent, cfg.eval, logger, run.dir, spec, cfg.seed)
    train_offline(cfg, agent, buf, run.rng, step, logger, evaluator, ckpt)
    logger.close()
    if evaluator.last:
        m = evaluator.last
        print(
            f"[pretrain] {run.dir}: success rate {m['eval/success_rate']:.2f}, "
            f"return {m['eval/return']:.2f}"
        )
    return run.dir


def load_pretrain_data(cfg: PretrainConfig, device: torch.device) -> tuple[RunSpec, Any]:
    """What the run is about, from the dataset's metadata, and its episodes in a buffer."""
    from robot_rl.agents import BCConfig, discount_of
    from robot_rl.data import Dataset

    meta = Dataset(cfg.dataset).meta
    obs_keys = select_obs_keys(meta.obs_spec, cfg.obs, f"{cfg.dataset}/meta.json")
    obs_mode = {1: "state", 2: "pixels", 3: "both"}[len(obs_keys)]
    # Filtered BC trains on the top episodes only; every other agent on all of them.
    top_fraction = cfg.agent.top_fraction if isinstance(cfg.agent, BCConfig) else 1.0
    _, buf = load_offline_buffer(
        cfg.dataset,
        cfg.reward_key,
        obs_keys,
        discount_of(cfg.agent_name, cfg.agent),
        device,
        cfg.reward_scale,
        cfg.reward_bias,
        cfg.fail_reward,
        top_fraction,
        cfg.progress,
        cfg.terminate_on_reward,
    )
    obs_spec = {k: meta.obs_spec[k] for k in obs_keys}
    image_size = obs_spec["pixels"].shape[0] if "pixels" in obs_spec else 64
    spec = RunSpec(meta.task, obs_mode, image_size, obs_spec, ActionSpec(meta.action_spec.dim))
    return spec, buf


def resume_pretrain(run: RunContext, ckpt: Checkpointer, logger: Logger) -> int:
    """The step to continue from: 0 for a new run, else the checkpoint's (agent and RNG
    restored)."""
    state = ckpt.resume(run.device, logger) if run.resume else None
    if state is None:
        return 0
    if "rng" in state:
        restore_rng(run.rng, state["rng"])
    return int(state.get("step", 0))


def train_offline(
    cfg: PretrainConfig,
    agent: Any,
    buf: Any,
    rng: np.random.Generator,
    step: int,
    logger: Logger,
    evaluator: Evaluator,
    ckpt: Checkpointer,
) -> None:
    """Gradient steps from ``step`` to ``cfg.steps``, with logs, evaluations and checkpoints."""

    def checkpoint(at: int) -> None:
        ckpt.save(at, {"step": at, "rng": rng_state(rng)})

    bar = progress(
        total=cfg.steps, initial=step, desc=f"pretrain {cfg.agent_name}", disable=not cfg.progress
    )
    t0, n0 = time.perf_counter(), step
    while step < cfg.steps:
        metrics = agent.update(buf.sample(agent.sample_size, rng))
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            rate = (step - n0) / max(time.perf_counter() - t0, 1e-9)
            row = logger.log("train", step, {**metrics, "perf/updates_per_s": rate})
            bar.set_postfix(loss=f"{_main_loss(row):.3g}", **_fmt(evaluator.last))
        evaluator.maybe(step)
        if step % cfg.checkpoint_every == 0:
            checkpoint(step)
    bar.close()
    evaluator.final(step)
    checkpoint(step)


def _main_loss(row: dict[str, float]) -> float:
    for k in ("critic/loss", "actor/loss"):
        if k in row:
            return row[k]
    return next((v for k, v in row.items() if k.endswith("/loss")), float("nan"))


def _fmt(m: dict[str, float]) -> dict[str, str]:
    return {"success": f"{m['eval/success_rate']:.2f}"} if m else {}
