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


def test_tensorboard_and_offline_wandb_receive_the_same_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    from robot_rl.training.logger import LoggerConfig

    log = Logger(tmp_path, LoggerConfig(tensorboard=True, wandb=True, wandb_mode="offline"))
    log.log("train", 1, {"critic/loss": torch.tensor(0.5)})
    log.close()
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert "critic/loss" in acc.Tags()["scalars"]
    assert list((tmp_path / "wandb").glob("offline-run-*")), "no offline wandb run written"


def test_save_figure_writes_a_png_and_leaves_nothing_behind_when_drawing_fails(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pytest

    from robot_rl.training.plots import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    out = save_figure(fig, tmp_path / "curve.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def broken(f, **kw):
        f.write(b"half an image")
        raise RuntimeError("renderer died")

    fig = plt.figure()
    fig.savefig = broken
    with pytest.raises(RuntimeError):
        save_figure(fig, tmp_path / "curve.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the old figure survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]


def test_report_says_when_the_online_classifier_forgot_success(tmp_path):
    from robot_rl.report import online_classifier_summary

    assert online_classifier_summary(tmp_path) == ""  # frozen classifier: nothing to say
    logger = Logger(tmp_path)
    for step, rate, back, tpr in ((1000, 1.0, 0, 0.95), (2000, 0.9, 1, 0.6), (3000, 0.7, 0, 0.37)):
        logger.log("train", step, {"classifier/positive_rate": rate,
                                   "classifier/rolled_back": back,
                                   "classifier/visited_success_tpr": tpr})  # fmt: skip
    logger.close()
    html = online_classifier_summary(tmp_path)
    assert "0.70 / 0.70" in html and "<td>1</td>" in html and "0.37" in html
    assert "Warning" in html


def test_report_shows_the_reward_models_step_level_agreement(tmp_path):
    from robot_rl.data.io import atomic_write_json
    from robot_rl.report import reward_training_metrics

    assert reward_training_metrics(tmp_path / "none") == ""  # reward=env: no checkpoint
    ckpt = tmp_path / "reward-preference"
    ckpt.mkdir()
    metrics = {"holdout/accuracy": 0.9, "teacher/step_spearman": 0.23, "train/loss_first": 1.0}
    atomic_write_json(
        ckpt / "config.json",
        {"kind": "preference", "config": {}, "obs_spec": {}, "action_dim": 4, "metrics": metrics},
    )
    html = reward_training_metrics(ckpt)
    assert "teacher/step_spearman</td><td>0.230" in html and "holdout/accuracy" in html
    assert "loss_first" not in html
    (ckpt / "config.json").write_text("{")  # damaged: the report goes on without the table
    assert reward_training_metrics(ckpt) == ""
