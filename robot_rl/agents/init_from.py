"""WSRL initialisation (Zhou et al. 2024): start online SAC from an offline CQL/Cal-QL (or IQL)
agent, or only its actor from a BC agent (BC initialisation, as in Rainbow-DemoRL). The WSRL
paper pre-trains with Cal-QL by default and reports other offline methods work too; IQL has the
same actor and critic modules but no entropy temperature."""

from __future__ import annotations

from typing import Any

import torch

from robot_rl.agents.sac import SAC
from robot_rl.errors import UserError
from robot_rl.types import ObsSpec, obs_spec_to_json

_NETWORKS = ("encoder", "actor", "critic", "critic_target")


def init_from_checkpoint_state(
    agent: SAC, src_state: dict[str, Any], src_cfg: Any, src_obs_spec: ObsSpec | None = None
) -> None:
    """Copy a CQL/Cal-QL state's encoder, actor, critic, target critic and temperature into SAC.

    Attribute names are shared (`encoder`, `actor`, `critic`, `critic_target`, `log_alpha`), so
    the copy is by name. If the ensembles differ in size (Cal-QL pre-trained with 2 critics, SAC
    fine-tuning with 10), destination member j gets source member j mod M_src: the members are
    tiled cyclically, so the fine-tuning ensemble starts as copies of the pre-trained ones and
    diversifies only through their different minibatch targets (REDQ subsets). Optimiser states
    are not copied: fine-tuning starts with fresh Adam moments, as WSRL does. Hidden sizes, the
    critic's LayerNorm and the observation encoder must match (UserError naming the field).
    """
    cfg = agent.cfg
    src_hidden = tuple(getattr(src_cfg, "hidden_dims", ()))
    if src_hidden != tuple(cfg.hidden_dims):
        raise UserError(
            f"cannot initialise SAC from the checkpoint: hidden_dims differ "
            f"(checkpoint {list(src_hidden)}, SAC {list(cfg.hidden_dims)})"
        )
    if src_obs_spec is not None and obs_spec_to_json(src_obs_spec) != obs_spec_to_json(
        agent.obs_spec
    ):
        raise UserError(
            "cannot initialise SAC from the checkpoint: observation spec differs "
            f"(checkpoint {obs_spec_to_json(src_obs_spec)}, SAC {obs_spec_to_json(agent.obs_spec)})"
        )
    actor_only = "critic" not in src_state and {"encoder", "actor"} <= set(src_state)
    missing = [k for k in _NETWORKS if k not in src_state]
    if missing and not actor_only:
        raise UserError(f"checkpoint state has no {missing}: not a CQL/Cal-QL/IQL/SAC agent state")
    enc = {k: v for k, v in agent.encoder.state_dict().items() if k not in ("shift", "scale")}
    src_enc = {k: v for k, v in src_state["encoder"].items() if k not in ("shift", "scale")}
    _check_same_shapes("encoder", enc, src_enc)  # shift/scale: absent in older checkpoints
    _check_same_shapes("actor", agent.actor.state_dict(), src_state["actor"])

    with torch.no_grad():
        agent.encoder.load_state_dict(src_state["encoder"])
        agent.actor.load_state_dict(src_state["actor"])
        if actor_only:  # a BC checkpoint: the critics start fresh
            return
        for name in ("critic", "critic_target"):
            module = getattr(agent, name)
            module.load_state_dict(_tile_members(name, module.state_dict(), src_state[name]))
        if "log_alpha" in src_state:  # IQL has none: SACConfig.init_temperature applies
            agent.log_alpha.copy_(torch.as_tensor(src_state["log_alpha"]))


def _check_same_shapes(name: str, dst: dict[str, torch.Tensor], src: dict[str, Any]) -> None:
    """UserError if the parameter names or shapes of a network differ."""
    if set(dst) != set(src):
        raise UserError(
            f"cannot initialise SAC.{name} from the checkpoint: different layers "
            f"(only in checkpoint: {sorted(set(src) - set(dst))}, "
            f"only in SAC: {sorted(set(dst) - set(src))}); is the observation spec the same?"
        )
    for key, value in dst.items():
        if tuple(src[key].shape) != tuple(value.shape):
            raise UserError(
                f"cannot initialise SAC.{name} from the checkpoint: {key} has shape "
                f"{tuple(src[key].shape)} in the checkpoint, {tuple(value.shape)} in SAC "
                "(different observation spec, encoder or hidden sizes)"
            )


def _tile_members(
    name: str, dst: dict[str, torch.Tensor], src: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """Source critic-ensemble state with its member axis (dim 0) tiled to the destination's."""
    if set(dst) != set(src):
        only_src, only_dst = sorted(set(src) - set(dst)), sorted(set(dst) - set(src))
        raise UserError(
            f"cannot initialise SAC.{name} from the checkpoint: different layers "
            f"(only in checkpoint: {only_src}, only in SAC: {only_dst}); "
            "does critic LayerNorm (SACConfig.critic_layer_norm vs CQLConfig.layer_norm) match?"
        )
    out = {}
    for key, value in dst.items():
        s = torch.as_tensor(src[key])
        if s.shape[1:] != value.shape[1:]:
            raise UserError(
                f"cannot initialise SAC.{name} from the checkpoint: {key} has shape "
                f"{tuple(s.shape)} in the checkpoint, {tuple(value.shape)} in SAC "
                "(different hidden sizes or observation features)"
            )
        idx = torch.arange(value.shape[0]) % s.shape[0]  # member j <- source member j mod M_src
        out[key] = s.index_select(0, idx.to(s.device))
    return out
