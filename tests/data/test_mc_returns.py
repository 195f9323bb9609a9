from __future__ import annotations

import numpy as np
import pytest

from robot_rl.data import mc_returns

F, T = False, True


def test_terminated_success_no_bootstrap() -> None:
    # gamma 0.9, reward only at the terminal step: G = [0.81, 0.9, 1.0]
    g = mc_returns(np.array([0, 0, 1.0]), np.array([F, F, T]), np.array([F, F, F]), 0.9)
    np.testing.assert_allclose(g, [0.81, 0.9, 1.0], rtol=1e-6)
    assert g.dtype == np.float32


def test_truncated_informative_rewards_use_truncated_sum() -> None:
    # gamma 0.5: G2 = 3, G1 = 2 + 0.5*3 = 3.5, G0 = 1 + 0.5*3.5 = 2.75
    g = mc_returns(np.array([1, 2, 3.0]), np.array([F, F, F]), np.array([F, F, T]), 0.5, -1.0)
    np.testing.assert_allclose(g, [2.75, 3.5, 3.0])


def test_failed_sparse_episode_gets_value_of_failing_forever() -> None:
    r = np.full(3, -1.0)  # sparse reward scaled with bias -1: a failure step is worth -1
    trunc = np.array([F, F, T])
    g = mc_returns(r, np.zeros(3, bool), trunc, 0.9, fail_value=-1.0)
    np.testing.assert_allclose(g, [-10.0, -10.0, -10.0], rtol=1e-6)
    # Without fail_value: the truncated sum -1 - 0.9 - 0.81, ...
    g = mc_returns(r, np.zeros(3, bool), trunc, 0.9)
    np.testing.assert_allclose(g, [-2.71, -1.9, -1.0], rtol=1e-6)
    # A terminated episode ends at 0 value: no "forever", even with fail_value.
    g = mc_returns(r, np.array([F, F, T]), np.zeros(3, bool), 0.9, fail_value=-1.0)
    np.testing.assert_allclose(g, [-2.71, -1.9, -1.0], rtol=1e-6)
    # One success step makes the rewards informative: truncated sum again.
    g = mc_returns(np.array([-1, 0, -1.0]), np.zeros(3, bool), trunc, 0.9, fail_value=-1.0)
    np.testing.assert_allclose(g, [-1.81, -0.9, -1.0], rtol=1e-6)


def test_flags_inside_the_array_reset_the_sum() -> None:
    g = mc_returns(np.array([1, 1, 1, 1.0]), np.array([F, T, F, F]), np.array([F, F, F, T]), 0.5)
    np.testing.assert_allclose(g, [1.5, 1.0, 1.5, 1.0])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="gamma"):
        mc_returns(np.zeros(2), np.zeros(2, bool), np.zeros(2, bool), 1.0)
    with pytest.raises(ValueError, match=r"\[T\]"):
        mc_returns(np.zeros(2), np.zeros(3, bool), np.zeros(2, bool), 0.9)
    assert mc_returns(np.zeros(0), np.zeros(0, bool), np.zeros(0, bool), 0.9).shape == (0,)
