"""Monte-Carlo return-to-go, the value lower bound Cal-QL calibrates against."""

from __future__ import annotations

import numpy as np


def mc_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    fail_value: float | None = None,
) -> np.ndarray:
    """Discounted return-to-go G_t = r_t + gamma * G_{t+1} for one episode, [T] float32.

    ``fail_value`` is the per-step reward of failing, r_fail (already scaled, e.g. 0 * scale
    + bias). If given, and the episode is not terminated and every reward equals r_fail (a
    sparse-reward episode that never succeeded), each step gets r_fail / (1 - gamma), the value
    of failing forever, as in the Cal-QL reference code; a truncated sum would wrongly make
    states near the time limit look better than early ones. A terminated episode never
    bootstraps (its value after the end is 0 by definition). Otherwise (informative rewards,
    or a truncated episode that did succeed), truncation gives the truncated sum: the
    behaviour policy's future after the time limit is unknown, and the reference code uses the
    truncated sum too. Flags inside the array (concatenated episodes) reset the sum.
    """
    r = np.asarray(rewards, dtype=np.float64)
    term = np.asarray(terminated, dtype=bool)
    trunc = np.asarray(truncated, dtype=bool)
    if r.ndim != 1 or term.shape != r.shape or trunc.shape != r.shape:
        raise ValueError(
            f"mc_returns: rewards, terminated, truncated must be [T]; got {r.shape}, "
            f"{term.shape}, {trunc.shape}"
        )
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"mc_returns: gamma must be in [0, 1), got {gamma}")
    if r.size == 0:
        return np.zeros(0, dtype=np.float32)
    if (
        fail_value is not None
        and not term.any()
        and np.allclose(r, fail_value, rtol=0.0, atol=1e-6)
    ):
        return np.full(r.shape, fail_value / (1.0 - gamma), dtype=np.float32)
    out = np.empty_like(r)
    end = term | trunc
    g = 0.0
    for t in range(r.size - 1, -1, -1):
        g = r[t] + gamma * g * (0.0 if end[t] else 1.0)
        out[t] = g
    return out.astype(np.float32)
