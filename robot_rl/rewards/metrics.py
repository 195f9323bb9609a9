"""Evaluation metrics of reward models in numpy (no scipy/sklearn dependency): AUROC, expected
calibration error, balanced accuracy, threshold choice, rank correlation."""

from __future__ import annotations

import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U); NaN if one class is missing."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _ranks(np.asarray(scores, dtype=np.float64))
    return float((r[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE: sum over equal-width probability bins of |mean prob - frequency| * bin share."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if len(probs) == 0:
        return float("nan")
    idx = np.minimum((probs * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(probs[m].mean() - labels[m].mean())
    return float(ece)


def balanced_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Mean of the true-positive and true-negative rates (NaN if a class is missing)."""
    pred, labels = np.asarray(pred).astype(bool), np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(0.5 * (pred[labels].mean() + (~pred[~labels]).mean()))


def best_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """The probability threshold maximising balanced accuracy (predict p > t).

    Candidates are midpoints between sorted distinct scores; ties go to the candidate closest
    to 0.5, so a perfectly separated set gets a central threshold, not an edge one.
    """
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels).astype(bool)
    u = np.unique(probs)
    if len(u) < 2 or labels.all() or not labels.any():
        return 0.5
    cands = np.concatenate([[u[0] - 1e-6], 0.5 * (u[1:] + u[:-1])])
    accs = np.array([balanced_accuracy(probs > t, labels) for t in cands])
    best = np.flatnonzero(accs >= accs.max() - 1e-12)
    return float(cands[best[np.argmin(np.abs(cands[best] - 0.5))]])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks)."""
    rx, ry = _ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx**2).sum() * (ry**2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def classification_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """accuracy, balanced accuracy, AUROC, ECE, counts of a probability classifier."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels).astype(bool)
    pred = probs > threshold
    return {
        "accuracy": float((pred == labels).mean()) if len(labels) else float("nan"),
        "balanced_accuracy": balanced_accuracy(pred, labels),
        "auroc": auroc(probs, labels),
        "ece": expected_calibration_error(probs, labels),
        "threshold": float(threshold),
        "n_pos": int(labels.sum()),
        "n_neg": int((~labels).sum()),
    }


def step_agreement(learned: list[np.ndarray], true: list[np.ndarray]) -> dict[str, float]:
    """How a learned per-step reward agrees with the true one, per episode lists of [T] arrays:
    ``step_spearman`` over every step pooled (does it rank states as the teacher does?) and
    ``within_episode_spearman``, the mean over episodes whose true reward changes (does it
    rise with progress inside an episode, not only tell episodes apart?)."""
    if len(learned) != len(true) or not learned:
        raise ValueError("step_agreement needs one learned and one true array per episode")
    within = [spearman(a, b) for a, b in zip(learned, true) if np.ptp(b) > 1e-6]
    within = [w for w in within if not np.isnan(w)]
    return {
        "step_spearman": spearman(np.concatenate(learned), np.concatenate(true)),
        "within_episode_spearman": float(np.mean(within)) if within else float("nan"),
        "episodes_with_progress": float(len(within)),
    }
