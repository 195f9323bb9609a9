"""Pure loss functions of the offline and online agents. Shapes: M critics, N actions, B states.

Critic losses sum over members (each member gets its own mean-squared error, as the CQL and IQL
reference code does), so the gradient of one member does not depend on the ensemble size.
"""

from __future__ import annotations

import math

import torch


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """Mean of |tau - 1(u < 0)| u^2 (IQL's asymmetric L2), u = diff."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return (weight * diff.square()).mean()


def awr_weights(advantage: torch.Tensor, beta: float, max_weight: float = 100.0) -> torch.Tensor:
    """exp(beta * A) clipped at max_weight (IQL/AWR policy extraction); no gradient."""
    return torch.exp(beta * advantage.detach()).clamp(max=max_weight)


def iql_value_loss(target_q: torch.Tensor, value: torch.Tensor, expectile: float) -> torch.Tensor:
    """IQL V loss: expectile regression of V(s) [B] toward min_i Qbar_i(s, a) [B]."""
    return expectile_loss(target_q.detach() - value, expectile)


def td_target(
    reward: torch.Tensor, mask: torch.Tensor, next_value: torch.Tensor, discount: float
) -> torch.Tensor:
    """r + gamma * mask * V(s') [B]; mask = 1 - terminated (truncation still bootstraps)."""
    return reward + discount * mask * next_value


def td_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over members of the mean squared TD error: q [M, B], target [B]."""
    return (q - target.detach()).square().mean(-1).sum()


def iql_critic_loss(
    q: torch.Tensor,
    reward: torch.Tensor,
    mask: torch.Tensor,
    next_value: torch.Tensor,
    discount: float,
) -> torch.Tensor:
    """IQL Q loss: sum_i E[(Q_i(s, a) - (r + gamma mask V(s')))^2], q [M, B]."""
    return td_loss(q, td_target(reward, mask, next_value.detach(), discount))


def bc_nll(log_prob: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning: mean negative log-likelihood of dataset actions."""
    return -log_prob.mean()


def awr_actor_loss(log_prob: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Advantage-weighted regression: -E[w * log pi(a|s)]."""
    return -(weights.detach() * log_prob).mean()


def cql_logsumexp_penalty(
    q_random: torch.Tensor,
    q_policy: torch.Tensor,
    q_next_policy: torch.Tensor,
    q_data: torch.Tensor,
    log_prob_policy: torch.Tensor,
    log_prob_next_policy: torch.Tensor,
    action_dim: int,
    temperature: float = 1.0,
) -> torch.Tensor:
    """CQL(H) push-down minus push-up per member [M]: E_s[T logsumexp(Q/T)] - E_D[Q(s, a)].

    q_random / q_policy / q_next_policy [M, N, B]: Q(s, .) at uniform actions, a ~ pi(s) and
    a' ~ pi(s'); log_prob_* [N, B] their log-densities (importance sampling), q_data [M, B].
    """
    log_uniform = -action_dim * math.log(2.0)  # density of U[-1, 1]^A
    cat = torch.cat(
        [
            q_random - log_uniform,
            q_next_policy - log_prob_next_policy.detach(),
            q_policy - log_prob_policy.detach(),
        ],
        dim=1,
    )  # [M, 3N, B]
    lse = torch.logsumexp(cat / temperature, dim=1) * temperature  # [M, B]
    return (lse - q_data).mean(-1)  # [M]


def calql_lower_bound(q_policy: torch.Tensor, mc_return: torch.Tensor) -> torch.Tensor:
    """Cal-QL: max(Q(s, a~pi), V_MC(s)); q_policy [M, N, B], mc_return [B]."""
    return torch.maximum(q_policy, mc_return)


def sac_critic_target(
    next_q: torch.Tensor,
    reward: torch.Tensor,
    mask: torch.Tensor,
    discount: float,
    num_min_qs: int | None = None,
    next_log_prob: torch.Tensor | None = None,
    alpha: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """r + gamma mask (min over a random subset of num_min_qs target Qs [M, B] - alpha log pi).

    num_min_qs=None takes the min over all members; next_log_prob=None means no entropy backup.
    """
    m = next_q.shape[0]
    if num_min_qs is not None and num_min_qs < m:
        idx = torch.randperm(m, device=next_q.device)[:num_min_qs]  # REDQ subset
        next_q = next_q.index_select(0, idx)
    next_v = next_q.min(0).values  # [B]
    if next_log_prob is not None:
        next_v = next_v - alpha * next_log_prob
    return td_target(reward, mask, next_v, discount).detach()


def sac_actor_loss(
    q: torch.Tensor, log_prob: torch.Tensor, alpha: torch.Tensor | float, reduce: str = "mean"
) -> torch.Tensor:
    """E[alpha log pi(a|s) - Q(s, a)], Q reduced over members [M, B] by "mean" or "min"."""
    q_red = q.min(0).values if reduce == "min" else q.mean(0)
    return (alpha * log_prob - q_red).mean()


def temperature_loss(
    log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """SAC temperature: -E[log_alpha (log pi + target_entropy)]; raises alpha if entropy is low."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


def q_filtered_bc_loss(
    policy_action: torch.Tensor,
    data_action: torch.Tensor,
    q_data: torch.Tensor,
    q_policy: torch.Tensor,
    rows: torch.Tensor,
) -> torch.Tensor:
    """BC with a Q-filter (Nair et al. 2018): E[rows * 1[Q(s,a) > Q(s,pi(s))] ||pi(s) - a||^2].

    policy_action, data_action [B, A]; q_data, q_policy [B] (ensemble already reduced); rows
    [B] float 0/1 marks the demonstration rows. Averaged over all B rows, so the term shrinks by
    itself as the policy overtakes the data (fewer rows pass the filter)."""
    keep = rows * (q_data > q_policy).float()  # [B]
    return (keep * (policy_action - data_action).pow(2).sum(-1)).mean()
