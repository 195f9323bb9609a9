"""The scaffold both loops share: a run opened once (directory, device, seeded RNG), what the run
is about (task, observation mode, image size, specs), a checkpointer (agent and loop state,
resume, wall-clock across resumes) and an evaluator."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.agents.checkpoint import load_agent_state
from robot_rl.errors import UserError
from robot_rl.training.checkpoint import CKPT_DIR, load_loop_state, save_checkpoint
from robot_rl.training.common import prepare_run_dir
from robot_rl.training.device import resolve_device, seed_everything
from robot_rl.training.evaluate import EvalConfig, evaluate_and_log
from robot_rl.types import ActionSpec, ObsSpec

# Config fields that may change when a run is resumed (besides its step budget).
RESUMABLE_FIELDS = ("progress", "device", "out", "overwrite")


@dataclass
class RunContext:
    """An opened run: its directory, whether a compatible run is there to resume, the device
    and the seeded generator every random draw of the loop comes from."""

    dir: Path
    resume: bool
    device: torch.device
    rng: np.random.Generator


@contextlib.contextmanager
def open_run(cfg: Any, budget_field: str, kind: str) -> Iterator[RunContext]:
    """Device, run directory (new, or a compatible one to resume) and seeding, in that order;
    ``budget_field`` names the step budget, which may grow on resume.

    The run directory is locked for the block (a second writer gets a one-line error). A new
    run that stops on a user error before its first checkpoint leaves nothing behind, so the
    corrected command starts afresh instead of meeting a half-made run.
    """
    from robot_rl.data.lock import dir_lock

    device = resolve_device(cfg.device)
    run_dir = Path(cfg.out)
    with dir_lock(run_dir, f"{kind} run"):
        resume = prepare_run_dir(
            run_dir, cfg, cfg.overwrite, (budget_field, *RESUMABLE_FIELDS), kind
        )
        try:
            yield RunContext(run_dir, resume, device, seed_everything(cfg.seed))
        except UserError:
            if not resume and not (run_dir / CKPT_DIR / "agent.pt").exists():
                remove_unstarted_run(run_dir)
            raise


# What a run writes before its first checkpoint.
_RUN_FILES = ("run_config.json", "train.csv", "eval.csv", "tb", "wandb", "videos", ".lock")


def remove_unstarted_run(run_dir: Path) -> None:
    """Remove what a run wrote before it stopped on a user error (only its own files), and the
    directory when nothing else is in it."""
    for name in _RUN_FILES:
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # only when empty


@dataclass(frozen=True)
class RunSpec:
    """What an agent of the run sees and does: it is written into every checkpoint and tells
    the evaluator which environment to build."""

    task: str
    obs_mode: str
    image_size: int
    obs_spec: ObsSpec
    action_spec: ActionSpec


@dataclass
class Checkpointer:
    """The agent and the loop's state in ``<run>/checkpoint`` (written atomically as a whole);
    ``elapsed()`` is the run's wall-clock so far, continued across resumes."""

    run_dir: Path
    agent: Any
    stage: str  # "pretrain" | "finetune"
    agent_name: str
    agent_config: Any
    spec: RunSpec
    elapsed_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @property
    def path(self) -> Path:
        return self.run_dir / CKPT_DIR

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def resume(self, device: torch.device, logger: Any) -> dict[str, Any] | None:
        """Load the agent from the checkpoint and return its loop state ({} without one), or
        None where no checkpoint exists. Rows logged after its step are dropped, so none is
        written twice."""
        if not (self.path / "agent.pt").exists():
            logger.truncate_after(-1)  # a run killed before its first checkpoint starts over
            return None
        self.agent.load_state_dict(load_agent_state(self.path / "agent.pt", device))
        state = load_loop_state(self.path) or {}
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        logger.truncate_after(int(state.get("step", 0)))
        return state

    def save(self, step: int, loop_state: dict[str, Any]) -> None:
        s = self.spec
        save_checkpoint(
            self.path,
            self.agent,
            agent_name=self.agent_name,
            agent_config=self.agent_config,
            obs_spec=s.obs_spec,
            action_spec=s.action_spec,
            task=s.task,
            obs_mode=s.obs_mode,
            image_size=s.image_size,
            step=step,
            stage=self.stage,
            loop_state=loop_state,
        )


@dataclass
class Evaluator:
    """Evaluations every ``cfg.every`` steps and once at the end, logged to eval.csv; with a
    ``clock`` each row also carries the run's wall-clock (time/elapsed_s)."""

    agent: Any
    cfg: EvalConfig
    logger: Any
    run_dir: Path
    spec: RunSpec
    seed: int
    clock: Callable[[], float] | None = None
    last: dict[str, float] = field(default_factory=dict)  # the latest evaluation's metrics

    def __call__(self, step: int) -> dict[str, float]:
        s = self.spec
        extra = {"time/elapsed_s": self.clock()} if self.clock is not None else None
        self.last = evaluate_and_log(
            self.agent, self.cfg, self.logger, self.run_dir, step, s.task, s.obs_mode,
            s.image_size, self.seed, extra=extra,
        )  # fmt: skip
        return self.last

    def maybe(self, step: int) -> None:
        """Evaluate where ``step`` is a multiple of ``every``."""
        if self.cfg.every > 0 and self.cfg.episodes > 0 and step % self.cfg.every == 0:
            self(step)

    def final(self, step: int) -> None:
        """Evaluate the finished run, unless ``maybe`` just did at this step."""
        if self.cfg.episodes > 0 and (self.cfg.every <= 0 or step % self.cfg.every != 0):
            self(step)
