"""Implicit Q-Learning (Kostrikov et al. 2022)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from robot_rl.agents import losses
from robot_rl.agents.common import (
    EncoderConfig,
    encode_batch,
    load_optimizer_state,
    make_adam,
    make_encoder,
    optimizer_state,
    policy_act,
    soft_update,
)
from robot_rl.errors import UserError
from robot_rl.networks.ensemble import CriticEnsemble
from robot_rl.networks.mlp import MLP
from robot_rl.networks.policies import TanhGaussianPolicy
from robot_rl.types import ActionSpec, Batch, ObsSpec


@dataclass
class IQLConfig:
    """Defaults from the IQL paper / reference code (locomotion settings)."""

    hidden_dims: tuple[int, ...] = (256, 256)
    batch_size: int = 256
    discount: float = 0.99
    tau: float = 0.005  # Polyak rate of the target critic
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    expectile: float = 0.7  # tau in IQL (0.9 for sparse long-horizon tasks)
    beta: float = 3.0  # inverse temperature of the AWR weights (10 for sparse tasks)
    max_weight: float = 100.0  # clip of exp(beta * advantage)
    num_qs: int = 2  # twin critics as one ensemble
    layer_norm: bool = False
    actor: str = "gaussian"  # "gaussian": AWR on log pi(a|s); "deterministic": AWR-weighted MSE
    cosine_steps: int = 0  # >0: cosine-decay the actor lr to 0 over this many updates
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    augment: bool = True  # random shift on image keys
    compile: bool = False  # torch.compile the critics (slow first steps; state_dict unchanged)


class IQL:
    """IQL: V by expectile regression on Qbar(s,a) - V(s); Q by TD to r + gamma V(s');
    pi by advantage-weighted regression exp(beta (Qbar - V)) log pi(a|s)."""

    def __init__(
        self, cfg: IQLConfig, obs_spec: ObsSpec, action_spec: ActionSpec, device: torch.device
    ):
        if cfg.actor not in ("gaussian", "deterministic"):
            raise UserError(f"iql config: actor must be gaussian|deterministic, got {cfg.actor!r}")
        self.cfg, self.obs_spec, self.device = cfg, obs_spec, torch.device(device)
        self.encoder = make_encoder(obs_spec, cfg.encoder).to(self.device)
        f, a = self.encoder.out_dim, action_spec.dim
        self.actor = TanhGaussianPolicy(f, a, cfg.hidden_dims).to(self.device)
        self.critic = CriticEnsemble(f, a, cfg.hidden_dims, cfg.num_qs, cfg.layer_norm)
        self.critic = self.critic.to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = MLP(f, cfg.hidden_dims, 1, layer_norm=cfg.layer_norm).to(self.device)
        # The critic loss alone trains the encoder; V and the actor see detached features.
        self.critic_opt = make_adam(
            [*self.encoder.parameters(), *self.critic.parameters()], cfg.critic_lr
        )
        self.value_opt = make_adam(self.value.parameters(), cfg.value_lr)
        self.actor_opt = make_adam(self.actor.parameters(), cfg.actor_lr)
        self.actor_sched = None
        if cfg.cosine_steps > 0:
            n = cfg.cosine_steps
            self.actor_sched = torch.optim.lr_scheduler.LambdaLR(
                self.actor_opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, n) / n))
            )

        # torch.compile the loss computation (forward and backward graphs), not the modules, so
        # state_dict keys stay the same.
        self._loss_fn = torch.compile(self._losses) if cfg.compile else self._losses

    @property
    def sample_size(self) -> int:
        return self.cfg.batch_size

    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        return policy_act(self.encoder, self.actor, self.obs_spec, obs, deterministic, self.device)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        total, metrics = self._loss_fn(batch)
        # The three losses touch disjoint parameters: one backward for all of them.
        for opt in (self.critic_opt, self.value_opt, self.actor_opt):
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in (self.critic_opt, self.value_opt, self.actor_opt):
            opt.step()
        if self.actor_sched is not None:
            self.actor_sched.step()
        soft_update(self.critic_target, self.critic, self.cfg.tau)
        return metrics

    def _losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Sum of the V, actor and Q losses, and the metrics."""
        cfg = self.cfg
        feat, next_feat = encode_batch(self.encoder, batch.obs, batch.next_obs, cfg.augment)
        feat_d = feat.detach()
        with torch.no_grad():
            target_q = self.critic_target(feat_d, batch.action).min(0).values  # [B]
            # V(s') before this step's V update (the reference uses the updated V): this keeps
            # all three losses in one backward, and V moves little per step.
            next_v = self.value(next_feat).squeeze(-1)  # [B]
        # V(s): expectile regression toward the in-sample max of Q.
        v = self.value(feat_d).squeeze(-1)  # [B]
        value_loss = losses.iql_value_loss(target_q, v, cfg.expectile)
        # pi: advantage-weighted regression on dataset actions only.
        adv = target_q - v.detach()
        weights = losses.awr_weights(adv, cfg.beta, cfg.max_weight)
        if cfg.actor == "gaussian":
            log_prob = self.actor.log_prob(feat_d, batch.action)
            actor_loss = losses.awr_actor_loss(log_prob, weights)
        else:
            mse = (self.actor.mode(feat_d) - batch.action).square().sum(-1)
            actor_loss = (weights * mse).mean()
        # Q(s, a): TD toward r + gamma * mask * V(s').
        q = self.critic(feat, batch.action)  # [M, B]
        mask = 1.0 - batch.terminated
        critic_loss = losses.iql_critic_loss(q, batch.reward, mask, next_v, cfg.discount)
        return critic_loss + value_loss + actor_loss, {
            "critic/loss": critic_loss.detach(),
            "value/loss": value_loss.detach(),
            "actor/loss": actor_loss.detach(),
            "q/mean": q.detach().mean(),
            "value/mean": v.detach().mean(),
            "actor/adv_mean": adv.mean(),
            "actor/weight_mean": weights.mean(),
        }

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            k: getattr(self, k).state_dict()
            for k in ("encoder", "actor", "critic", "critic_target", "value")
        }
        state["optim"] = optimizer_state(self._optimizers())
        if self.actor_sched is not None:
            state["actor_sched"] = self.actor_sched.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in ("encoder", "actor", "critic", "critic_target", "value"):
            getattr(self, k).load_state_dict(state[k])
        load_optimizer_state(self._optimizers(), state["optim"])
        if self.actor_sched is not None and "actor_sched" in state:
            self.actor_sched.load_state_dict(state["actor_sched"])

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"critic": self.critic_opt, "value": self.value_opt, "actor": self.actor_opt}
