"""SAC with RLPD/REDQ settings as configuration: the online agent of RLPD and WSRL."""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.agents import losses
from robot_rl.agents.common import (
    EncoderConfig,
    augment_obs,
    load_optimizer_state,
    make_encoder,
    optimizer_state,
    policy_act,
    soft_update,
)
from robot_rl.errors import UserError
from robot_rl.networks.ensemble import CriticEnsemble, EnsembleLayerNorm, EnsembleLinear
from robot_rl.networks.policies import TanhGaussianPolicy
from robot_rl.types import ActionSpec, Batch, ObsSpec


@dataclass
class SACConfig:
    """Soft actor-critic; defaults are plain SAC, robot_rl.methods holds the RLPD/WSRL presets."""

    hidden_dims: tuple[int, ...] = (256, 256)
    batch_size: int = 256  # transitions per critic minibatch
    discount: float = 0.99
    tau: float = 0.005  # Polyak rate of the target critic
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4  # also trains the image encoder
    temperature_lr: float = 3e-4
    # Robot tasks here have 0/1 success rewards: at SAC's usual 1.0 the entropy bonus (~2 nats
    # a step) outweighs them, the soft Q is mostly entropy and the policy stays near random
    # (measured: RLPD's Q rose 8 -> 36 in 2k push steps, max return 1). SERL/HIL-SERL: 1e-2.
    init_temperature: float = 0.01
    target_entropy: float | None = None  # None: -target_entropy_scale * |A|
    target_entropy_scale: float = 1.0  # SAC: 1 (-|A|); RLPD's reference code: 0.5
    num_qs: int = 2  # critic ensemble size (RLPD: 10)
    num_min_qs: int | None = None  # target = min over a random subset of this size (REDQ; RLPD: 2)
    critic_layer_norm: bool = False  # LayerNorm in the critics (RLPD: True)
    backup_entropy: bool = True  # subtract alpha log pi(a'|s') in the TD target
    actor_reduce: str = "mean"  # how the actor loss reduces the ensemble: "mean" (RLPD) | "min"
    utd_ratio: int = 1  # critic steps per update() call (update-to-data ratio)
    # lambda of a Q-filtered BC term on the batch's offline rows in the actor loss (Nair et al.
    # 2018): the policy imitates a demonstrated action only where the critic prefers it to its own.
    bc_weight: float = 0.0
    actor_update_every: int = 1  # actor + temperature step once every this many update() calls
    # update() calls that train only the critic before the actor's first step: a fresh critic
    # beside a pre-trained (e.g. BC) actor would otherwise steer it with random gradients.
    actor_delay: int = 0
    # Approximation, off by default: compute the TD targets of the whole UTD block in one batched
    # call with the target critic as it is at the block start (later minibatches then miss the
    # Polyak steps taken earlier in the block; at tau=0.005 the target moves < 10% over UTD 20).
    block_targets: bool = False
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    augment: bool = True  # DrQ random shift on image keys
    channels_last: bool = True  # conv weights in channels_last (the images already are NHWC)
    fused_adam: bool = True  # single fused Adam kernel on CPU; False = foreach
    # torch.compile the critic loss (forward + backward) and the target critic: fuses the
    # LayerNorm/ReLU element-wise passes that dominate on CPU. Costs ~10-30 s of compilation at
    # the first update and needs a C++ compiler; falls back to eager (with a warning) if it fails.
    compile: bool = False


def _check_config(cfg: SACConfig) -> None:
    def bad(name: str, why: str) -> UserError:
        return UserError(f"SACConfig.{name} = {getattr(cfg, name)!r}: {why}")

    if cfg.num_qs < 1:
        raise bad("num_qs", "needs at least one critic")
    if cfg.num_min_qs is not None and not 1 <= cfg.num_min_qs <= cfg.num_qs:
        raise bad("num_min_qs", f"must be in [1, num_qs={cfg.num_qs}] or null")
    for name in ("utd_ratio", "actor_update_every", "batch_size"):
        if getattr(cfg, name) < 1:
            raise bad(name, "must be >= 1")
    if cfg.actor_delay < 0 or cfg.bc_weight < 0:
        raise bad("actor_delay" if cfg.actor_delay < 0 else "bc_weight", "must be >= 0")
    if cfg.actor_reduce not in ("mean", "min"):
        raise bad("actor_reduce", 'must be "mean" or "min"')
    if not cfg.hidden_dims:
        raise bad("hidden_dims", "needs at least one hidden layer")


