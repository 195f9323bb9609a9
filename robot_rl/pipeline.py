"""`robot-rl pipeline`: collect -> label -> train reward -> relabel -> pretrain -> finetune ->
evaluate -> report, on one task, with every artifact under one directory.

Each stage is skipped when its artifact exists for the same inputs and config (a digest of the
stage's settings and of the digests of the stages it reads), so a re-run after a kill resumes:
finished stages are skipped, and pretrain/finetune continue from their last checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robot_rl.data.io import atomic_write_json
from robot_rl.errors import UserError


@dataclass
class PipelineConfig:
    # Push the block into a zone drawn on the table: success is plain in the pixels, and from
    # the weak data below offline pre-training alone stays low, so fine-tuning has to lift it.
    task: str = "zone"
    out: str = "runs/pipeline"
    seed: int = 0
    device: str = "auto"
    reward: str = "classifier"  # classifier | preference | env (the simulator's, for comparison)
    labeller: str = "synthetic"  # synthetic | web (opens the labeling app and waits)
    # collect
    episodes: int = 100  # about 38% of them succeed (bench_learning's zone mixture)
    mixture: str = "expert:0.2+noisy0.3:0.2+play:0.6"
    image_size: int = 64
    # labeller=web: the collect also stores frames at this size for the person labelling (the
    # classifier still trains on image_size); 0 = show the training frames scaled up.
    display_size: int = 256
    workers: int = 2
    # labels and reward model
    positives: int = 200
    negatives: int = 600
    classifier_steps: int = 500  # training steps of the reward model (classifier or preference)
    queries: int = 300
    # Preference queries: uniform | disagreement | entropy. Disagreement retrains the ensemble
    # between rounds (~3 min more here); on zone at 300 queries 0.74 / 0.72 / 0.22 fine-tuned
    # success (3 seeds) against uniform's 0.28 / 0.56 (2 seeds); uniform at 1,000: 0.66 mean.
    query_method: str = "disagreement"
    # The synthetic preference labeller (B-Pref names; goal = the oracle, and reaching the
    # goal counts too). Used for the queries before and during fine-tuning. On zone (1,000
    # uniform queries, 2 seeds) goal gave 0.40 fine-tuned success against the oracle's 0.64.
    teacher: str = "oracle"
    # reward=preference: the reward is the ensemble mean minus this many standard deviations
    # (PreferenceConfig.uncertainty_penalty). On zone 1.0 gave 0.41 against 0.64 (2 seeds).
    preference_penalty: float = 0.0
    # Added to a preference reward (tanh, in [-1, 1]) in pre-training and fine-tuning. Preferences
    # fix a reward only up to a constant, and episodes end on success: a positive reward pays the
    # policy to keep an episode going (the survival bias of Kostrikov et al.'s DAC), so by default
    # every step costs (r - 1 <= 0) and ending at success is never worse than going on.
    preference_reward_bias: float = -1.0
    # offline pre-training (the agent sees state; the reward model sees pixels). IQL with the
    # sparse-task settings of its paper (expectile 0.9, beta 10): measured on this CPU it reaches
    # 0.9 success on drawer in 3k updates, where Cal-QL is still at 0 (see the README).
    agent_obs: str = "state"
    pretrain_agent: str = "iql"
    pretrain_steps: int = 3_000
    pretrain: dict[str, Any] = field(default_factory=lambda: {"beta": 10.0, "expectile": 0.9})
    # online fine-tuning: iql keeps its losses and half its batches from the offline data;
    # finetune_method=wsrl / rlpd / calql / cql are the others (wsrl: pretrain_agent=calql +
    # LayerNorm). A method is its preset in robot_rl/methods.py; the two fields below are the
    # pipeline's deliberately smaller budget and override the preset's values.
    # RLPD needs no pre-trained agent: it learns from scratch with half of every batch from the
    # offline data, and the pre-trained IQL policy is the baseline it has to beat.
    finetune_method: str = "rlpd"  # ("method" would clash with the finetune config group)
    env_steps: int = 15_000
    warmup_steps: int = 2_000  # methods with a warm-up (wsrl: 5000 in its preset)
    utd_ratio: int = 2  # methods whose agent is SAC (rlpd and wsrl: 2 in their presets)
    # VICE: update the classifier with visited states every this many env steps; 0 = frozen.
    # On zone the frozen classifier is exploited (measured: episodes end on its false positives
    # after ~12 steps while the simulator counts 10-15% successes; 0.40 final success against
    # 0.90+ with the simulator's reward); an update that would forget success is undone
    # (classifier.min_positive_rate, the drawer's failure mode).
    classifier_every: int = 1_000
    classifier_queries: int = 25  # RAQ queries to the synthetic labeller over the run
    # Share of the classifier's negatives from RAQ-confirmed failures (ClassifierUpdateConfig.
    # hard_negatives). On zone 0.25 with 100 queries gave 0.62 against 0.82 without (seed 0).
    classifier_hard_negatives: float = 0.0
    # reward=preference: pairs asked *during* fine-tuning about the policy's own segments
    # (PEBBLE), one round every classifier_every env steps, by query_method; 0 = the model
    # stays frozen and every query is asked before (``queries``). On zone 700 + 300 online gave
    # 0.66 fine-tuned success against 0.63 with all 1,000 before (2 seeds).
    online_queries: int = 0
    # Networks of an agent fine-tuning trains from scratch (rlpd; the others keep pre-training's):
    # an update ~3x cheaper than at 256 units on this CPU (27 against 87 ms an env step) for
    # similar success per env step on zone, so 30k steps fit where 10k did.
    scratch_hidden_dims: list[int] = field(default_factory=lambda: [128, 128])
    finetune: dict[str, Any] = field(default_factory=dict)  # agent config overrides, last
    # evaluation
    eval_episodes: int = 20
    eval_every: int = 3_000
    progress: bool = True


def read_stages(path: Path) -> dict[str, Any]:
    """The pipeline's record of finished stages ({} when none), or a one-line error."""
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(
            f"{path}: damaged ({type(e).__name__}); delete it to re-run every stage (finished "
            "runs resume from their checkpoints)"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
        raise UserError(f"{path}: not a pipeline stage record; delete it to re-run every stage")
    return state


class Stages:
    """Runs named stages once per digest; records what ran, how long, and what it produced."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_path = root / "stages.json"
        self.state: dict[str, Any] = read_stages(self.state_path)

    def run(
        self, name: str, settings: dict[str, Any], deps: list[str], fn: Callable[[bool], Any]
    ) -> Any:
        """Run ``fn(fresh)`` unless already done with the same digest. ``fresh`` is False when a
        run with this digest was started and interrupted: the stage resumes, not restarts."""
        # Paths inside the run directory count relative to it: a copied directory is still up to
        # date (e.g. a copy that re-runs only fine-tuning with other settings).
        portable = _relative_paths(settings, str(self.root))
        digest = _digest({"settings": portable, "deps": [self.state[d]["digest"] for d in deps]})
        prev = self.state.get(name) or {}
        if prev.get("digest") == digest and prev.get("done"):
            print(f"[pipeline] {name}: up to date, skipped")
            return prev.get("result")
        fresh = prev.get("digest") != digest
        print(f"[pipeline] {name}: {'running' if fresh else 'resuming'}")
        self.state[name] = {"digest": digest, "done": False}
        atomic_write_json(self.state_path, self.state)
        t0 = time.perf_counter()
        result = fn(fresh)
        self.state[name] = {
            "digest": digest,
            "done": True,
            "result": _jsonable(result),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        atomic_write_json(self.state_path, self.state)
        return self.state[name]["result"]


def _relative_paths(obj: Any, root: str) -> Any:
    """``obj`` with every string that is a path under ``root`` written relative to it."""
    if isinstance(obj, dict):
        return {k: _relative_paths(v, root) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_relative_paths(v, root) for v in obj]
    if isinstance(obj, str) and (obj == root or obj.startswith(root.rstrip("/") + "/")):
        return "<out>" + obj[len(root.rstrip("/")) :]
    return obj


def _digest(obj: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def run_pipeline(cfg: PipelineConfig) -> Path:
    from robot_rl.rewards.kinds import REWARD_KINDS

    if cfg.reward not in (*REWARD_KINDS, "env"):
        raise UserError(f"reward={cfg.reward!r}: must be {', '.join(REWARD_KINDS)} or env")
    kind = REWARD_KINDS.get(cfg.reward)  # None: the simulator's reward
    if cfg.labeller not in ("synthetic", "web"):
        raise UserError(f"labeller={cfg.labeller!r}: must be synthetic or web")
    from robot_rl.data.display import check_display_size

    check_display_size(_display_size(cfg), cfg.image_size)
    _method_settings(cfg)  # a bad finetune_method fails now, not after the first stages
    from robot_rl.rewards.teachers import teacher_config

    teacher_config(cfg.teacher)  # likewise a bad teacher (the error names the choices)
    from robot_rl.data.lock import dir_lock

    with dir_lock(Path(cfg.out), "pipeline run"):
        return _run_stages(cfg, kind)


@dataclass
class Plan:
    """What the stages of one pipeline run share: the config, the reward kind (None: the
    simulator's reward), the directories, and the results of the stages run so far."""

    cfg: PipelineConfig
    kind: Any
    root: Path
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def learned(self) -> bool:
        return self.kind is not None

    @property
    def reward_ckpt(self) -> Path | None:
        return self.root / f"reward-{self.cfg.reward}" if self.learned else None

    @property
    def reward_key(self) -> str:
        return str(self.results.get("relabel") or "reward.env")

    @property
    def pre_dir(self) -> Path:
        return self.root / f"pretrain-{self.cfg.pretrain_agent}"

    @property
    def ft_dir(self) -> Path:
        return self.root / f"finetune-{self.cfg.finetune_method}"


@dataclass(frozen=True)
class Stage:
    """One step of the chain: what it depends on, the settings whose change re-runs it, and
    ``run(plan, fresh)`` (``fresh`` False: an interrupted run of it resumes)."""

    name: str
    deps: Callable[[Plan], list[str]]
    settings: Callable[[Plan], dict[str, Any]]
    run: Callable[[Plan, bool], Any]
    when: Callable[[Plan], bool] = lambda plan: True


def _run_stages(cfg: PipelineConfig, kind: Any) -> Path:
    plan = Plan(cfg, kind, Path(cfg.out))
    st = Stages(plan.root)
    t_start = time.perf_counter()
    _refuse_other_data(cfg, plan.data)
    for stage in STAGES:
        if stage.when(plan):
            run = functools.partial(stage.run, plan)
            plan.results[stage.name] = st.run(
                stage.name, stage.settings(plan), stage.deps(plan), run
            )
    _summarise(plan, st, time.perf_counter() - t_start)
    return plan.root


def _summarise(plan: Plan, st: Stages, seconds: float) -> None:
    from robot_rl.report import write_report

    cfg, result = plan.cfg, plan.results["evaluate"]
    report = write_report(plan.root, cfg, st.state)
    summary = {
        "task": cfg.task,
        "reward": cfg.reward,
        "success_pretrained": result["pretrained"]["eval/success_rate"],
        "success_finetuned": result["finetuned"]["eval/success_rate"],
        "seconds_this_invocation": round(seconds, 1),
        "seconds_all_stages": round(sum(s.get("seconds", 0) for s in st.state.values()), 1),
        "report": str(report),
    }
    atomic_write_json(plan.root / "summary.json", summary)
    print(json.dumps(summary, indent=1))


# ------------------------------------------------------------------------------ the stages
def _collect(plan: Plan, fresh: bool) -> Any:
    from robot_rl.envs.collect import collect

    cfg = plan.cfg
    return collect(
        task=cfg.task, out_dir=plan.data, episodes=cfg.episodes, mixture=cfg.mixture,
        obs="both", image_size=cfg.image_size, workers=cfg.workers, seed=cfg.seed,
        progress=cfg.progress, display_size=_display_size(cfg),
    )  # fmt: skip


def _display_size(cfg: PipelineConfig) -> int:
    """Display frames only for a person: no stage reads them, so they are not in the collect
    stage's digest (a run collected without them is not collected again; the app then shows
    the training frames)."""
    return cfg.display_size if cfg.labeller == "web" else 0


def _label_settings(plan: Plan) -> dict[str, Any]:
    cfg, mode = plan.cfg, plan.kind.label_mode
    return {
        "mode": mode,
        "labeller": cfg.labeller,
        "positives": cfg.positives,
        "negatives": cfg.negatives,
        "queries": cfg.queries,
        "query_method": cfg.query_method,
        **({"steps": cfg.classifier_steps} if mode == "preferences" else {}),
        # only when changed: runs labelled before this setting existed stay up to date
        **({"teacher": cfg.teacher} if mode == "preferences" and cfg.teacher != "oracle" else {}),
    }


def _relabel(plan: Plan, fresh: bool) -> str:
    from robot_rl.rewards.relabel import relabel_dataset

    assert plan.reward_ckpt is not None
    return relabel_dataset(plan.data, plan.reward_ckpt, progress=plan.cfg.progress)


def _reward_shaping(plan: Plan) -> tuple[float, bool]:
    """(reward bias, whether the reward ends episodes) of the plan's reward kind."""
    bias = plan.cfg.preference_reward_bias if plan.learned and plan.kind.up_to_constant else 0.0
    return bias, plan.learned and plan.kind.terminates_episodes


def _pretrain_config(plan: Plan) -> Any:
    from robot_rl.agents import config_with
    from robot_rl.training.evaluate import EvalConfig
    from robot_rl.training.offline import PretrainConfig

    cfg, (bias, terminate) = plan.cfg, _reward_shaping(plan)
    return PretrainConfig(
        dataset=str(plan.data), reward_key=plan.reward_key, agent_name=cfg.pretrain_agent,
        agent=config_with(cfg.pretrain_agent, **cfg.pretrain), obs=cfg.agent_obs,
        steps=cfg.pretrain_steps, reward_bias=bias, terminate_on_reward=terminate,
        seed=cfg.seed, device=cfg.device, out=str(plan.pre_dir),
        eval=EvalConfig(every=0, episodes=cfg.eval_episodes, video=True), progress=cfg.progress,
    )  # fmt: skip


def _finetune_config(plan: Plan) -> Any:
    from robot_rl.agents import config_with
    from robot_rl.training.evaluate import EvalConfig
    from robot_rl.training.online import ClassifierUpdateConfig, FinetuneConfig

    cfg, (bias, terminate) = plan.cfg, _reward_shaping(plan)
    updates = cfg.env_steps // cfg.classifier_every if cfg.classifier_every > 0 else 0
    method = _method_settings(cfg)
    return FinetuneConfig(
        method=cfg.finetune_method, agent_name=method["agent_name"],
        agent=config_with(method["agent_name"], **method["agent"]),
        init=str(plan.pre_dir) if _needs_init(cfg) else None,
        dataset=str(plan.data) if method["offline_ratio"] > 0 else None,
        reward_key=plan.reward_key, reward_bias=bias, terminate_on_reward=terminate,
        reward=str(plan.reward_ckpt) if plan.reward_ckpt else "env",
        obs=cfg.agent_obs,  # the data has frames too (for the classifier): not for the agent
        offline_ratio=method["offline_ratio"], warmup_steps=method["warmup_steps"],
        random_steps=method["random_steps"], hindsight=method["hindsight"],
        env_steps=cfg.env_steps, seed=cfg.seed, device=cfg.device, out=str(plan.ft_dir),
        eval=EvalConfig(every=cfg.eval_every, episodes=cfg.eval_episodes, video=True),
        classifier=ClassifierUpdateConfig(
            every=cfg.classifier_every if cfg.reward == "classifier" else 0,
            max_queries=cfg.classifier_queries,
            # The budget spread over the run's classifier updates (one a time asked only 3 of
            # the default 25: 3000 env steps, an update every 1000).
            queries_per_update=-(-cfg.classifier_queries // max(1, updates)),
            hard_negatives=cfg.classifier_hard_negatives,
        ),
        preference=_preference_updates(cfg, updates),
        progress=cfg.progress,
    )  # fmt: skip


def _preference_updates(cfg: PipelineConfig, rounds: int) -> Any:
    """PEBBLE's online query rounds: ``online_queries`` spread over the run's ``rounds``; the
    default (frozen) config without them."""
    from robot_rl.rewards.updates import PreferenceUpdateConfig

    if cfg.reward != "preference" or not cfg.online_queries or not rounds:
        return PreferenceUpdateConfig()
    return PreferenceUpdateConfig(
        every=cfg.classifier_every, max_queries=cfg.online_queries, method=cfg.query_method,
        queries_per_update=-(-cfg.online_queries // rounds), teacher=cfg.teacher,
    )  # fmt: skip


def _pretrain(plan: Plan, fresh: bool) -> str:
    from robot_rl.training.offline import pretrain

    # A changed config restarts the stage's run directory; an interrupted one resumes it.
    return str(pretrain(dataclasses.replace(_pretrain_config(plan), overwrite=fresh)))


def _finetune(plan: Plan, fresh: bool) -> str:
    from robot_rl.training.online import finetune

    return str(finetune(dataclasses.replace(_finetune_config(plan), overwrite=fresh)))


def _eval_episodes(plan: Plan) -> int:
    return max(plan.cfg.eval_episodes, 50)


def _evaluate(plan: Plan, fresh: bool) -> dict[str, Any]:
    from robot_rl.training.evaluate import evaluate_checkpoint

    cfg = plan.cfg
    return {
        name: evaluate_checkpoint(
            str(d), episodes=_eval_episodes(plan), seed=cfg.seed + 7, device=cfg.device
        )
        for name, d in (("pretrained", plan.pre_dir), ("finetuned", plan.ft_dir))
    }


def _learned(plan: Plan) -> bool:
    return plan.learned


STAGES: list[Stage] = [
    Stage(
        "collect", lambda p: [],
        lambda p: {k: getattr(p.cfg, k) for k in ("task", "episodes", "mixture", "image_size",
                                                   "seed")},
        _collect,
    ),
    Stage("label", lambda p: ["collect"], _label_settings,
          lambda p, fresh: _label(p.cfg, p.data, p.kind.label_mode), when=_learned),
    Stage("train_reward", lambda p: ["label"],
          lambda p: {"kind": p.cfg.reward, "steps": p.cfg.classifier_steps,
                     **_penalty(p.cfg)},
          lambda p, fresh: _train_reward(p.cfg, p.data, p.root / f"reward-{p.cfg.reward}"),
          when=_learned),
    Stage("relabel", lambda p: ["train_reward"], lambda p: {}, _relabel, when=_learned),
    Stage("pretrain", lambda p: ["relabel" if p.learned else "collect"],
          lambda p: dataclasses.asdict(_pretrain_config(p)), _pretrain),
    Stage("finetune", lambda p: ["pretrain"],
          lambda p: dataclasses.asdict(_finetune_config(p)), _finetune),
    Stage("evaluate", lambda p: ["finetune"], lambda p: {"episodes": _eval_episodes(p)},
          _evaluate),
]  # fmt: skip


def _refuse_other_data(cfg: PipelineConfig, data: Path) -> None:
    """A pipeline re-run on an ``out`` whose data another mixture or seed made is refused: its
    collect would add nothing, and every later stage would train on the old data."""
    from robot_rl.data import DatasetMeta
    from robot_rl.envs.collect import canonical_mixture, collect_batches, plan_batches

    if not (data / "meta.json").exists():
        return
    batches = collect_batches(DatasetMeta.load(data).provenance)
    if batches is not None:  # otherwise collect itself refuses the directory
        fix = f"use a new out= for other data (out={cfg.out} was trained on this data)"
        plan_batches(data, batches, canonical_mixture(cfg.mixture), cfg.seed, cfg.episodes, fix=fix)


def _method_settings(cfg: PipelineConfig) -> dict[str, Any]:
    """The FinetuneConfig settings of ``cfg.finetune_method``: its preset in robot_rl/methods.py
    with the pipeline's own fields over it, ``cfg.finetune`` last."""
    from robot_rl.methods import METHODS

    preset = METHODS.get(cfg.finetune_method)
    # A method that starts with random actions (sac) ignores the data: no place in the pipeline.
    choices = sorted(name for name, p in METHODS.items() if p.random_steps == 0)
    if preset is None or preset.name not in choices:
        raise UserError(f"finetune_method={cfg.finetune_method!r}: one of {choices}")
    if preset.agent_name not in ("sac", cfg.pretrain_agent):
        raise UserError(
            f"finetune_method={cfg.finetune_method} fine-tunes that agent: set "
            f"pretrain_agent={cfg.finetune_method} (it is {cfg.pretrain_agent})"
        )
    agent = dict(preset.agent)
    if preset.agent_name == "sac":
        # Deliberate budget difference: the pipeline's utd_ratio replaces the preset's (RLPD 10).
        agent["utd_ratio"] = cfg.utd_ratio
        if not _needs_init(cfg):
            agent["hidden_dims"] = list(cfg.scratch_hidden_dims)
    else:
        # An offline method keeps fine-tuning with the config it was pre-trained with.
        agent.update(cfg.pretrain)
    return {
        **preset.loop_settings(),
        # Deliberate budget difference: the pipeline's warm-up replaces the preset's (WSRL 5000).
        "warmup_steps": cfg.warmup_steps if preset.warmup_steps > 0 else 0,
        "agent_name": preset.agent_name,
        "agent": {**agent, **cfg.finetune},
    }


def _needs_init(cfg: PipelineConfig) -> bool:
    """RLPD starts afresh (its preset has no warm-up and trains SAC); WSRL and the offline
    methods continue the pre-trained agent."""
    from robot_rl.methods import METHODS

    preset = METHODS[cfg.finetune_method]
    return preset.agent_name != "sac" or preset.warmup_steps > 0


def _label(cfg: PipelineConfig, data: Path, mode: str) -> Any:
    from robot_rl.labeling.run import LabelConfig, label

    labeller = "web" if cfg.labeller == "web" else "synthetic"
    return label(
        LabelConfig(
            dataset=str(data),
            mode=mode,
            labeller=labeller,
            positives=cfg.positives,
            negatives=cfg.negatives,
            queries=cfg.queries,
            query_method=cfg.query_method,
            model_steps=cfg.classifier_steps,
            teacher=cfg.teacher,
            seed=cfg.seed,
        )
    )


def _penalty(cfg: PipelineConfig) -> dict[str, float]:
    """The preference model's uncertainty penalty when set (absent otherwise: runs trained
    before it existed stay up to date)."""
    on = cfg.reward == "preference" and cfg.preference_penalty
    return {"uncertainty_penalty": cfg.preference_penalty} if on else {}


def _train_reward(cfg: PipelineConfig, data: Path, out: Path) -> dict[str, float]:
    from robot_rl.data import Dataset
    from robot_rl.rewards.kinds import REWARD_KINDS
    from robot_rl.rewards.train import train_reward
    from robot_rl.training.device import resolve_device

    # The kind's default config with a 0/1 reward where it has one, like the simulator's sparse
    # reward (the data is collected with pixels, so a classifier looks at them).
    kind = REWARD_KINDS[cfg.reward]
    spec = Dataset(data).meta.obs_spec
    sub = kind.default_config(
        spec, steps=cfg.classifier_steps, **kind.sparse_fields, **_penalty(cfg)
    )
    return train_reward(
        cfg.reward,
        data,
        out,
        sub,
        seed=cfg.seed,
        progress=cfg.progress,
        device=str(resolve_device(cfg.device)),
    )
