"""Which segment pairs to ask about: uniform, ensemble disagreement (std of P over members) or
entropy of the mean P (B-Pref / PEBBLE query selection), under a query budget."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from robot_rl.data.labels import Segment, pair_key
from robot_rl.errors import UserError
from robot_rl.rewards.preference import PreferenceModel, ensemble_probabilities
from robot_rl.rewards.segments import EpisodeSource, SegmentPairs, load_segments, sample_pairs

METHODS = ("uniform", "disagreement", "entropy")
_MAX_DRAWS = 20  # rounds of re-sampling for distinct pairs: a tiny dataset has few of them


def disagreement(probs: np.ndarray) -> np.ndarray:
    """Std over ensemble members of P(a better) [M, N] -> [N]."""
    return np.asarray(probs).std(0)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Binary entropy (nats) of the ensemble-mean P(a better) [M, N] -> [N]."""
    p = np.clip(np.asarray(probs).mean(0), 1e-7, 1 - 1e-7)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def select_queries(
    method: str, n: int, rng: np.random.Generator, probs: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the ``n`` candidates to ask: random, or the highest std / entropy first."""
    if method not in METHODS:
        raise UserError(f"query method must be one of {METHODS}, got {method!r}")
    if method == "uniform":
        if probs is None:
            raise ValueError("select_queries needs probs (or their count) for uniform too")
        return rng.permutation(probs.shape[-1])[:n]
    if probs is None:
        raise ValueError(f"query method {method!r} needs ensemble probabilities")
    score = disagreement(probs) if method == "disagreement" else entropy(probs)
    return np.argsort(-score, kind="stable")[:n]


@dataclass
class QueryBudget:
    """Counts queries against a total; ``grant`` hands out what is left."""

    total: int
    used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.used)

    def grant(self, n: int) -> int:
        k = min(n, self.remaining)
        self.used += k
        return k


def distinct_pairs(
    cache: EpisodeSource,
    n: int,
    segment_length: int,
    rng: np.random.Generator,
    exclude: Collection[tuple] = (),
) -> list[tuple[Segment, Segment]]:
    """Up to ``n`` uniform pairs, no two the same question, none whose ``pair_key`` is in
    ``exclude`` (already asked) and none comparing a segment with itself."""
    seen = set(exclude)
    out: list[tuple[Segment, Segment]] = []
    for _ in range(_MAX_DRAWS):
        if len(out) >= n:
            break
        for a, b in sample_pairs(cache, n - len(out), segment_length, rng):
            if a != b and pair_key(a, b) not in seen:
                seen.add(pair_key(a, b))
                out.append((a, b))
    return out


def choose_pairs(
    cache: EpisodeSource,
    n_queries: int,
    segment_length: int,
    rng: np.random.Generator,
    method: str = "uniform",
    model: PreferenceModel | None = None,
    candidates_per_query: int = 10,
    budget: QueryBudget | None = None,
    exclude: Collection[tuple] = (),
) -> list[tuple[Segment, Segment]]:
    """Sample distinct candidate pairs (none in ``exclude``) and keep the ``n_queries`` the
    method prefers; ``budget`` is charged for the pairs returned (fewer on a tiny dataset).

    B-Pref draws 10x more candidates than queries for the active methods. Without a model the
    active methods fall back to uniform (the first round has nothing to disagree about).
    """
    if budget is not None:
        n_queries = min(n_queries, budget.remaining)
    if n_queries <= 0:
        return []
    if method == "uniform" or model is None:
        picked = distinct_pairs(cache, n_queries, segment_length, rng, exclude)
    else:
        picked = _most_informative(
            cache, n_queries, segment_length, rng, method, model, candidates_per_query, exclude
        )
    if budget is not None:
        budget.grant(len(picked))
    return picked


def _most_informative(
    cache: EpisodeSource,
    n_queries: int,
    segment_length: int,
    rng: np.random.Generator,
    method: str,
    model: PreferenceModel,
    candidates_per_query: int,
    exclude: Collection[tuple],
) -> list[tuple[Segment, Segment]]:
    """The ``n_queries`` distinct candidates ``method`` ranks first under ``model``."""
    cand = distinct_pairs(cache, n_queries * candidates_per_query, segment_length, rng, exclude)
    if not cand:
        return []
    keys, nxt = model.obs_keys, model.scores_next
    a = load_segments(cache, [p[0] for p in cand], keys, segment_length, next_state=nxt)
    b = load_segments(cache, [p[1] for p in cand], keys, segment_length, next_state=nxt)
    probs = ensemble_probabilities(model, SegmentPairs(a, b, np.zeros(len(cand), np.float32)))
    return [cand[i] for i in select_queries(method, n_queries, rng, probs)]