def subset_q(
    critic: CriticEnsemble, idx: torch.Tensor, features: torch.Tensor, action: torch.Tensor
) -> torch.Tensor:
    """Q of only the members ``idx`` [G, K] on G minibatches: features [G, b, F], action
    [G, b, A] -> [G, K, b]. One batched matmul per layer over all G*K (member, minibatch) pairs,
    so a REDQ target costs K members instead of num_qs."""
    g, k = idx.shape
    b = features.shape[1]
    flat = idx.reshape(-1)  # [G*K]
    x = torch.cat([features, action], dim=-1)  # [G, b, F+A]
    x = x.unsqueeze(1).expand(g, k, b, x.shape[-1]).reshape(g * k, b, x.shape[-1])
    linears: list[EnsembleLinear] = list(critic.linears)  # type: ignore[arg-type]
    for linear, norm in zip(linears, critic.norms):
        x = torch.baddbmm(linear.bias[flat], x, linear.weight[flat])  # [G*K, b, H]
        if isinstance(norm, EnsembleLayerNorm):
            x = F.layer_norm(x, (norm.dim,), eps=norm.eps)
            x = torch.addcmul(norm.bias[flat], x, norm.weight[flat])
        x = F.relu(x)
    q = torch.baddbmm(critic.head.bias[flat], x, critic.head.weight[flat])  # [G*K, b, 1]
    return q.view(g, k, b)


