"""Conservative Q-Learning (Kumar et al. 2020) and Cal-QL (Nakamoto et al. 2023) as a setting."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

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
from robot_rl.networks.policies import TanhGaussianPolicy
from robot_rl.types import ActionSpec, Batch, ObsSpec


@dataclass
class CQLConfig:
    """Defaults follow the Cal-QL reference code (which builds on the JAX CQL code)."""

    hidden_dims: tuple[int, ...] = (256, 256)
    batch_size: int = 256
    discount: float = 0.99
    tau: float = 0.005  # Polyak rate of the target critic
    actor_lr: float = 1e-4
    critic_lr: float = 3e-4
    temperature_lr: float = 1e-4  # SAC entropy temperature
    init_temperature: float = 1.0
    target_entropy: float | None = None  # None: -action_dim
    num_qs: int = 2
    layer_norm: bool = False
    cql_alpha: float = 5.0  # weight of the CQL penalty (alpha in CQL)
    cql_n_actions: int = 10  # N actions per sampler (uniform, pi(s), pi(s'))
    cql_temperature: float = 1.0  # temperature of the logsumexp
    lagrange: bool = False  # tune the CQL weight so the penalty meets target_action_gap
    target_action_gap: float = 0.8
    lagrange_lr: float = 3e-4
    max_target_backup: bool = False  # target = max over N sampled next actions of min Q
    backup_entropy: bool = False  # subtract alpha * log pi(a'|s') in the TD target
    calibrate: bool = False  # Cal-QL: push-down term uses max(Q(s, a~pi), MC return-to-go)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    augment: bool = True  # random shift on image keys
    compile: bool = False  # torch.compile the critics (slow first steps; state_dict unchanged)


class CQL:
    """CQL(H): TD loss + alpha (E_s[logsumexp_a Q(s,a)] - E_D[Q(s,a)]) with a SAC actor;
    Cal-QL (calibrate=True) bounds the policy-action Qs below by the MC return-to-go."""

    def __init__(
        self, cfg: CQLConfig, obs_spec: ObsSpec, action_spec: ActionSpec, device: torch.device
    ):
        if cfg.cql_n_actions < 1:
            raise UserError(f"cql config: cql_n_actions must be >= 1, got {cfg.cql_n_actions}")
        self.cfg, self.obs_spec, self.device = cfg, obs_spec, torch.device(device)
        self.action_dim = action_spec.dim
        self.target_entropy = (
            -float(action_spec.dim) if cfg.target_entropy is None else cfg.target_entropy
        )
        self.encoder = make_encoder(obs_spec, cfg.encoder).to(self.device)
        f, a = self.encoder.out_dim, action_spec.dim
        self.actor = TanhGaussianPolicy(f, a, cfg.hidden_dims).to(self.device)
        self.critic = CriticEnsemble(f, a, cfg.hidden_dims, cfg.num_qs, cfg.layer_norm)
        self.critic = self.critic.to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        init = math.log(cfg.init_temperature)
        self.log_alpha = nn.Parameter(torch.tensor(init, device=self.device))
        # Lagrange multiplier of the CQL penalty (used only with lagrange=True).
        self.log_cql_alpha = nn.Parameter(torch.tensor(math.log(cfg.cql_alpha), device=self.device))
        # Only the critic loss trains the encoder; the actor sees detached features.
        self.critic_opt = make_adam(
            [*self.encoder.parameters(), *self.critic.parameters()], cfg.critic_lr
        )
        self.actor_opt = make_adam(self.actor.parameters(), cfg.actor_lr)
        self.alpha_opt = make_adam([self.log_alpha], cfg.temperature_lr)
        self.cql_alpha_opt = make_adam([self.log_cql_alpha], cfg.lagrange_lr)

        # torch.compile the loss computation (forward and backward graphs), not the modules, so
        # state_dict keys stay the same.
        self._loss_fn = torch.compile(self._losses) if cfg.compile else self._losses

    @property
    def sample_size(self) -> int:
        return self.cfg.batch_size

    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        return policy_act(self.encoder, self.actor, self.obs_spec, obs, deterministic, self.device)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.cfg.calibrate and batch.mc_return is None:
            raise UserError("cal-ql (calibrate=True) needs batch.mc_return: load MC returns")
        total, metrics = self._loss_fn(batch)
        opts = self._optimizers()
        for opt in opts.values():
            opt.zero_grad(set_to_none=True)
        total.backward()  # the losses touch disjoint parameters: one backward for all
        self.critic_opt.step()
        self.actor_opt.step()
        self.alpha_opt.step()
        if self.cfg.lagrange:
            self.cql_alpha_opt.step()
        soft_update(self.critic_target, self.critic, self.cfg.tau)
        return metrics

    def _losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Critic (TD + CQL), actor, temperature (and Lagrange) losses summed, and the metrics."""
        cfg, n, b = self.cfg, self.cfg.cql_n_actions, len(batch)
        feat, next_feat = encode_batch(self.encoder, batch.obs, batch.next_obs, cfg.augment)
        feat_d = feat.detach()
        alpha = self.log_alpha.exp().detach()
        mask = 1.0 - batch.terminated

        with torch.no_grad():
            # One actor call samples pi(s) and pi(s') for both the penalty and the backup.
            both = torch.cat([feat_d, next_feat], dim=0)  # [2B, F]
            k = n if cfg.max_target_backup else 1
            pi_act, pi_logp = self.actor.sample(both, n + k)  # [n+k, 2B, A], [n+k, 2B]
            cur_act, cur_logp = pi_act[:n, :b], pi_logp[:n, :b]  # a ~ pi(s)      [N, B, A]
            nxt_act, nxt_logp = pi_act[:n, b:], pi_logp[:n, b:]  # a' ~ pi(s')    [N, B, A]
            bk_act, bk_logp = pi_act[n:, b:], pi_logp[n:, b:]  # backup actions [k, B, A]
            target_q = self.critic_target(next_feat, bk_act).min(0).values  # [k, B]
            if cfg.max_target_backup:
                target_q, idx = target_q.max(0)  # [B]
                bk_logp = bk_logp.gather(0, idx.unsqueeze(0))
            else:
                target_q = target_q[0]
            target = losses.sac_critic_target(
                target_q.unsqueeze(0), batch.reward, mask, cfg.discount,
                next_log_prob=bk_logp[0] if cfg.backup_entropy else None, alpha=alpha,
            )  # fmt: skip
            rand_act = torch.empty_like(cur_act).uniform_(-1.0, 1.0)  # [N, B, A]

        # Every critic evaluation in ONE ensemble call: data, uniform, pi(s), pi(s') actions.
        all_act = torch.cat([batch.action.unsqueeze(0), rand_act, cur_act, nxt_act], dim=0)
        q_all = self.critic(feat, all_act)  # [M, 1+3N, B]
        q_data = q_all[:, 0]  # [M, B]
        q_rand, q_cur, q_nxt = q_all[:, 1:].split(n, dim=1)  # each [M, N, B]
        if cfg.calibrate and batch.mc_return is not None:
            q_cur = losses.calql_lower_bound(q_cur, batch.mc_return)
            q_nxt = losses.calql_lower_bound(q_nxt, batch.mc_return)
        td = losses.td_loss(q_data, target)
        gap = losses.cql_logsumexp_penalty(
            q_rand, q_cur, q_nxt, q_data, cur_logp, nxt_logp, self.action_dim, cfg.cql_temperature
        )  # [M]
        if cfg.lagrange:
            cql_alpha = self.log_cql_alpha.exp().clamp(0.0, 1e6)
            critic_loss = td + (cql_alpha.detach() * (gap - cfg.target_action_gap)).sum()
            lagrange_loss = -(cql_alpha * (gap.detach() - cfg.target_action_gap)).mean()
        else:
            cql_alpha = torch.full((), cfg.cql_alpha, device=feat.device)
            critic_loss = td + cfg.cql_alpha * gap.sum()
            lagrange_loss = torch.zeros((), device=feat.device)

        # SAC actor on detached features; the critic's weights act as constants here.
        new_act, new_logp = self.actor.sample(feat_d)  # [B, A], [B]
        q_new = self.critic(feat_d, new_act, detach_params=True)  # [M, B]
        actor_loss = losses.sac_actor_loss(q_new, new_logp, alpha, reduce="min")
        alpha_loss = losses.temperature_loss(self.log_alpha, new_logp, self.target_entropy)

        total = critic_loss + actor_loss + alpha_loss + lagrange_loss
        return total, {
            "critic/loss": critic_loss.detach(),
            "critic/td_loss": td.detach(),
            "cql/gap": gap.detach().mean(),
            "cql/alpha": cql_alpha.detach(),
            "actor/loss": actor_loss.detach(),
            "actor/entropy": -new_logp.detach().mean(),
            "alpha/value": alpha,
            "q/mean": q_data.detach().mean(),
            "q/policy_mean": q_cur.detach().mean(),
        }

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            k: getattr(self, k).state_dict()
            for k in ("encoder", "actor", "critic", "critic_target")
        }
        state["log_alpha"] = self.log_alpha.detach().clone()
        state["log_cql_alpha"] = self.log_cql_alpha.detach().clone()
        state["optim"] = optimizer_state(self._optimizers())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in ("encoder", "actor", "critic", "critic_target"):
            getattr(self, k).load_state_dict(state[k])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
            self.log_cql_alpha.copy_(state["log_cql_alpha"])
        load_optimizer_state(self._optimizers(), state["optim"])

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "critic": self.critic_opt,
            "actor": self.actor_opt,
            "alpha": self.alpha_opt,
            "cql_alpha": self.cql_alpha_opt,
        }
