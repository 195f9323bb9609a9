"""Loss functions against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from robot_rl.agents import losses


def test_expectile_loss_weights_negative_errors_by_one_minus_tau():
    diff = torch.tensor([2.0, -1.0])
    # 0.7 * 4 = 2.8 and 0.3 * 1 = 0.3 -> mean 1.55
    assert losses.expectile_loss(diff, 0.7).item() == pytest.approx(1.55)
    # tau = 0.5 is half the mean squared error
    assert losses.expectile_loss(diff, 0.5).item() == pytest.approx(0.5 * 2.5)


def test_awr_weights_exponentiate_and_clip():
    w = losses.awr_weights(torch.tensor([0.0, 1.0, 10.0]), beta=2.0, max_weight=100.0)
    assert w.tolist() == pytest.approx([1.0, math.exp(2.0), 100.0])


def test_iql_value_loss_is_expectile_of_target_minus_value():
    target = torch.tensor([1.0, 0.0])
    v = torch.tensor([0.0, 2.0], requires_grad=True)
    loss = losses.iql_value_loss(target, v, 0.9)
    # u = [1, -2]: (0.9 * 1 + 0.1 * 4) / 2 = 0.65
    assert loss.item() == pytest.approx(0.65)
    loss.backward()
    # d/dv of mean(w u^2) with u = t - v: -2 w u / 2 = [-0.9, 0.2]
    assert v.grad.tolist() == pytest.approx([-0.9, 0.2])


def test_iql_critic_loss_sums_members_and_masks_terminal_bootstrap():
    q = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # [M=2, B=2]
    reward = torch.tensor([1.0, 1.0])
    mask = torch.tensor([1.0, 0.0])  # second transition terminated
    next_v = torch.tensor([2.0, 100.0])
    # targets = [1 + 0.5 * 2, 1] = [2, 1]; member 0: ((1-2)^2 + 1) / 2 = 1; member 1: (4 + 1) / 2
    loss = losses.iql_critic_loss(q, reward, mask, next_v, discount=0.5)
    assert loss.item() == pytest.approx(1.0 + 2.5)


def test_bc_nll_and_awr_actor_loss():
    log_prob = torch.tensor([-1.0, -3.0])
    assert losses.bc_nll(log_prob).item() == pytest.approx(2.0)
    w = torch.tensor([2.0, 0.5])
    assert losses.awr_actor_loss(log_prob, w).item() == pytest.approx((2.0 + 1.5) / 2)


def test_cql_penalty_importance_samples_and_subtracts_data_q():
    # M=1, N=1, B=1, action_dim=1: uniform density 1/2 -> subtract log(1/2)
    q_rand = torch.tensor([[[1.0]]])
    q_cur = torch.tensor([[[2.0]]])
    q_nxt = torch.tensor([[[0.5]]])
    q_data = torch.tensor([[1.5]])
    logp_cur = torch.tensor([[0.3]])
    logp_nxt = torch.tensor([[-0.2]])
    pen = losses.cql_logsumexp_penalty(q_rand, q_cur, q_nxt, q_data, logp_cur, logp_nxt, 1)
    terms = [1.0 + math.log(2.0), 0.5 + 0.2, 2.0 - 0.3]
    expected = math.log(sum(math.exp(t) for t in terms)) - 1.5
    assert pen.shape == (1,)
    assert pen.item() == pytest.approx(expected, rel=1e-6)


def test_cql_penalty_temperature_and_per_member():
    q = torch.zeros(2, 2, 1)  # M=2, N=2, B=1
    q_data = torch.tensor([[0.0], [1.0]])
    zeros = torch.zeros(2, 1)
    pen = losses.cql_logsumexp_penalty(q, q, q, q_data, zeros, zeros, 2, temperature=2.0)
    # 2 uniform terms 0 - log(1/4) = log 4, 4 policy terms 0 - 0: T log(2 e^(log4 / T) + 4 e^0)
    base = 2.0 * math.log(2.0 * 2.0 + 4.0)
    assert pen.tolist() == pytest.approx([base, base - 1.0], rel=1e-6)


def test_calql_lower_bound_is_elementwise_max_with_mc_return():
    q = torch.tensor([[[0.0, 5.0], [3.0, -1.0]]])  # [M=1, N=2, B=2]
    mc = torch.tensor([1.0, 2.0])
    assert losses.calql_lower_bound(q, mc).tolist() == [[[1.0, 5.0], [3.0, 2.0]]]


def test_sac_critic_target_min_entropy_and_mask():
    next_q = torch.tensor([[1.0, 4.0], [2.0, 3.0]])  # [M=2, B=2] -> min [1, 3]
    reward = torch.tensor([0.5, 0.5])
    mask = torch.tensor([1.0, 0.0])
    t = losses.sac_critic_target(next_q, reward, mask, 0.9)
    assert t.tolist() == pytest.approx([0.5 + 0.9 * 1.0, 0.5])
    logp = torch.tensor([-1.0, -1.0])
    t = losses.sac_critic_target(next_q, reward, mask, 0.9, next_log_prob=logp, alpha=0.1)
    assert t.tolist() == pytest.approx([0.5 + 0.9 * (1.0 + 0.1), 0.5])


def test_sac_critic_target_random_subset_takes_min_of_that_subset():
    torch.manual_seed(0)
    next_q = torch.arange(10.0).unsqueeze(1)  # member i predicts i
    seen = set()
    for _ in range(50):
        t = losses.sac_critic_target(next_q, torch.zeros(1), torch.ones(1), 1.0, num_min_qs=2)
        seen.add(t.item())
    # min of 2 distinct members out of 10 is in 0..8, and the subset changes between calls
    assert seen <= set(range(9)) and len(seen) > 1


def test_sac_actor_and_temperature_losses():
    q = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    logp = torch.tensor([-1.0, 1.0])
    # mean over members: [2, 1]; alpha 0.5: (0.5 * -1 - 2 + 0.5 * 1 - 1) / 2 = -1.5
    assert losses.sac_actor_loss(q, logp, 0.5).item() == pytest.approx(-1.5)
    # min over members: [1, 0]: (-0.5 - 1 + 0.5 - 0) / 2 = -0.5
    assert losses.sac_actor_loss(q, logp, 0.5, reduce="min").item() == pytest.approx(-0.5)
    log_alpha = torch.tensor(0.2, requires_grad=True)
    loss = losses.temperature_loss(log_alpha, logp, target_entropy=-2.0)
    # -(0.2 * mean([-3, -1])) = 0.4; gradient -mean(logp + target) = 2 > 0: alpha goes down
    assert loss.item() == pytest.approx(0.4)
    loss.backward()
    assert log_alpha.grad.item() == pytest.approx(2.0)


def test_td_loss_does_not_backprop_into_target():
    q = torch.tensor([[1.0]], requires_grad=True)
    target = torch.tensor([3.0], requires_grad=True)
    losses.td_loss(q, target).backward()
    assert q.grad.item() == pytest.approx(-4.0)
    assert target.grad is None


def test_q_filtered_bc_counts_only_demo_rows_the_critic_prefers() -> None:
    from robot_rl.agents.losses import q_filtered_bc_loss

    pi = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    data = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.5, -0.5], [0.0, 0.0]])
    q_data = torch.tensor([2.0, 0.0, 3.0, 5.0])
    q_pi = torch.tensor([1.0, 1.0, 1.0, 1.0])
    rows = torch.tensor([1.0, 1.0, 1.0, 0.0])
    # row 0: kept, error 1; row 1: the policy's action scores higher, dropped; row 2: kept,
    # error 1; row 3: not a demonstration row. Mean over 4 rows: (1 + 1) / 4.
    loss = q_filtered_bc_loss(pi, data, q_data, q_pi, rows)
    assert loss.item() == pytest.approx(0.5)