class SAC:
    """SAC (Haarnoja et al. 2018) + REDQ/RLPD ensembles: TD to r + g(min_subset Qbar - a log pi)."""

    def __init__(
        self, cfg: SACConfig, obs_spec: ObsSpec, action_spec: ActionSpec, device: torch.device
    ):
        _check_config(cfg)
        self.cfg, self.obs_spec, self.action_spec = cfg, obs_spec, action_spec
        self.device = torch.device(device)
        a = action_spec.dim
        self.encoder = make_encoder(obs_spec, cfg.encoder).to(self.device)
        if cfg.channels_last and self.encoder.has_images:
            self.encoder.to(memory_format=torch.channels_last)
        f = self.encoder.out_dim
        self.actor = TanhGaussianPolicy(f, a, cfg.hidden_dims).to(self.device)
        self.critic = CriticEnsemble(
            f, a, cfg.hidden_dims, cfg.num_qs, layer_norm=cfg.critic_layer_norm
        ).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(
            torch.tensor(math.log(cfg.init_temperature), device=self.device)
        )
        self.target_entropy = (
            -cfg.target_entropy_scale * a if cfg.target_entropy is None else cfg.target_entropy
        )
        self.actor_opt = self._adam(self.actor.parameters(), cfg.actor_lr)
        # The critic loss is the only one that trains the encoder (the actor sees detached
        # features), as in DrQ-v2.
        self.critic_opt = self._adam(
            [*self.critic.parameters(), *self.encoder.parameters()], cfg.critic_lr
        )
        self.alpha_opt = self._adam([self.log_alpha], cfg.temperature_lr)
        self.num_updates = 0
        self._actor_metrics: dict[str, torch.Tensor] = {}
        self._compiled_fns: dict[str, Any] = {}
        self._compile_failed = False
        self._compile_ok = False  # the first compiled update ran (later errors are real)

    def _adam(self, params: Any, lr: float) -> torch.optim.Adam:
        if self.cfg.fused_adam:
            return torch.optim.Adam(params, lr=lr, fused=True)
        return torch.optim.Adam(params, lr=lr, foreach=True)

    @property
    def sample_size(self) -> int:
        """Transitions per `update` call: one minibatch per critic step of the UTD block."""
        return self.cfg.batch_size * self.cfg.utd_ratio

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        """Action(s) in [-1, 1]: tanh(mean) if deterministic, else a policy sample."""
        return policy_act(self.encoder, self.actor, self.obs_spec, obs, deterministic, self.device)

    # ---- update -------------------------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One UTD block: utd_ratio critic minibatch steps, then (maybe) one actor + alpha step."""
        if not self.cfg.compile or self._compile_ok or self._compile_failed:
            return self._update(batch)
        # First compiled call: every compiled graph runs (and compiles) in the first critic step,
        # before any optimiser step, so on failure the block is simply redone in eager mode.
        try:
            out = self._update(batch)
        except UserError:
            raise
        except Exception as e:
            warnings.warn(
                f"SAC: torch.compile failed ({type(e).__name__}: {str(e)[:200]}); "
                "continuing in eager mode",
                stacklevel=2,
            )
            self._compile_failed = True
            self._compiled_fns.clear()
            return self._update(batch)
        self._compile_ok = True
        return out

    def _update(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg, u = self.cfg, self.cfg.utd_ratio
        n = len(batch)
        if n % u != 0:
            raise UserError(f"SAC.update got {n} transitions, not a multiple of utd_ratio={u}")
        b = n // u
        obs, next_obs = batch.obs, batch.next_obs
        # Views [U, b, ...] of the block: minibatch k is row k.
        obs = {key: v.reshape(u, b, *v.shape[1:]) for key, v in obs.items()}
        next_obs = {key: v.reshape(u, b, *v.shape[1:]) for key, v in next_obs.items()}
        action = batch.action.view(u, b, -1)
        reward = batch.reward.view(u, b)
        mask = (1.0 - batch.terminated).view(u, b)
        subsets = self._draw_subsets(u)

        targets = None
        if cfg.block_targets:
            targets = self._block_targets(next_obs, reward, mask, subsets)
        # Without images the actor's next actions do not depend on the critic steps (the actor
        # only changes after the block), so they are sampled exactly for the whole block at once.
        next_pi = None
        if targets is None and not self.encoder.has_images:
            with torch.no_grad():
                next_feat = self.encoder(_flat(next_obs))  # [U*b, F]
                next_action, next_log_prob = self.actor.sample(next_feat)
                next_pi = (next_feat.view(u, b, -1), next_action.view(u, b, -1),
                           next_log_prob.view(u, b))  # fmt: skip

        q_means, critic_losses = [], []
        for i in range(u):
            if targets is not None:
                target = targets[i]
            else:
                target = self._target(i, next_obs, reward[i], mask[i], subsets[i], next_pi)
            obs_i = self._minibatch(obs, i)
            loss, q_mean, feat = self._critic_step(obs_i, action[i], target)
            q_means.append(q_mean)
            critic_losses.append(loss)

        actor_due = self.num_updates % cfg.actor_update_every == 0  # calls 1, 1 + every, ...
        if actor_due and self.num_updates >= cfg.actor_delay:
            offline = batch.extras.get("offline")  # 1.0 on rows of the offline data
            rows = torch.zeros(b, device=self.device) if offline is None else offline.view(u, b)[-1]
            # the last minibatch, on detached features
            self._actor_metrics = self._update_actor(feat, action[-1], rows)
        self.num_updates += 1
        return {
            "critic/loss": torch.stack(critic_losses).mean(),
            "q/mean": torch.stack(q_means).mean(),
            "critic/target_mean": target.mean(),
            **self._actor_metrics,
        }

    def _critic_loss(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(TD loss summed over members, mean Q, detached features) of one minibatch."""
        feat = self.encoder(obs)  # [b, F]
        q = self.critic(feat, action)  # [M, b]
        return losses.td_loss(q, target), q.detach().mean(), feat.detach()

    def _critic_step(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One critic (+ encoder) Adam step and one Polyak step of the target critic."""
        loss, q_mean, feat = self._compiled("critic_loss", self._critic_loss)(obs, action, target)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        soft_update(self.critic_target, self.critic, self.cfg.tau)
        return loss.detach(), q_mean, feat

    def _compiled(self, name: str, fn: Any) -> Any:
        """torch.compile'd fn when cfg.compile (cached per name), else fn itself."""
        if not self.cfg.compile or self._compile_failed:
            return fn
        if name not in self._compiled_fns:
            self._compiled_fns[name] = torch.compile(fn, dynamic=False)
        return self._compiled_fns[name]

    def _subset_q(self, idx: torch.Tensor, feat: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self._compiled("subset_q", subset_q)(self.critic_target, idx, feat, act)

    def _minibatch(self, obs: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
        """Minibatch i of a [U, b, ...] block; image keys randomly shifted (DrQ) if augment."""
        out = {key: v[i] for key, v in obs.items()}
        return augment_obs(out) if self.encoder.has_images and self.cfg.augment else out

    def _draw_subsets(self, u: int) -> torch.Tensor:
        """Random REDQ subsets for u steps at once: [u, num_min_qs] distinct member indices."""
        k = self.cfg.num_min_qs or self.cfg.num_qs
        return torch.rand(u, self.cfg.num_qs, device=self.device).argsort(dim=1)[:, :k]

    @torch.no_grad()
    def _target(
        self,
        i: int,
        next_obs: dict[str, torch.Tensor],
        reward: torch.Tensor,
        mask: torch.Tensor,
        subset: torch.Tensor,
        next_pi: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        """TD target [b] of minibatch i with the current target critic (exact)."""
        if next_pi is None:  # images: next features with the encoder as it is now
            next_feat = self.encoder(self._minibatch(next_obs, i))
            next_action, next_log_prob = self.actor.sample(next_feat)
        else:
            next_feat, next_action, next_log_prob = (x[i] for x in next_pi)
        next_q = self._subset_q(subset[None], next_feat[None], next_action[None])
        return losses.sac_critic_target(
            next_q[0],  # [K, b]: already the random subset
            reward,
            mask,
            self.cfg.discount,
            next_log_prob=next_log_prob if self.cfg.backup_entropy else None,
            alpha=self.alpha,
        )

    @torch.no_grad()
    def _block_targets(
        self,
        next_obs: dict[str, torch.Tensor],
        reward: torch.Tensor,
        mask: torch.Tensor,
        subsets: torch.Tensor,
    ) -> torch.Tensor:
        """TD targets [U, b] of the whole block with the block-start target critic (approximate)."""
        u, b = reward.shape
        if self.encoder.has_images:  # minibatch by minibatch: bounded activation memory
            next_feat = torch.cat([self.encoder(self._minibatch(next_obs, i)) for i in range(u)])
        else:
            next_feat = self.encoder(_flat(next_obs))  # [U*b, F]
        next_action, next_log_prob = self.actor.sample(next_feat)
        next_q = self._subset_q(
            subsets,
            next_feat.view(u, b, -1),
            next_action.view(u, b, -1),
        )  # [U, K, b]
        return losses.sac_critic_target(
            next_q.transpose(0, 1),  # [K, U, b]
            reward,
            mask,
            self.cfg.discount,
            next_log_prob=next_log_prob.view(u, b) if self.cfg.backup_entropy else None,
            alpha=self.alpha,
        )

    def _update_actor(
        self,
        feat: torch.Tensor,
        data_action: torch.Tensor | None = None,
        offline_rows: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """One actor step on detached features (with the batch's actions and offline rows for
        the BC term, if any), then one temperature step."""
        action, log_prob = self.actor.sample(feat)
        q = self.critic(feat, action)  # [M, b]
        actor_loss = losses.sac_actor_loss(q, log_prob, self.alpha, reduce=self.cfg.actor_reduce)
        extra = {}
        if self.cfg.bc_weight > 0 and data_action is not None and offline_rows is not None:
            with torch.no_grad():
                q_data = self.critic(feat, data_action).mean(0)  # [b]
            bc = losses.q_filtered_bc_loss(
                action, data_action, q_data, q.detach().mean(0), offline_rows
            )
            actor_loss = actor_loss + self.cfg.bc_weight * bc
            extra["actor/bc_loss"] = bc.detach()
        self.actor_opt.zero_grad(set_to_none=True)
        # Only the actor's gradients: the critic's weight gradients are never computed.
        actor_loss.backward(inputs=list(self.actor.parameters()))
        self.actor_opt.step()
        alpha_loss = losses.temperature_loss(self.log_alpha, log_prob, self.target_entropy)
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()
        return {
            "actor/loss": actor_loss.detach(),
            "actor/entropy": -log_prob.detach().mean(),
            "alpha/loss": alpha_loss.detach(),
            "alpha/value": self.alpha,
            **extra,
        }

    # ---- checkpoints --------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_compiled_fns"] = {}  # compiled callables are rebuilt on demand, not copied
        return state

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_opt, "critic": self.critic_opt, "alpha": self.alpha_opt}

    def state_dict(self) -> dict[str, Any]:
        """All networks, the temperature, the optimisers and the update counter."""
        return {
            "encoder": self.encoder.state_dict(),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "optim": optimizer_state(self._optimizers()),
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of `state_dict` (UserError naming a missing entry)."""
        for key in ("encoder", "actor", "critic", "critic_target", "log_alpha", "optim"):
            if key not in state:
                raise UserError(f"SAC checkpoint is missing {key!r}")
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(torch.as_tensor(state["log_alpha"]))
        load_optimizer_state(self._optimizers(), state["optim"])
        self.num_updates = int(state.get("num_updates", 0))


def _flat(obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """[U, b, ...] views -> [U*b, ...]."""
    return {key: v.flatten(0, 1) for key, v in obs.items()}
