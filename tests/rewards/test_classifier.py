"""Goal classifier: learns a separable image set, threshold on held-out data, VICE negatives,
RAQ queries, bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from robot_rl.errors import UserError
from robot_rl.rewards.classifier import (
    ClassifierConfig,
    ClassifierUpdater,
    GoalClassifier,
    color_jitter,
    evaluate_classifier,
    obs_spec_of,
    predict_proba,
    train_classifier,
)

SMALL = dict(channels=8, feature_dim=16, hidden_dims=(32,), batch_size=32, lr=1e-3)


def frames(n: int, square: bool, seed: int, marker: bool = False) -> dict[str, np.ndarray]:
    """Dim noise images; with ``square`` a bright 10x10 square somewhere; ``marker`` adds a
    bright blue bar at the top (the 'exploit' look-alike)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, size=(n, 64, 64, 3)).astype(np.uint8)
    for i in range(n):
        if square:
            x, y = rng.integers(12, 44, 2)
            img[i, y : y + 10, x : x + 10] = 240
        if marker:
            img[i, 2:8, 10:54, 2] = 255
    return {"pixels": img, "proprio": rng.normal(size=(n, 3)).astype(np.float32)}


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # other engineers share the two cores
    yield
    torch.set_num_threads(n)


def test_classifier_separates_bright_square_on_heldout_frames() -> None:
    cfg = ClassifierConfig(steps=150, **SMALL)
    model, metrics = train_classifier(cfg, frames(40, True, 0), frames(80, False, 1), seed=0)
    assert metrics["train/bce_last"] < metrics["train/bce_first"]
    # frames from other seeds, never seen
    held_pos, held_neg = frames(30, True, 10), frames(30, False, 11)
    ev = evaluate_classifier(model, held_pos, held_neg)
    print(f"held-out auroc {ev['auroc']:.3f} accuracy {ev['accuracy']:.3f}")
    # Directions only (how well it separates is for benchmarks): better than chance, and goal
    # frames score higher than the others on average.
    assert ev["auroc"] > 0.5
    assert predict_proba(model, held_pos).mean() > predict_proba(model, held_neg).mean()
    assert 0.0 < metrics["threshold"] < 1.0 and float(model.threshold) == metrics["threshold"]
    assert {"holdout/auroc", "holdout/ece", "holdout/accuracy"} <= set(metrics)


def test_reward_types() -> None:
    cfg = ClassifierConfig(steps=0, **SMALL)
    x = frames(4, True, 0)
    obs = {k: torch.as_tensor(v) for k, v in x.items()}
    model = GoalClassifier(obs_spec_of(x), cfg)
    logits = model(obs)
    assert torch.allclose(model.score(obs), torch.sigmoid(logits))
    model.reward_type = "logit"
    assert torch.allclose(model.score(obs), logits)
    model.reward_type = "binary"
    model.threshold.fill_(float(torch.sigmoid(logits.detach()).median()))
    assert set(model.score(obs).tolist()) <= {0.0, 1.0}


def test_color_jitter_is_per_sample_and_keeps_dtype() -> None:
    torch.manual_seed(0)
    x = torch.full((8, 16, 16, 3), 100, dtype=torch.uint8)
    out = color_jitter(x, 0.3)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert len({int(v) for v in out[:, 0, 0, 0]}) > 1  # images got different jitters


def test_visited_negatives_stop_exploitation() -> None:
    """VICE: look-alike states the policy visits score high; once added as negatives they
    score low while true goal frames stay above 0.5 (positives keep half of every batch)."""
    cfg = ClassifierConfig(steps=120, mixup_alpha=0.0, **SMALL)
    pos, neg = frames(40, True, 0), frames(80, False, 1)
    model, _ = train_classifier(cfg, pos, neg, holdout_fraction=0.0, seed=0)
    exploit = frames(40, True, 2, marker=True)  # squares + a blue bar: not real successes
    before = predict_proba(model, exploit).mean()
    updater = ClassifierUpdater(model, cfg, pos, neg, seed=1)
    updater.add_negatives(exploit)
    updater.update(120)
    after = predict_proba(model, frames(20, True, 3, marker=True)).mean()  # fresh look-alikes
    goals = predict_proba(model, frames(20, True, 4)).mean()
    print(f"exploit p before {before:.3f} after {after:.3f}; true goals {goals:.3f}")
    # Directions only: look-alikes score lower than before, and lower than true goal frames.
    assert after < before
    assert goals > after


