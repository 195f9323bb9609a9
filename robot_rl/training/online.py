"""The one online loop. RLPD, WSRL, SAC and the offline-method baselines are settings of it,
defined once in `robot_rl.methods` (offline share of each batch, warm-up rollouts, random steps,
hindsight share, and a few agent fields)."""

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
from robot_rl.rewards.updates import ClassifierUpdateConfig, PreferenceUpdateConfig
from robot_rl.training.checkpoint import (
    CKPT_DIR,
    load_loop_state,
    read_checkpoint_info,
    save_checkpoint,
)
from robot_rl.training.common import (
    OBS_MODES,
    obs_mode_of,
    prepare_run_dir,
    restore_rng,
    rng_state,
    select_obs_keys,
)
from robot_rl.training.device import resolve_device, seed_everything
from robot_rl.training.episodes import EpisodeRecorder, env_obs_spec
from robot_rl.training.evaluate import EvalConfig, evaluate_and_log
from robot_rl.training.logger import Logger, LoggerConfig
from robot_rl.training.rewards import OnlineReward
from robot_rl.training.timing import Stopwatch
from robot_rl.types import ActionSpec


@dataclass
class FinetuneConfig:
    method: str = "rlpd"  # name of the preset (configs/method/*.yaml); informational
    agent_name: str = "sac"
    agent: Any = None  # the agent's config dataclass
    task: str | None = None  # default: the init checkpoint's or the dataset's task
    obs: str = "auto"  # state | pixels | both | auto
    image_size: int = 64
    init: str | None = None  # checkpoint (run dir) to initialise actor and critic from
    dataset: str | None = None  # offline data sampled alongside online data (RLPD)
    reward_key: str = "reward.env"  # reward column of the offline data
    terminate_on_reward: bool = False  # offline episodes end at their first reward-1 step
    reward: str = "env"  # "env" (simulator) or a reward-model checkpoint directory
    offline_ratio: float = 0.5  # fraction of each batch drawn from offline data
    # HER: share of sampled transitions (offline and online) given a goal their episode reached
    # later, with the simulator's reward recomputed; goal tasks, state obs, reward=env only.
    hindsight: float = 0.0
    warmup_steps: int = 0  # WSRL: frozen init-policy rollouts into a fresh buffer, no updates
    random_steps: int = 0  # uniform random actions before learning starts (from scratch)
    env_steps: int = 20_000
    buffer_capacity: int = 500_000  # online replay capacity in frames
    reward_scale: float = 1.0
    reward_bias: float = 0.0
    fail_reward: float | None = 0.0
    # Standardise vector observations: a fresh agent with offline data uses that data's mean and
    # std; an agent from init=CHECKPOINT keeps the statistics stored in it.
    normalize_obs: bool = True
    seed: int = 0
    device: str = "auto"
    out: str = "runs/finetune"
    overwrite: bool = False
    log_every: int = 500  # env steps
    checkpoint_every: int = 5_000  # env steps; includes the replay buffer
    save_episodes: bool = True  # write online episodes in the dataset format (run/episodes)
    eval: EvalConfig = field(default_factory=lambda: EvalConfig(every=2_000))
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    classifier: ClassifierUpdateConfig = field(default_factory=ClassifierUpdateConfig)
    preference: PreferenceUpdateConfig = field(default_factory=PreferenceUpdateConfig)
    progress: bool = True


def validate(cfg: FinetuneConfig) -> None:
    """Everything that can be checked before any work starts."""
    if cfg.env_steps <= 0:
        raise UserError(f"env_steps={cfg.env_steps}: must be positive")
    if getattr(cfg.agent, "utd_ratio", 1) <= 0:
        raise UserError(f"agent.utd_ratio={cfg.agent.utd_ratio}: must be at least 1")
    if not 0.0 <= cfg.offline_ratio <= 1.0:
        raise UserError(f"offline_ratio={cfg.offline_ratio}: must be in [0, 1]")
    if cfg.offline_ratio > 0 and not cfg.dataset:
        raise UserError(
            f"method={cfg.method} samples offline data (offline_ratio="
            f"{cfg.offline_ratio}) but no dataset=DIR was given"
        )
    if cfg.warmup_steps > 0 and not cfg.init:
        raise UserError(
            f"method={cfg.method} rolls out a pre-trained policy for warmup_steps="
            f"{cfg.warmup_steps} but no init=CHECKPOINT was given"
        )
    if cfg.agent_name != "sac" and not cfg.init:
        raise UserError(
            f"method={cfg.method} fine-tunes a pre-trained {cfg.agent_name} agent: "
            "pass init=CHECKPOINT (from robot-rl pretrain)"
        )
    if cfg.preference.every > 0:
        cfg.preference.validate()
        if cfg.reward == "env":
            raise UserError(
                "preference.every > 0 queries a teacher to train a preference reward: "
                "pass reward=<preference model checkpoint> (robot-rl train-reward kind=preference)"
            )
        if cfg.classifier.every > 0:
            raise UserError("classifier.every and preference.every: one reward model, not both")
    if not 0.0 <= cfg.hindsight <= 1.0:
        raise UserError(f"hindsight={cfg.hindsight}: must be in [0, 1] (share of relabelled rows)")
    if cfg.hindsight > 0 and cfg.reward != "env":
        raise UserError(
            f"hindsight={cfg.hindsight} recomputes the simulator's reward for new goals: it "
            f"needs reward=env, not reward={cfg.reward}"
        )
    for name in ("warmup_steps", "random_steps", "log_every", "checkpoint_every"):
        if getattr(cfg, name) < 0:
            raise UserError(f"{name}={getattr(cfg, name)}: must be >= 0")


