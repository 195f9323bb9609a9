"""The one online loop. RLPD, WSRL, SAC and the offline-method baselines are settings of it,
defined once in `robot_rl.methods` (offline share of each batch, warm-up rollouts, random steps,
hindsight share, and a few agent fields)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.agents.checkpoint import load_agent_state
from robot_rl.errors import UserError
from robot_rl.progress import progress
from robot_rl.rewards.updates import ClassifierUpdateConfig, PreferenceUpdateConfig
from robot_rl.training.checkpoint import CheckpointInfo, read_checkpoint_info
from robot_rl.training.common import (
    OBS_MODES,
    obs_mode_of,
    restore_rng,
    rng_state,
    select_obs_keys,
)
from robot_rl.training.episodes import EpisodeRecorder, env_obs_spec
from robot_rl.training.evaluate import EvalConfig
from robot_rl.training.logger import Logger, LoggerConfig
from robot_rl.training.rewards import OnlineReward
from robot_rl.training.run import Checkpointer, Evaluator, RunContext, RunSpec, open_run
from robot_rl.training.timing import Stopwatch
from robot_rl.types import GYM_PREFIX, ActionSpec, ObsSpec


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
    from robot_rl.agents.sac import SACConfig

    if isinstance(cfg.agent, SACConfig) and cfg.agent.utd_ratio <= 0:
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


def build_agent(cfg: FinetuneConfig, obs_spec, action_spec, device, where: str) -> tuple[Any, Any]:
    """A fresh agent, or one initialised from ``cfg.init`` (whole state, or WSRL actor-critic),
    with the agent config it was built from (``cfg.agent`` with the checkpoint's shapes)."""
    from robot_rl.agents import make_agent

    agent = make_agent(cfg.agent_name, cfg.agent, obs_spec, action_spec, device)
    if not cfg.init:
        return agent, cfg.agent
    info = read_checkpoint_info(cfg.init)
    if info.obs_spec != obs_spec:
        raise UserError(
            f"{info.path}/config.json: checkpoint observation spec "
            f"{_spec_str(info.obs_spec)} does not match {where} "
            f"{_spec_str(obs_spec)}"
        )
    state = load_agent_state(info.path / "agent.pt", device)
    agent_cfg = cfg.agent
    if info.agent == cfg.agent_name:
        # Same agent: the network shapes come from the checkpoint (e.g. its LayerNorm critics),
        # everything else (learning rates, loss settings) from this run's config.
        shape = {f: getattr(info.agent_config, f) for f in _SHAPE_FIELDS if hasattr(agent_cfg, f)}
        agent_cfg = dataclasses.replace(agent_cfg, **shape)
        agent = make_agent(cfg.agent_name, agent_cfg, obs_spec, action_spec, device)
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
    return agent, agent_cfg


def hindsight_for(task: str, obs_keys: tuple[str, ...], ratio: float, terminal: bool):
    """The task's HER relabelling (UserError where the task or observations have no goal)."""
    from robot_rl.data.hindsight import Hindsight
    from robot_rl.envs.tasks import get_task_info

    if task.startswith(GYM_PREFIX):
        raise UserError(f"hindsight={ratio}: not available for Gymnasium tasks ({task})")
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
    source = resolve_source(cfg)
    with open_run(cfg, budget_field="env_steps", kind="finetune") as run:
        return _finetune(cfg, source, run)


def _finetune(cfg: FinetuneConfig, source: Source, run: RunContext) -> Path:
    reward = OnlineReward.build(cfg, run.device)
    setup = make_online_env(cfg, source, reward)
    spec = setup.spec
    agent, agent_cfg = build_agent(
        cfg, spec.obs_spec, spec.action_spec, run.device, f"task {spec.task} (obs={spec.obs_mode})"
    )
    buffers = make_buffers(cfg, source, setup, agent, agent_cfg, reward, run.device)
    # The config as run: the agent's network shapes may come from the init checkpoint.
    logger = Logger(run.dir, cfg.logger, config=dataclasses.asdict(replace(cfg, agent=agent_cfg)))
    recorder = EpisodeRecorder(
        run.dir / "episodes" if cfg.save_episodes else None,
        spec.task,
        setup.env,
        setup.store_keys,
        reward.column,
    )
    ckpt = Checkpointer(run.dir, agent, "finetune", cfg.agent_name, agent_cfg, spec)
    evaluator = Evaluator(agent, cfg.eval, logger, run.dir, spec, cfg.seed, clock=ckpt.elapsed)
    loop = OnlineLoop(
        cfg, setup, agent, reward, buffers, recorder, run.rng, logger, evaluator, ckpt
    )
    if run.resume and not loop.resume(run.device):
        return run.dir
    loop.run()
    logger.close()
    setup.env.close()
    from robot_rl.training.plots import plot_learning_curve

    title = f"{cfg.method} on {spec.task}"
    plot_learning_curve(run.dir, run.dir / "learning_curve.png", title=title)
    if evaluator.last:
        print(f"[finetune] {run.dir}: success rate {evaluator.last['eval/success_rate']:.2f}")
    return run.dir


@dataclass
class Source:
    """Where the run's task and observations come from: the init checkpoint, else the dataset."""

    task: str
    obs_mode: str
    image_size: int
    init: CheckpointInfo | None
    dataset: Any  # robot_rl.data.Dataset | None


def resolve_source(cfg: FinetuneConfig) -> Source:
    """Task, observation mode and image size: the config's, else the init checkpoint's, else the
    dataset's."""
    from robot_rl.data import Dataset

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
    return Source(task, obs_mode, image_size, init_info, ds)


@dataclass
class OnlineEnv:
    """The training env and what the run keeps of its observations."""

    env: Any
    spec: RunSpec  # the agent's view
    obs_keys: tuple[str, ...]  # the agent's keys
    store_keys: tuple[str, ...]  # the agent's and the reward model's: what the buffers keep
    store_spec: ObsSpec


def make_online_env(cfg: FinetuneConfig, source: Source, reward: OnlineReward) -> OnlineEnv:
    """The env rendering what the agent and the reward model see, at a size both accept."""
    from robot_rl.envs import make_env

    task, obs_mode, image_size = source.task, source.obs_mode, source.image_size
    if reward.image_size is not None and reward.image_size != image_size:
        if obs_mode != "state" and (source.init is not None or source.dataset is not None):
            raise UserError(
                f"{cfg.reward}: the reward model sees {reward.image_size} px images, "
                f"the agent {image_size} px; train both on the same image size"
            )
        image_size = reward.image_size  # a state agent: render at the reward model's size
    # The agent's keys, plus the reward model's (e.g. a state agent with a pixel classifier):
    # the env renders what either needs, and the buffer stores both so it can be relabelled.
    agent_keys = OBS_MODES.get(obs_mode, ())
    env_mode = obs_mode if set(reward.obs_keys) <= set(agent_keys) else "both"
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
    spec = RunSpec(task, obs_mode, image_size, obs_spec, action_spec)
    return OnlineEnv(env, spec, obs_keys, store_keys, {k: full_spec[k] for k in store_keys})


@dataclass
class Buffers:
    offline: Any  # ReplayBuffer of the dataset, or None
    online: Any  # ReplayBuffer of this run's episodes
    sampler: Any  # what batches are drawn from (offline and online mixed, or online only)

    def all(self) -> list[Any]:
        return [b for b in (self.online, self.offline) if b is not None]


def make_buffers(
    cfg: FinetuneConfig,
    source: Source,
    setup: OnlineEnv,
    agent: Any,
    agent_cfg: Any,
    reward: OnlineReward,
    device: torch.device,
) -> Buffers:
    """The offline data (RLPD), the online replay buffer, HER relabelling and the sampler."""
    from robot_rl.agents import discount_of
    from robot_rl.data import MixedSampler, ReplayBuffer

    gamma = discount_of(cfg.agent_name, agent_cfg)
    task, ds = setup.spec.task, source.dataset
    offline = None
    if ds is not None and cfg.offline_ratio > 0:
        if ds.meta.task != task:
            raise UserError(f"{ds.root}/meta.json: dataset task {ds.meta.task!r} != {task!r}")
        select_obs_keys(ds.meta.obs_spec, setup.spec.obs_mode, f"{ds.root}/meta.json")
        from robot_rl.training.offline import load_offline_buffer

        _, offline = load_offline_buffer(
            str(ds.root),
            cfg.reward_key,
            setup.store_keys,
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
        setup.store_spec,
        setup.spec.action_spec.dim,
        cfg.buffer_capacity,
        gamma,
        cfg.reward_scale,
        cfg.reward_bias,
        device,
        fail_reward=cfg.fail_reward,
    )
    if cfg.hindsight > 0:
        her = hindsight_for(task, setup.obs_keys, cfg.hindsight, reward.uses_env_termination)
        for buf in (offline, online):
            if buf is not None:
                buf.hindsight = her
    sampler = MixedSampler(offline, online, cfg.offline_ratio) if offline is not None else online
    return Buffers(offline, online, sampler)


@dataclass
class OnlineLoop:
    """The env-step loop: act, step the env, score and store, learn, log, evaluate, checkpoint."""

    cfg: FinetuneConfig
    setup: OnlineEnv
    agent: Any
    reward: OnlineReward
    buffers: Buffers
    recorder: EpisodeRecorder
    rng: np.random.Generator
    logger: Logger
    evaluator: Evaluator
    ckpt: Checkpointer
    step: int = 0
    episodes: int = 0
    recent_success: list[float] = field(default_factory=list)  # of the last 20 episodes
    metrics: dict[str, Any] = field(default_factory=dict)  # of the latest update

    def resume(self, device: torch.device) -> bool:
        """Restore the checkpoint's loop state; False where the run is already complete."""
        state = self.ckpt.resume(device, self.logger)
        if state is None:
            return True
        self.step, self.episodes = int(state["step"]), int(state["episodes"])
        self.buffers.online.load_state_dict(state["online"])
        restore_rng(self.rng, state["rng"])
        self.reward.load_state_dict(state.get("reward"))
        self.recorder.next_id = self.episodes
        run_dir = self.ckpt.run_dir
        if self.step >= self.cfg.env_steps:
            print(f"[finetune] {run_dir}: already complete ({self.step} env steps)")
            return False
        print(f"[finetune] resuming {run_dir} at env step {self.step}")
        return True

    def save(self) -> None:
        self.ckpt.save(
            self.step,
            {
                "step": self.step,
                "episodes": self.episodes,
                "online": self.buffers.online.state_dict(),
                "rng": rng_state(self.rng),
                "reward": self.reward.state_dict(),
                "elapsed_s": self.ckpt.elapsed(),
            },
        )

    def run(self) -> None:
        cfg = self.cfg
        if self.step == 0 and cfg.eval.episodes > 0:
            self.evaluator(0)  # the starting point: success of the initial (pre-trained) policy
        bar = progress(
            total=cfg.env_steps,
            initial=self.step,
            desc=f"finetune {cfg.method}",
            disable=not cfg.progress,
        )
        obs = self.reset()
        t0, s0 = time.perf_counter(), self.step
        watch, last_log = Stopwatch(), self.step
        while self.step < cfg.env_steps:
            watch.lap("other")  # logging, evaluation, checkpoints of the previous step
            obs = self.env_step(obs, watch)
            self.learn(watch)
            bar.update(1)
            if cfg.log_every and self.step % cfg.log_every == 0:
                rate = (self.step - s0) / max(time.perf_counter() - t0, 1e-9)
                self.log(bar, rate, watch.report(self.step - last_log))
                last_log = self.step
            self.evaluator.maybe(self.step)
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save()
        bar.close()
        self.evaluator.final(self.step)
        self.save()

    def reset(self) -> Any:
        obs, _ = self.setup.env.reset(seed=self.cfg.seed + self.episodes)
        self.recorder.start(obs)
        return obs

    def env_step(self, obs: Any, watch: Stopwatch) -> Any:
        """One action in the env, scored by the reward and recorded; the next observation."""
        env = self.setup.env
        if self.step < self.cfg.random_steps:
            action = env.action_space.sample().astype(np.float32)
        else:  # during WSRL warm-up no update has happened: this is the frozen init policy
            action = self.agent.act(obs, deterministic=False)
        watch.lap("act")
        next_obs, env_reward, terminated, truncated, info = env.step(action)
        watch.lap("env")
        r, terminated = self.reward.step(obs, action, next_obs, float(env_reward), terminated)
        self.recorder.add(action, next_obs, env_reward, r, terminated, truncated, info)
        obs = next_obs
        self.step += 1
        if terminated or truncated:
            ep = self.recorder.finish(terminated, truncated)
            self.buffers.online.add_episode(ep, self.recorder.train_column)
            self.reward.observe_episode(ep)
            self.recent_success = (self.recent_success + [float(ep.is_success)])[-20:]
            self.episodes += 1
            obs = self.reset()
        watch.lap("reward")  # the reward model's scoring, episode bookkeeping and resets
        return obs

    def learn(self, watch: Stopwatch) -> None:
        """An agent update once learning has started, then the reward model's (when due)."""
        b = self.buffers
        learning_starts = max(self.cfg.warmup_steps, self.cfg.random_steps)
        if self.step >= learning_starts and (b.offline is not None or len(b.online) > 0):
            batch = b.sampler.sample(self.agent.sample_size, self.rng, self.setup.obs_keys)
            watch.lap("sample")
            self.metrics = self.agent.update(batch)
            watch.lap("update")
        self.reward.maybe_update(self.step, b.all())
        watch.lap("reward_update")

    def log(self, bar: Any, rate: float, timings: dict[str, float]) -> None:
        recent = self.recent_success
        extra = {
            **timings,
            "perf/env_steps_per_s": rate,
            "train/episodes": self.episodes,
            "train/success_rate": np.mean(recent) if recent else 0.0,
        }
        # The reward model's metrics are those of its latest update (it updates rarely).
        row = self.logger.log(
            "train", self.step, {**self.metrics, **self.reward.last_metrics, **extra}
        )
        last_eval = self.evaluator.last
        bar.set_postfix(
            sps=f"{rate:.0f}",
            succ=f"{row['train/success_rate']:.2f}",
            **({"eval": f"{last_eval['eval/success_rate']:.2f}"} if last_eval else {}),
        )
