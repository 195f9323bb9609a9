"""Reward-learning losses and metrics against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robot_rl.rewards.losses import (
    balanced_bce,
    bradley_terry_loss,
    gradient_penalty,
    mixup,
    preference_probability,
    sample_mixup,
    smooth_labels,
)
from robot_rl.rewards.metrics import (
    auroc,
    balanced_accuracy,
    best_threshold,
    expected_calibration_error,
    spearman,
    step_agreement,
)

LN2 = math.log(2.0)


def test_smooth_labels() -> None:
    out = smooth_labels(torch.tensor([1.0, 0.0, 0.5]), 0.2)
    assert torch.allclose(out, torch.tensor([0.9, 0.1, 0.5]))


def test_balanced_bce_weighs_classes_equally() -> None:
    logits = torch.tensor([0.0, 0.0, math.log(3.0)])
    targets = torch.tensor([1.0, 0.0, 0.0])
    # positive: -log(1/2) = ln2; negatives: ln2 and -log(1 - 3/4) = ln4 -> mean 1.5 ln2
    expected = 0.5 * LN2 + 0.5 * 1.5 * LN2
    assert balanced_bce(logits, targets).item() == pytest.approx(expected, abs=1e-6)
    # plain mean BCE would weigh the two negatives twice as much as the positive
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).item()
    assert plain != pytest.approx(expected, abs=1e-3)


def test_balanced_bce_label_smoothing() -> None:
    logits = torch.tensor([0.0, 0.0, math.log(3.0)])
    targets = torch.tensor([1.0, 0.0, 0.0])
    # smoothing 0.2: targets 0.9 / 0.1; BCE at logit 0 is ln2 whatever the target;
    # BCE(ln3, 0.1) = -(0.1 ln 0.75 + 0.9 ln 0.25)
    hard = -(0.1 * math.log(0.75) + 0.9 * math.log(0.25))
    expected = 0.5 * LN2 + 0.5 * (LN2 + hard) / 2
    got = balanced_bce(logits, targets, label_smoothing=0.2).item()
    assert got == pytest.approx(expected, abs=1e-6)


def test_balanced_bce_one_class_only_is_plain_mean() -> None:
    logits = torch.tensor([0.0, math.log(3.0)])
    got = balanced_bce(logits, torch.ones(2)).item()
    assert got == pytest.approx((LN2 + math.log(4.0 / 3.0)) / 2, abs=1e-6)


def test_mixup_by_hand() -> None:
    x = {"v": torch.tensor([[0.0], [10.0]]), "img": torch.tensor([[0], [200]], dtype=torch.uint8)}
    y = torch.tensor([1.0, 0.0])
    out, t = mixup(x, y, lam=torch.tensor([0.3, 1.0]), perm=torch.tensor([1, 0]))
    assert torch.allclose(out["v"], torch.tensor([[7.0], [10.0]]))
    assert out["img"].dtype == torch.float32
    assert torch.allclose(out["img"], torch.tensor([[140.0], [200.0]]))
    assert torch.allclose(t, torch.tensor([0.3, 0.0]))


def test_sample_mixup_range_and_off_switch() -> None:
    rng = np.random.default_rng(0)
    lam, perm = sample_mixup(64, 0.2, rng)
    assert lam.shape == (64,) and ((lam >= 0) & (lam <= 1)).all()
    assert sorted(perm.tolist()) == list(range(64))
    lam0, perm0 = sample_mixup(8, 0.0, rng)
    assert (lam0 == 1).all() and perm0.tolist() == list(range(8))


def test_gradient_penalty_by_hand() -> None:
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]], requires_grad=True)
    w = torch.tensor([1.0, 2.0, 2.0])
    assert gradient_penalty(x @ w, [x]).item() == pytest.approx(9.0)  # ||w||^2
    # d/dx sum x^2 = 2x: squared norms 4 and 16 -> mean 10
    assert gradient_penalty((x**2).sum(1), [x]).item() == pytest.approx(10.0)


def test_bradley_terry_by_hand() -> None:
    ra, rb = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.0, 0.0, 0.0])
    pref = torch.tensor([1.0, 0.5, 0.0])
    s1 = 1 / (1 + math.exp(-1))
    per = [-math.log(s1), LN2, -math.log(1 - s1)]  # a wins; tie; b wins
    assert bradley_terry_loss(ra, rb, pref).item() == pytest.approx(sum(per) / 3, abs=1e-6)
    # a tie is minimised by equal returns, not by either order
    tie = torch.tensor([0.5])
    assert bradley_terry_loss(torch.zeros(1), torch.zeros(1), tie) < bradley_terry_loss(
        torch.ones(1), torch.zeros(1), tie
    )


def test_bradley_terry_ensemble_broadcast() -> None:
    ra = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # [M=2, B=2]
    rb = torch.zeros(2, 2)
    pref = torch.tensor([1.0, 0.5])
    s1 = 1 / (1 + math.exp(-1))
    expected = (-math.log(s1) + LN2 + LN2 + LN2) / 4
    assert bradley_terry_loss(ra, rb, pref).item() == pytest.approx(expected, abs=1e-6)


def test_preference_probability() -> None:
    p = preference_probability(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))
    assert torch.allclose(p, torch.tensor([1 / (1 + math.exp(-2)), 0.5]))


def test_auroc_by_hand() -> None:
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered
    assert auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert auroc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    assert math.isnan(auroc(np.array([0.5, 0.6]), np.array([1, 1])))


def test_ece_by_hand() -> None:
    probs, labels = np.array([0.05, 0.15, 0.95, 0.85]), np.array([0, 0, 1, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.1)


def test_balanced_accuracy_and_threshold() -> None:
    labels = np.array([0, 0, 0, 1])
    assert balanced_accuracy(np.array([0, 0, 0, 0]), labels) == pytest.approx(0.5)
    assert best_threshold(np.array([0.1, 0.2, 0.6, 0.7]), np.array([0, 0, 1, 1])) == (
        pytest.approx(0.4)
    )
    # a positive scored low: the best threshold sits below it
    t = best_threshold(np.array([0.1, 0.15, 0.2, 0.9]), np.array([0, 0, 1, 1]))
    assert 0.15 < t < 0.2


def test_step_agreement_separates_progress_from_episode_identity() -> None:
    true = [np.array([-3.0, -2.0, -1.0]), np.array([-9.0, -9.0, -9.0]), np.array([-6.0, -5.0])]
    # right order between episodes, wrong inside them: pooled agrees, within-episode does not
    ident = [np.array([-1.0, -1.1, -1.2]), np.array([-9.0, -9.1, -9.2]), np.array([-5.0, -5.1])]
    m = step_agreement(ident, true)
    assert m["step_spearman"] > 0.6
    assert m["within_episode_spearman"] == pytest.approx(-1.0)
    assert m["episodes_with_progress"] == 2  # the flat episode has no progress to rank
    assert step_agreement(true, true)["within_episode_spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        step_agreement([], [])


def test_spearman_by_hand() -> None:
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 40, 30])) == pytest.approx(0.8)
    assert spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)
