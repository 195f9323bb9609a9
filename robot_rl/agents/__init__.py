"""Agents: BC, filtered BC, IQL, CQL, Cal-QL (a CQL preset) and SAC (the base of RLPD/WSRL).

Variants are configuration: ``PRESETS`` holds the fields that turn a class's defaults into a
named variant, ``default_config(name)`` applies them.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import torch

from robot_rl.agents.bc import BC, BCConfig, filter_top_episodes
from robot_rl.agents.cql import CQL, CQLConfig
from robot_rl.agents.iql import IQL, IQLConfig
from robot_rl.errors import UserError
from robot_rl.types import ActionSpec, ObsSpec

AGENTS: dict[str, tuple[type, type]] = {
    "bc": (BCConfig, BC),
    "filtered_bc": (BCConfig, BC),
    "iql": (IQLConfig, IQL),
    "cql": (CQLConfig, CQL),
    "calql": (CQLConfig, CQL),
}

# Named variants: fields that differ from the config class's defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "filtered_bc": {"top_fraction": 0.1},  # "10% BC" (Chen et al. 2021)
    "calql": {"calibrate": True},
}

try:  # SAC lives in its own module (written separately); register it when present.
    from robot_rl.agents.sac import SAC, SACConfig

    AGENTS["sac"] = (SACConfig, SAC)
except ModuleNotFoundError as e:
    if e.name != "robot_rl.agents.sac":
        raise


def _lookup(name: str) -> tuple[type, type]:
    if name not in AGENTS:
        raise UserError(f"unknown agent {name!r}; choose one of {sorted(AGENTS)}")
    return AGENTS[name]


def default_config(name: str) -> Any:
    """The config of agent ``name`` with its preset applied (e.g. calql -> calibrate=True)."""
    cfg_cls, _ = _lookup(name)
    return cfg_cls(**PRESETS.get(name, {}))


def make_agent(
    name: str,
    cfg: Any | None,
    obs_spec: ObsSpec,
    action_spec: ActionSpec,
    device: torch.device | str = "cpu",
) -> Any:
    """Build agent ``name``; cfg None means `default_config(name)`."""
    _, agent_cls = _lookup(name)
    return agent_cls(_checked_config(name, cfg), obs_spec, action_spec, torch.device(device))


def _checked_config(name: str, cfg: Any | None) -> Any:
    cfg_cls, _ = _lookup(name)
    if cfg is None:
        return default_config(name)
    if not isinstance(cfg, cfg_cls):
        raise UserError(f"agent {name!r} needs a {cfg_cls.__name__}, got {type(cfg).__name__}")
    return cfg


BC_DISCOUNT = 0.99  # BC learns no values; its replay buffer still computes returns-to-go


def discount_of(name: str, cfg: Any | None) -> float:
    """The discount of agent ``name`` with config ``cfg`` (None: its default config)."""
    cfg = _checked_config(name, cfg)
    return BC_DISCOUNT if isinstance(cfg, BCConfig) else float(cfg.discount)


def config_with(name: str, **overrides: Any) -> Any:
    """`default_config(name)` with some fields replaced (unknown fields are a UserError)."""
    cfg = default_config(name)
    known = {f.name for f in fields(cfg)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise UserError(f"agent {name!r} config has no field(s) {bad}; known: {sorted(known)}")
    return replace(cfg, **overrides)


__all__ = [
    "AGENTS",
    "PRESETS",
    "BC",
    "BCConfig",
    "CQL",
    "CQLConfig",
    "IQL",
    "IQLConfig",
    "config_with",
    "default_config",
    "discount_of",
    "filter_top_episodes",
    "make_agent",
]