def test_visited_buffer_is_bounded_ring() -> None:
    cfg = ClassifierConfig(steps=0, visited_capacity=5, **SMALL)
    pos, neg = frames(2, True, 0), frames(2, False, 1)
    up = ClassifierUpdater(GoalClassifier(obs_spec_of(pos), cfg), cfg, pos, neg)
    batch = frames(7, False, 2)
    batch["pixels"][:, 0, 0, 0] = np.arange(7)  # tag each frame
    up.add_negatives({k: v[:3] for k, v in batch.items()})
    up.add_negatives({k: v[3:] for k, v in batch.items()})
    assert up.n_visited == 5
    assert sorted(up.visited["pixels"][:, 0, 0, 0].tolist()) == [2, 3, 4, 5, 6]  # oldest dropped
    m = up.update(2)
    assert np.isfinite(float(m["classifier/loss"]))


def test_raq_queries_top_scores_within_budget() -> None:
    cfg = ClassifierConfig(steps=0, query_budget=3, **SMALL)
    pos, neg = frames(4, True, 0), frames(4, False, 1)
    model = GoalClassifier(obs_spec_of(pos), cfg)
    up = ClassifierUpdater(model, cfg, pos, neg)
    cand = frames(10, False, 5)
    cand["success"] = np.arange(10) % 2 == 0
    asked: list[np.ndarray] = []

    def labeller(f: dict[str, np.ndarray]) -> np.ndarray:
        asked.append(f["success"])
        return f["success"]

    probs = predict_proba(model, cand)
    out = up.query(cand, labeller, max_queries=2)
    top2 = np.argsort(-probs)[:2]
    assert out["asked"] == 2 and asked[0].tolist() == cand["success"][top2].tolist()
    n_true = int(cand["success"][top2].sum())
    assert len(up.positives["pixels"]) == 4 + n_true
    assert len(up.negatives["pixels"]) == 4 + 2 - n_true
    assert up.query(cand, labeller, max_queries=5)["asked"] == 1  # budget 3
    assert up.query(cand, labeller, max_queries=5)["asked"] == 0


def test_raq_with_groups_asks_each_groups_best_frame_first() -> None:
    from robot_rl.rewards.classifier import _best_first

    probs = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    episodes = np.array([1, 1, 1, 2, 3])
    assert _best_first(probs, None).tolist() == [0, 1, 2, 3, 4]
    assert _best_first(probs, episodes).tolist() == [0, 3, 4, 1, 2]


def test_hard_negatives_are_the_confirmed_failures_and_fill_their_share() -> None:
    cfg = ClassifierConfig(steps=0, query_budget=10, **{**SMALL, "batch_size": 16})
    pos, neg = frames(4, True, 0), frames(40, False, 1)
    up = ClassifierUpdater(GoalClassifier(obs_spec_of(pos), cfg), cfg, pos, neg)
    cand = frames(6, False, 5)
    cand["pixels"][:, 0, 0, 0] = 255  # tag: only the candidates carry it
    cand["success"] = np.array([True, False, False, False, False, False])
    up.query(cand, lambda f: f["success"], max_queries=6)
    assert len(up.hard["pixels"]) == 5  # type: ignore[index]  # the failures, not the success
    tagged = lambda obs: int((obs["pixels"][8:, 0, 0, 0] == 255).sum())  # noqa: E731
    uniform = sum(tagged(up._batch()[0]) for _ in range(50))
    up.hard_share = 0.5
    hard = sum(tagged(up._batch()[0]) for _ in range(50))
    # 4 of 8 negatives from the 5 failures each batch (200 in 50), against ~5/45 uniformly
    assert hard >= 200 and uniform < hard / 3