_SHAPE_FIELDS = ("hidden_dims", "num_qs", "layer_norm", "critic_layer_norm", "encoder", "actor")


def build_agent(cfg: FinetuneConfig, obs_spec, action_spec, device, where: str):
    """A fresh agent, or one initialised from ``cfg.init`` (whole state, or WSRL actor-critic)."""
    from robot_rl.agents import make_agent

    agent = make_agent(cfg.agent_name, cfg.agent, obs_spec, action_spec, device)
    if not cfg.init:
        return agent
    info = read_checkpoint_info(cfg.init)
    if info.obs_spec != obs_spec:
        raise UserError(
            f"{info.path}/config.json: checkpoint observation spec "
            f"{_spec_str(info.obs_spec)} does not match {where} "
            f"{_spec_str(obs_spec)}"
        )
    state = torch.load(info.path / "agent.pt", map_location=device, weights_only=False)
    if info.agent == cfg.agent_name:
        # Same agent: the network shapes come from the checkpoint (e.g. its LayerNorm critics),
        # everything else (learning rates, loss settings) from this run's config.
        shape = {f: getattr(info.agent_config, f) for f in _SHAPE_FIELDS if hasattr(cfg.agent, f)}
        cfg.agent = dataclasses.replace(cfg.agent, **shape)
        agent = make_agent(cfg.agent_name, cfg.agent, obs_spec, action_spec, device)
        agent.load_state_dict(state)
    elif cfg.agent_name == "sac" and info.agent in ("cql", "calql", "iql", "bc", "filtered_bc"):
        from robot_rl.agents.init_from import init_from_checkpoint_state

        init_from_checkpoint_state(agent, state, info.agent_config)
    else:
        raise UserError(
            f"{info.path}: cannot initialise a {cfg.agent_name} agent from a "
            f"{info.agent} checkpoint (use agent={info.agent} or a cql/calql, "
            "iql, bc or filtered_bc checkpoint for sac)"
        )
    return agent


def hindsight_for(task: str, obs_keys: tuple[str, ...], ratio: float, terminal: bool):
    """The task's HER relabelling (UserError where the task or observations have no goal)."""
    from robot_rl.data.hindsight import Hindsight
    from robot_rl.envs.tasks import get_task_info

    spec = get_task_info(task).goal_spec()
    if spec is None:
        raise UserError(f"hindsight={ratio}: task {task!r} has no goal position to relabel")
    if spec.key not in obs_keys:
        raise UserError(
            f"hindsight={ratio}: relabels the goal inside the {spec.key!r} observation, "
            f"which this agent does not see (keys {list(obs_keys)}): use obs=state"
        )
    return Hindsight(spec, ratio, terminal=terminal)


def _spec_str(spec) -> str:
    return (
        "{" + ", ".join(f"{k}: {tuple(v.shape)} {v.dtype}" for k, v in sorted(spec.items())) + "}"
    )


