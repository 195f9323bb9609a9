from __future__ import annotations

import numpy as np
import torch

from robot_rl.analysis import aggregate, bootstrap_ci, iqm
from robot_rl.training.logger import Logger, read_csv


def test_logger_widens_header_and_truncates_on_resume(tmp_path):
    log = Logger(tmp_path)
    log.log("train", 1, {"a": torch.tensor(1.0)})
    log.log("train", 2, {"a": 2.0, "b": 3.0})  # a new key widens the CSV, old rows kept
    log.log("train", 3, {"a": 4.0, "b": 5.0})
    cols = read_csv(tmp_path / "train.csv")
    assert cols["step"] == [1, 2, 3] and cols["a"] == [1, 2, 4] and np.isnan(cols["b"][0])
    log.truncate_after(2)
    assert read_csv(tmp_path / "train.csv")["step"] == [1, 2]


def test_iqm_trims_the_outer_quartiles():
    assert iqm(np.array([0.0, 1.0, 2.0, 100.0])) == 1.5
    assert iqm(np.array([3.0])) == 3.0


def test_bootstrap_ci_brackets_the_estimate_and_shrinks_with_agreement():
    rng = np.random.default_rng(0)
    spread = rng.normal(0.5, 0.2, size=(10, 1))
    lo, hi = bootstrap_ci(spread)
    assert lo[0] <= iqm(spread)[0] <= hi[0]
    lo2, hi2 = bootstrap_ci(np.full((10, 1), 0.5))
    assert hi2[0] - lo2[0] < 1e-12 < hi[0] - lo[0]


def test_aggregate_aligns_curves_on_a_shared_grid():
    a = (np.array([0, 10, 20]), np.array([0.0, 0.5, 1.0]))
    b = (np.array([0, 20]), np.array([0.0, 1.0]))
    out = aggregate([a, b], grid=3)
    assert np.allclose(out["steps"], [0, 10, 20]) and np.allclose(out["iqm"], [0, 0.5, 1.0])
