"""Behaviour cloning and filtered BC (BC on the top episodes by return)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from robot_rl.agents import losses
from robot_rl.agents.common import (
    EncoderConfig,
    augment_obs,
    load_optimizer_state,
    make_adam,
    make_encoder,
    optimizer_state,
    policy_act,
)
from robot_rl.errors import UserError
from robot_rl.networks.policies import TanhGaussianPolicy
from robot_rl.types import ActionSpec, Batch, ObsSpec

if TYPE_CHECKING:
    from robot_rl.data import Dataset


@dataclass
class BCConfig:
    """Behaviour cloning; filtered BC is the same agent trained on the top episodes only."""

    hidden_dims: tuple[int, ...] = (256, 256)
    batch_size: int = 256
    actor_lr: float = 3e-4
    weight_decay: float = 0.0
    loss: str = "nll"  # "nll": -log pi(a|s) of the tanh-Gaussian; "mse": ||tanh(mean) - a||^2
    top_fraction: float = (
        1.0  # filtered BC: keep this fraction of episodes by return (loop does it)
    )
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    augment: bool = True  # random shift on image keys


class BC:
    """Behaviour cloning (Pomerleau 1989): maximise E_D[log pi(a|s)] (or minimise the MSE)."""

    def __init__(
        self, cfg: BCConfig, obs_spec: ObsSpec, action_spec: ActionSpec, device: torch.device
    ):
        if cfg.loss not in ("nll", "mse"):
            raise UserError(f"bc config: loss must be 'nll' or 'mse', got {cfg.loss!r}")
        self.cfg, self.obs_spec, self.device = cfg, obs_spec, torch.device(device)
        # No critic here, so the BC loss trains the encoder.
        self.encoder = make_encoder(obs_spec, cfg.encoder).to(self.device)
        self.actor = TanhGaussianPolicy(self.encoder.out_dim, action_spec.dim, cfg.hidden_dims).to(
            self.device
        )
        params = [*self.encoder.parameters(), *self.actor.parameters()]
        self.actor_opt = make_adam(params, cfg.actor_lr, weight_decay=cfg.weight_decay)

    @property
    def sample_size(self) -> int:
        return self.cfg.batch_size

    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        return policy_act(self.encoder, self.actor, self.obs_spec, obs, deterministic, self.device)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        obs = batch.obs
        if self.encoder.has_images and self.cfg.augment:
            obs = augment_obs(obs)
        feat = self.encoder(obs)
        if self.cfg.loss == "nll":
            log_prob = self.actor.log_prob(feat, batch.action)
            loss = losses.bc_nll(log_prob)
        else:
            mse = (self.actor.mode(feat) - batch.action).square().sum(-1)
            loss = mse.mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.actor_opt.step()
        metrics = {"actor/loss": loss.detach()}
        if self.cfg.loss == "nll":
            metrics["actor/log_prob"] = log_prob.detach().mean()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.state_dict(),
            "actor": self.actor.state_dict(),
            "optim": optimizer_state({"actor": self.actor_opt}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])
        load_optimizer_state({"actor": self.actor_opt}, state["optim"])


def filter_top_episodes(dataset: Dataset, reward_key: str, top_fraction: float) -> list[int]:
    """Ids of the top ``top_fraction`` of episodes by return of ``reward_key`` (at least one)."""
    if not 0.0 < top_fraction <= 1.0:
        raise UserError(f"filtered BC: top_fraction must be in (0, 1], got {top_fraction}")
    key = reward_key if reward_key.startswith("reward.") else f"reward.{reward_key}"
    returns: list[tuple[float, int]] = []
    for episode_id in dataset.episode_ids:
        path = dataset.path(episode_id)
        try:
            with np.load(path, allow_pickle=False) as z:  # reads only the reward array
                if key not in z.files:
                    raise UserError(
                        f"{path}: no reward column {key!r} (have {dataset.reward_keys})"
                    )
                returns.append((float(z[key].sum()), episode_id))
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"{path}: unreadable npz ({type(e).__name__}: {e})") from None
    if not returns:
        raise UserError(f"{dataset.root}: dataset has no episodes to filter")
    keep = max(1, math.ceil(top_fraction * len(returns)))
    # Highest return first; ties broken by episode id so the selection is reproducible.
    returns.sort(key=lambda r: (-r[0], r[1]))
    return sorted(episode_id for _, episode_id in returns[:keep])