def finetune(cfg: FinetuneConfig) -> Path:
    """Online fine-tuning; returns the run directory."""
    validate(cfg)
    from robot_rl.data import Dataset, MixedSampler, ReplayBuffer

    init_info = read_checkpoint_info(cfg.init) if cfg.init else None
    ds = Dataset(cfg.dataset) if cfg.dataset else None
    task = cfg.task or (init_info.task if init_info else None) or (ds.meta.task if ds else None)
    if task is None:
        raise UserError("no task: pass task=NAME (or init=CHECKPOINT / dataset=DIR)")
    obs_mode, image_size = cfg.obs, cfg.image_size
    if obs_mode == "auto":
        obs_mode = (
            init_info.obs_mode if init_info else (obs_mode_of(ds.meta.obs_spec) if ds else "state")
        )
    if init_info is not None:
        image_size = init_info.image_size
    elif ds is not None and "pixels" in ds.meta.obs_spec:
        image_size = ds.meta.obs_spec["pixels"].shape[0]

    device = resolve_device(cfg.device)
    run_dir = Path(cfg.out)
    resume = prepare_run_dir(
        run_dir, cfg, cfg.overwrite, ("env_steps", "progress", "device", "out", "overwrite")
    )
    rng = seed_everything(cfg.seed)

    reward = OnlineReward.build(cfg, device)
    if reward.image_size is not None and reward.image_size != image_size:
        if obs_mode != "state" and (init_info is not None or ds is not None):
            raise UserError(
                f"{cfg.reward}: the reward model sees {reward.image_size} px images, "
                f"the agent {image_size} px; train both on the same image size"
            )
        image_size = reward.image_size  # a state agent: render at the reward model's size
    # The agent's keys, plus the reward model's (e.g. a state agent with a pixel classifier):
    # the env renders what either needs, and the buffer stores both so it can be relabelled.
    agent_keys = OBS_MODES.get(obs_mode, ())
    env_mode = obs_mode if set(reward.obs_keys) <= set(agent_keys) else "both"
    from robot_rl.envs import make_env

    env = make_env(
        task,
        obs=env_mode,
        image_size=image_size,
        seed=cfg.seed,
        terminate_on_success=reward.uses_env_termination,
    )
    full_spec = env_obs_spec(env)
    obs_keys = select_obs_keys(full_spec, obs_mode, f"task {task}")
    obs_spec = {k: full_spec[k] for k in obs_keys}
    store_keys = tuple(sorted(set(obs_keys) | set(reward.obs_keys)))
    action_spec = ActionSpec(int(env.action_space.shape[0]))
    agent = build_agent(cfg, obs_spec, action_spec, device, f"task {task} (obs={obs_mode})")
    gamma = getattr(cfg.agent, "discount", 0.99)

    offline = None
    if ds is not None and cfg.offline_ratio > 0:
        if ds.meta.task != task:
            raise UserError(f"{ds.root}/meta.json: dataset task {ds.meta.task!r} != {task!r}")
        select_obs_keys(ds.meta.obs_spec, obs_mode, f"{ds.root}/meta.json")
        from robot_rl.training.offline import load_offline_buffer

        _, offline = load_offline_buffer(
            str(ds.root),
            cfg.reward_key,
            store_keys,
            gamma,
            device,
            cfg.reward_scale,
            cfg.reward_bias,
            cfg.fail_reward,
            show_progress=cfg.progress,
            terminate_on_reward=cfg.terminate_on_reward,
        )
    if cfg.normalize_obs and offline is not None and not cfg.init:
        agent.encoder.set_normalization(offline.obs_stats())
    online = ReplayBuffer(
        {k: full_spec[k] for k in store_keys},
        action_spec.dim,
        cfg.buffer_capacity,
        gamma,
        cfg.reward_scale,
        cfg.reward_bias,
        device,
        fail_reward=cfg.fail_reward,
    )
    if cfg.hindsight > 0:
        her = hindsight_for(task, obs_keys, cfg.hindsight, reward.uses_env_termination)
        for buf in (offline, online):
            if buf is not None:
                buf.hindsight = her
    sampler = MixedSampler(offline, online, cfg.offline_ratio) if offline is not None else online

    logger = Logger(run_dir, cfg.logger, config=dataclasses.asdict(cfg))
    recorder = EpisodeRecorder(
        run_dir / "episodes" if cfg.save_episodes else None, task, env, store_keys, reward.column
    )
    step, episodes_done, elapsed_before = 0, 0, 0.0
    started = time.perf_counter()
    if resume and (run_dir / CKPT_DIR / "agent.pt").exists():
        agent.load_state_dict(
            torch.load(run_dir / CKPT_DIR / "agent.pt", map_location=device, weights_only=False)
        )
        state = load_loop_state(run_dir / CKPT_DIR) or {}
        step, episodes_done = int(state["step"]), int(state["episodes"])
        elapsed_before = float(state.get("elapsed_s", 0.0))
        online.load_state_dict(state["online"])
        restore_rng(rng, state["rng"])
        reward.load_state_dict(state.get("reward"))
        recorder.next_id = episodes_done
        logger.truncate_after(step)
        if step >= cfg.env_steps:
            print(f"[finetune] {run_dir}: already complete ({step} env steps)")
            return run_dir
        print(f"[finetune] resuming {run_dir} at env step {step}")

    def checkpoint() -> None:
        save_checkpoint(
            run_dir / CKPT_DIR,
            agent,
            agent_name=cfg.agent_name,
            agent_config=cfg.agent,
            obs_spec=obs_spec,
            action_spec=action_spec,
            task=task,
            obs_mode=obs_mode,
            image_size=image_size,
            step=step,
            stage="finetune",
            loop_state={
                "step": step,
                "episodes": episodes_done,
                "online": online.state_dict(),
                "rng": rng_state(rng),
                "reward": reward.state_dict(),
                "elapsed_s": elapsed(),
            },
        )

    def elapsed() -> float:  # wall-clock of the run so far, across resumes (evaluation included)
        return elapsed_before + time.perf_counter() - started

    def run_eval() -> dict[str, float]:
        return evaluate_and_log(
            agent, cfg.eval, logger, run_dir, step, task, obs_mode, image_size, cfg.seed,
            extra={"time/elapsed_s": elapsed()},
        )  # fmt: skip

    learning_starts = max(cfg.warmup_steps, cfg.random_steps)
    # The starting point: success of the initial (pre-trained) policy.
    last_eval = run_eval() if step == 0 and cfg.eval.episodes > 0 else {}
    bar = progress(
        total=cfg.env_steps, initial=step, desc=f"finetune {cfg.method}", disable=not cfg.progress
    )
    obs, _ = env.reset(seed=cfg.seed + episodes_done)
    recorder.start(obs)
    recent_success: list[float] = []
    t0, s0 = time.perf_counter(), step
    metrics: dict[str, Any] = {}
    watch, last_log = Stopwatch(), step
    while step < cfg.env_steps:
        watch.lap("other")  # logging, evaluation, checkpoints of the previous step
        if step < cfg.random_steps:
            action = env.action_space.sample().astype(np.float32)
        else:  # during WSRL warm-up no update has happened: this is the frozen init policy
            action = agent.act(obs, deterministic=False)
        watch.lap("act")
        next_obs, env_reward, terminated, truncated, info = env.step(action)
        watch.lap("env")
        r, terminated = reward.step(obs, action, next_obs, float(env_reward), terminated)
        recorder.add(action, next_obs, env_reward, r, terminated, truncated, info)
        obs = next_obs
        step += 1
        if terminated or truncated:
            ep = recorder.finish(terminated, truncated)
            online.add_episode(ep, recorder.train_column)
            reward.observe_episode(ep)
            recent_success = (recent_success + [float(ep.is_success)])[-20:]
            episodes_done += 1
            obs, _ = env.reset(seed=cfg.seed + episodes_done)
            recorder.start(obs)
        watch.lap("reward")  # the reward model's scoring, episode bookkeeping and resets
        if step >= learning_starts and (offline is not None or len(online) > 0):
            batch = sampler.sample(agent.sample_size, rng, obs_keys)
            watch.lap("sample")
            metrics = agent.update(batch)
            watch.lap("update")
        reward.maybe_update(step, [b for b in (online, offline) if b is not None])
        watch.lap("reward_update")
        bar.update(1)
        if cfg.log_every and step % cfg.log_every == 0:
            rate = (step - s0) / max(time.perf_counter() - t0, 1e-9)
            extra = {
                **watch.report(step - last_log),
                "perf/env_steps_per_s": rate,
                "train/episodes": episodes_done,
                "train/success_rate": np.mean(recent_success) if recent_success else 0.0,
            }
            # The reward model's metrics are those of its latest update (it updates rarely).
            row = logger.log("train", step, {**metrics, **reward.last_metrics, **extra})
            last_log = step
            bar.set_postfix(
                sps=f"{rate:.0f}",
                succ=f"{row['train/success_rate']:.2f}",
                **({"eval": f"{last_eval['eval/success_rate']:.2f}"} if last_eval else {}),
            )
        if cfg.eval.every and cfg.eval.episodes and step % cfg.eval.every == 0:
            last_eval = run_eval()
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            checkpoint()
    bar.close()
    if cfg.eval.episodes and (not cfg.eval.every or step % cfg.eval.every):
        last_eval = run_eval()
    checkpoint()
    logger.close()
    env.close()
    from robot_rl.training.plots import plot_learning_curve

    plot_learning_curve(run_dir, run_dir / "learning_curve.png", title=f"{cfg.method} on {task}")
    if last_eval:
        print(f"[finetune] {run_dir}: success rate {last_eval['eval/success_rate']:.2f}")
    return run_dir