def test_bad_inputs_raise_user_errors() -> None:
    cfg = ClassifierConfig(steps=1, **SMALL)
    empty = {k: v[:0] for k, v in frames(1, True, 0).items()}
    with pytest.raises(UserError, match="positive"):
        train_classifier(cfg, empty, frames(4, False, 1))
    with pytest.raises(UserError, match="reward_type"):
        train_classifier(
            ClassifierConfig(reward_type="max"), frames(2, True, 0), frames(2, False, 1)
        )
    with pytest.raises(UserError, match="proprio"):
        cfg2 = ClassifierConfig(use_proprio=True, **SMALL)
        GoalClassifier({"pixels": obs_spec_of(frames(1, True, 0))["pixels"]}, cfg2)


def test_updater_state_dict_resumes_exactly() -> None:
    cfg = ClassifierConfig(steps=0, **SMALL)
    pos, neg = frames(6, True, 0), frames(6, False, 1)
    torch.manual_seed(0)
    a = ClassifierUpdater(GoalClassifier(obs_spec_of(pos), cfg), cfg, pos, neg, seed=3)
    a.add_negatives(frames(4, False, 2))
    a.update(2)
    state = copy.deepcopy(a.state_dict())  # as if saved to disk: no shared tensors
    torch.manual_seed(5)
    b = ClassifierUpdater(GoalClassifier(obs_spec_of(pos), cfg), cfg, pos, neg, seed=9)
    b.load_state_dict(state)
    torch.manual_seed(1)
    a.update(2)
    torch.manual_seed(1)
    b.update(2)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def _online(model, cfg, pos, neg, min_positive_rate):
    from robot_rl.rewards.kinds.classifier import ClassifierOnline
    from robot_rl.rewards.updates import ClassifierUpdateConfig

    up_cfg = ClassifierUpdateConfig(
        every=1, steps=150, max_queries=10, queries_per_update=10,
        min_positive_rate=min_positive_rate,
    )  # fmt: skip
    return ClassifierOnline(ClassifierUpdater(model, cfg, pos, neg, seed=1), up_cfg)


@pytest.mark.parametrize("guard", [0.9, 0.0])
def test_an_update_that_forgets_success_is_undone_and_logged(guard) -> None:
    """The drawer failure in small: the policy reaches real successes that look unlike the
    labelled goal frames (a blue bar), VICE takes the visited frames as negatives, and the
    classifier learns to call them failures. RAQ confirms 10 of them as positives (and keeps
    those out of the negatives); with the guard, the update that would forget them is undone
    and logged; without it the log shows the drop (positive_rate, visited_success_tpr)."""
    from types import SimpleNamespace

    cfg = ClassifierConfig(steps=150, mixup_alpha=0.0, **SMALL)
    pos, neg = frames(40, True, 0), frames(80, False, 1)
    model, _ = train_classifier(cfg, pos, neg, holdout_fraction=0.0, seed=0)
    online = _online(model, cfg, pos, neg, guard)
    reached = frames(161, True, 2, marker=True)
    online.observe_episode(SimpleNamespace(obs=reached, success=np.ones(160, bool)))
    before = copy.deepcopy(model.state_dict())
    m = online.update()
    print({k: round(float(v), 3) for k, v in m.items()})
    assert m["classifier/query_positive"] == 10 and online.updater.n_visited == 150
    assert len(online.check["pixels"]) == 8 + 5  # a fifth of 40 labelled, half of 10 confirmed
    if guard:
        assert m["classifier/rolled_back"] == 1.0 and m["classifier/positive_rate"] >= 0.9
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    else:
        assert m["classifier/rolled_back"] == 0.0
        assert m["classifier/positive_rate"] < 0.9 and m["classifier/visited_success_tpr"] < 0.5
