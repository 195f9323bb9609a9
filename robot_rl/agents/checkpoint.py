"""Reading agent checkpoints: a checkpoint directory carries its own config, so any stage
rebuilds the agent from the directory alone (the layout is in `robot_rl.training.checkpoint`,
which writes them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from robot_rl.configs import dataclass_from_dict
from robot_rl.data.io import read_json, recover_dir
from robot_rl.errors import UserError
from robot_rl.types import ActionSpec, ObsSpec, obs_spec_from_json

CKPT_DIR = "checkpoint"


@dataclasses.dataclass
class CheckpointInfo:
    path: Path
    agent: str
    agent_config: Any  # the agent's config dataclass
    obs_spec: ObsSpec
    action_spec: ActionSpec
    task: str
    obs_mode: str
    image_size: int
    step: int
    stage: str
    raw: dict[str, Any]


def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a run directory or a checkpoint directory."""
    p = Path(path)
    recover_dir(p / CKPT_DIR)
    if (p / CKPT_DIR / "config.json").exists():
        return p / CKPT_DIR
    if (p / "config.json").exists() and (p / "agent.pt").exists():
        return p
    raise UserError(f"{p}: no checkpoint here (expected {p / CKPT_DIR}/config.json and agent.pt)")


def read_checkpoint_info(path: str | Path) -> CheckpointInfo:
    from robot_rl.agents import AGENTS

    ckpt = resolve_checkpoint(path)
    raw = read_json(ckpt / "config.json", "checkpoint config")
    if raw.get("kind") != "agent":
        raise UserError(f"{ckpt}/config.json: field 'kind' is {raw.get('kind')!r}, not an agent")
    name = raw.get("agent")
    if name not in AGENTS:
        raise UserError(f"{ckpt}/config.json: field 'agent' {name!r} is not one of {list(AGENTS)}")
    cfg = dataclass_from_dict(AGENTS[name][0], raw.get("agent_config"), f"{ckpt}/config.json")
    return CheckpointInfo(
        path=ckpt,
        agent=name,
        agent_config=cfg,
        obs_spec=obs_spec_from_json(raw["obs_spec"]),
        action_spec=ActionSpec(int(raw["action_dim"])),
        task=raw["task"],
        obs_mode=raw.get("obs_mode", "state"),
        image_size=int(raw.get("image_size", 64)),
        step=int(raw.get("step", 0)),
        stage=raw.get("stage", ""),
        raw=raw,
    )


def load_agent(
    path: str | Path, device: torch.device | str = "cpu", expect: str | None = None
) -> tuple[Any, CheckpointInfo]:
    """Rebuild an agent from a checkpoint directory. ``expect`` refuses other agent types."""
    from robot_rl.agents import make_agent

    info = read_checkpoint_info(path)
    if expect is not None and info.agent != expect:
        raise UserError(
            f"{info.path}: checkpoint holds a {info.agent!r} agent, not {expect!r}; "
            f"use a {expect} checkpoint or agent={info.agent}"
        )
    agent = make_agent(
        info.agent, info.agent_config, info.obs_spec, info.action_spec, torch.device(device)
    )
    agent.load_state_dict(load_agent_state(info.path / "agent.pt", device))
    return agent, info


def load_agent_state(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """An agent's state dict from ``agent.pt``: tensors and plain data only (``weights_only``),
    so a crafted file cannot run code; an unreadable, truncated or foreign file is a UserError
    naming it."""
    return safe_load(
        path, "agent checkpoint of tensors and plain data", "an agent's state dict",
        "re-create it with robot-rl pretrain / finetune", device,
    )  # fmt: skip


def safe_load(
    path: str | Path,
    what: str,
    noun: str,
    fix: str,
    device: torch.device | str = "cpu",
    allowed: Sequence[Any] = (),
) -> dict[str, Any]:
    """A dict from a torch file loaded with ``weights_only`` (plus the ``allowed`` globals):
    a crafted file cannot run code, and a damaged or foreign one is a one-line UserError
    ("<path>: not a readable <what> (...); <fix>")."""
    import pickle
    import zipfile

    try:
        with torch.serialization.safe_globals(list(allowed)):
            state = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: not a readable {what} ({first}); {fix}") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: holds a {type(state).__name__}, not {noun}")
    return state
