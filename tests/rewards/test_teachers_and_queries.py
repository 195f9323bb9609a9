"""B-Pref teachers, the success labeller and query selection."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.data import Dataset
from robot_rl.data.labels import LabelStore, PreferencePair, Segment
from robot_rl.errors import UserError
from robot_rl.rewards.query import QueryBudget, choose_pairs, select_queries
from robot_rl.rewards.teachers import (
    SuccessLabeller,
    Teacher,
    TeacherConfig,
    label_goal_frames,
    label_pairs,
    teacher_config,
)

A = [np.array([1.0, 1.0]), np.array([0.0, 0.0]), np.array([1.0, 0.0])]
B = [np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 1.0])]


def test_oracle_compares_returns_and_ties_exactly_equal() -> None:
    assert Teacher(TeacherConfig()).answer(A, B).tolist() == [1.0, 0.0, 0.5]


def test_mistake_flips() -> None:
    assert Teacher(TeacherConfig(mistake=1.0)).answer(A, B).tolist() == [0.0, 1.0, 0.5]
    many_a, many_b = [np.ones(3)] * 4000, [np.zeros(3)] * 4000
    wrong = (Teacher(TeacherConfig(mistake=0.1), seed=1).answer(many_a, many_b) == 0.0).mean()
    assert 0.08 < wrong < 0.12


def test_skip_skips_when_both_are_below_threshold() -> None:
    a = [np.array([0.2]), np.array([2.0])]
    b = [np.array([0.5]), np.array([0.1])]
    out = Teacher(TeacherConfig(skip_threshold=1.0)).answer(a, b)
    assert np.isnan(out[0]) and out[1] == 1.0


def test_equal_ties_within_margin() -> None:
    a = [np.array([1.0]), np.array([2.0])]
    b = [np.array([0.8]), np.array([1.0])]
    assert Teacher(TeacherConfig(equal_margin=0.5)).answer(a, b).tolist() == [0.5, 1.0]


def test_myopic_weighs_later_steps_more() -> None:
    a, b = [np.array([1.0, 0.0])], [np.array([0.0, 0.6])]
    assert Teacher(TeacherConfig()).answer(a, b).tolist() == [1.0]  # 1.0 > 0.6
    # gamma 0.5: a = 0.5 * 1.0, b = 1.0 * 0.6 -> b preferred
    assert Teacher(TeacherConfig(gamma=0.5)).answer(a, b).tolist() == [0.0]


def test_noisy_teacher_follows_boltzmann_rationality() -> None:
    a, b = [np.array([1.0])] * 5000, [np.array([0.0])] * 5000
    rate = Teacher(TeacherConfig(beta=1.0), seed=2).answer(a, b).mean()
    assert rate == pytest.approx(1 / (1 + np.exp(-1.0)), abs=0.03)
    assert Teacher(TeacherConfig(beta=0.0), seed=2).answer(a, b).mean() == pytest.approx(
        0.5, abs=0.03
    )


def test_teacher_presets() -> None:
    r = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert teacher_config("oracle") == TeacherConfig()
    assert teacher_config("myopic").gamma < 1.0
    assert teacher_config("skip", r).skip_threshold == pytest.approx(np.percentile(r, 30))
    assert teacher_config("equal", r).equal_margin == pytest.approx(0.2)
    with pytest.raises(UserError, match="unknown teacher"):
        teacher_config("lazy")


def test_label_pairs_uses_dataset_rewards(tiny_state_dataset) -> None:
    from robot_rl.rewards.segments import EpisodeCache

    cache = EpisodeCache(tiny_state_dataset)
    # episode 0 succeeds (reward 1 on its last step), episode 1 does not
    t0 = cache.lengths[0]
    seg_win, seg_lose = Segment(0, t0 - 5, 5), Segment(1, 0, 5)
    pairs = label_pairs(cache, [(seg_win, seg_lose), (seg_lose, seg_win)], Teacher(TeacherConfig()))
    assert [p.preference for p in pairs] == [1.0, 0.0]


def test_goal_teacher_prefers_reaching_the_goal_over_a_little_more_progress() -> None:
    from types import SimpleNamespace

    # Episode 0 ends next to the goal (more progress per step), episode 1 reaches it.
    eps = {
        0: SimpleNamespace(r=np.full(4, -0.08), success=np.zeros(4, bool)),
        1: SimpleNamespace(r=np.array([-0.2, -0.1, -0.05, -0.05]), success=np.arange(4) >= 2),
    }
    progress = lambda ep, seg: ep.r[seg.start : seg.start + seg.length]  # noqa: E731
    pair = [(Segment(0, 0, 4), Segment(1, 0, 4))]
    assert label_pairs(eps, pair, Teacher(teacher_config("oracle")), progress)[0].preference == 1
    goal = Teacher(teacher_config("goal"))
    assert label_pairs(eps, pair, goal, progress)[0].preference == 0.0


def test_success_labeller_noise() -> None:
    s = np.array([True, False] * 2000)
    assert (SuccessLabeller(0.0).label(s) == s).all()
    assert (SuccessLabeller(1.0).label(s) == ~s).all()
    assert (SuccessLabeller(0.2, seed=3).label(s) != s).mean() == pytest.approx(0.2, abs=0.03)
    assert SuccessLabeller()({"success": np.array([1, 0])}).tolist() == [True, False]
    with pytest.raises(UserError):
        SuccessLabeller(1.5)


def test_label_goal_frames_writes_success_frames(tiny_pixel_dataset) -> None:
    n_pos, n_neg = label_goal_frames(tiny_pixel_dataset, SuccessLabeller(), 10, 20, seed=0)
    ds = Dataset(tiny_pixel_dataset)
    successful = [i for i in ds.episode_ids if ds.load(i).is_success]
    assert n_pos == len(successful) and n_neg == 20  # one success frame per episode here
    labels = LabelStore(tiny_pixel_dataset).frame_labels()
    pos = {(lab.episode, lab.frame) for lab in labels if lab.label == 1}
    assert pos == {(i, ds.episode_length(i)) for i in successful}  # the final frames
    for lab in labels:
        if lab.label == 0:
            ep = ds.load(lab.episode)
            assert lab.frame == 0 or not ep.success[lab.frame - 1]


def test_select_queries() -> None:
    probs = np.array([[0.5, 0.9, 0.1], [0.5, 0.1, 0.2], [0.5, 0.5, 0.15]])  # [M=3, N=3]
    rng = np.random.default_rng(0)
    assert select_queries("disagreement", 1, rng, probs).tolist() == [1]
    assert select_queries("entropy", 1, rng, probs).tolist() == [0]  # mean P nearest 0.5
    u = select_queries("uniform", 3, rng, probs)
    assert sorted(u.tolist()) == [0, 1, 2]
    with pytest.raises(UserError):
        select_queries("best", 1, rng, probs)


def test_query_budget() -> None:
    b = QueryBudget(5)
    assert [b.grant(3), b.grant(3), b.grant(1)] == [3, 2, 0]
    assert b.remaining == 0


class _FakeModel:
    """Disagreement driven by the segments' episode id: members differ only on episode 3."""

    obs_keys = ("state",)
    num_members = 3
    scores_next = False  # the test reads the states segments start from


