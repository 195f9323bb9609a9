"""An imported Fetch dataset pre-trains, evaluates and fine-tunes in its recorded env."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from robot_rl.agents import config_with
from robot_rl.training.evaluate import EvalConfig, evaluate_checkpoint
from robot_rl.training.logger import read_csv
from robot_rl.training.offline import PretrainConfig, pretrain
from robot_rl.training.online import FinetuneConfig, finetune

pytest.importorskip("minari")
pytest.importorskip("gymnasium_robotics")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from minari_fetch import make_fetch_minari  # noqa: E402

TINY = {"hidden_dims": [16, 16], "batch_size": 8}


@pytest.fixture(scope="module")
def fetch_data(tmp_path_factory) -> Path:
    import os

    from robot_rl.data.minari_io import import_minari

    root = tmp_path_factory.mktemp("minari")
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        make_fetch_minari("fetch/push-v0")
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = old
    return import_minari("fetch/push-v0", root.parent / "push", root).root


def test_pretrain_evaluates_in_the_recorded_env_then_finetunes(fetch_data, tmp_path) -> None:
    cfg = PretrainConfig(
        dataset=str(fetch_data), agent_name="iql", agent=config_with("iql", **TINY), steps=4,
        out=str(tmp_path / "pre"), log_every=2, checkpoint_every=4,
        eval=EvalConfig(every=4, episodes=1, video=True, video_size=64), progress=False,
        device="cpu",
    )  # fmt: skip
    run = pretrain(cfg)
    ev = read_csv(run / "eval.csv")
    assert ev["eval/length"][-1] == 50 and "eval/final_success_rate" in ev
    assert (run / "videos").is_dir()

    m = evaluate_checkpoint(str(run), episodes=2, video=False, device="cpu")
    assert m["eval/length"] == 50.0
    assert json.loads((run / "evaluation.json").read_text())["episodes"] == 2

    ft = FinetuneConfig(
        method="iql", agent_name="iql", agent=config_with("iql", **TINY), init=str(run),
        dataset=str(fetch_data), offline_ratio=0.5, env_steps=60, log_every=30,
        checkpoint_every=60, eval=EvalConfig(every=60, episodes=1, video=False),
        out=str(tmp_path / "ft"), progress=False, device="cpu",
    )  # fmt: skip
    out = finetune(ft)
    assert read_csv(out / "eval.csv")["step"][-1] == 60
    meta = json.loads((out / "episodes" / "meta.json").read_text())
    assert meta["task"] == "gym:FetchPush-v4" and meta["control_freq"] == 25.0