def test_choose_pairs_picks_max_disagreement(tiny_state_dataset, monkeypatch) -> None:
    from robot_rl.rewards import query
    from robot_rl.rewards.segments import EpisodeCache, sample_pairs

    def fake_probs(model, pairs, batch_size=64):
        # members disagree in proportion to the first state value of segment a's first step
        x = pairs.a.obs["state"][:, 0, 0]
        return np.stack([0.5 + x / 2, 0.5 - x / 2, np.full_like(x, 0.5)])

    monkeypatch.setattr(query, "ensemble_probabilities", fake_probs)
    cache = EpisodeCache(tiny_state_dataset)
    got = choose_pairs(cache, 2, 5, np.random.default_rng(7), "disagreement", _FakeModel())
    cand = sample_pairs(cache, 20, 5, np.random.default_rng(7))
    x = np.array([cache[a.episode].obs["state"][a.start, 0] for a, _ in cand])
    assert got == [cand[i] for i in np.argsort(-np.abs(x), kind="stable")[:2]]
    budget = QueryBudget(3)
    assert len(choose_pairs(cache, 2, 5, np.random.default_rng(0), budget=budget)) == 2
    assert len(choose_pairs(cache, 2, 5, np.random.default_rng(0), budget=budget)) == 1


def test_sampled_pairs_compare_spans_of_equal_length(tiny_state_dataset) -> None:
    from robot_rl.rewards.segments import EpisodeCache, sample_pairs

    cache = EpisodeCache(tiny_state_dataset)  # episodes of 12 to 19 steps
    pairs = sample_pairs(cache, 200, 15, np.random.default_rng(0))
    assert all(a.length == b.length for a, b in pairs)
    for a, b in pairs:  # as long as asked, unless either episode is shorter; always fits
        assert a.length == min(15, cache.lengths[a.episode], cache.lengths[b.episode])
        assert all(s.start >= 0 and s.start + s.length <= cache.lengths[s.episode] for s in (a, b))
    assert {a.length for a, _ in pairs} == {12, 15}  # the 12-step episode shortens its pairs


def test_a_labelled_pair_of_unequal_lengths_is_refused_naming_the_pair(tiny_state_dataset):
    store = LabelStore(tiny_state_dataset)
    store.add_preferences([
        PreferencePair(Segment(0, 0, 5), Segment(1, 0, 5), 1.0),
        PreferencePair(Segment(0, 0, 5), Segment(2, 0, 4), 0.0),
    ])  # fmt: skip
    before = (store.root / "preferences.json").read_bytes()
    with pytest.raises(UserError, match=r"preferences.json: pairs\[1\]: .*a.length=5, b.length=4"):
        store.preferences()
    assert (store.root / "preferences.json").read_bytes() == before  # nothing rewritten


def test_choose_pairs_asks_distinct_pairs_and_never_an_excluded_one(tiny_state_dataset) -> None:
    from robot_rl.data.labels import pair_key
    from robot_rl.rewards.segments import EpisodeCache

    cache = EpisodeCache(tiny_state_dataset)
    first = choose_pairs(cache, 40, 5, np.random.default_rng(0))
    keys = {pair_key(a, b) for a, b in first}
    assert len(keys) == len(first) == 40 and all(a != b for a, b in first)
    budget = QueryBudget(100)
    again = choose_pairs(cache, 40, 5, np.random.default_rng(0), budget=budget, exclude=keys)
    assert len(again) == 40 and not keys & {pair_key(a, b) for a, b in again}
    assert budget.used == 40
