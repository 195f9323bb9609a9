"""Synthetic labelling killed part-way and run again: it resumes, never repeats a stored answer,
and the query budget counts what is stored (N queries means N stored pairs over all runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import robot_rl.rewards.kinds.preference as preference
from robot_rl.data.labels import LabelStore, pair_key
from robot_rl.labeling.run import LabelConfig, label
from robot_rl.rewards.teachers import SuccessLabeller


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """Make the teacher raise KeyboardInterrupt (a Ctrl-C) once it has answered ``k`` queries."""
    real = preference.label_pairs
    answered = [0]

    def ask(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        answered[0] += len(out)
        if answered[0] > k:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(preference, "label_pairs", ask)


def _prefs_config(root: Path, method: str = "uniform", queries: int = 20) -> LabelConfig:
    return LabelConfig(
        dataset=str(root),
        mode="preferences",
        labeller="synthetic",
        queries=queries,
        query_method=method,
        segment_length=5,
        model_steps=3,
    )


@pytest.mark.parametrize("method", ["uniform", "disagreement"])
def test_preference_labelling_killed_twice_stores_the_budget_once(
    tiny_state_dataset, monkeypatch, method
):
    cfg = _prefs_config(tiny_state_dataset, method)
    for k in (7, 3):  # killed in its second round, then in the first round of the resume
        with monkeypatch.context() as m:
            _interrupt_after(m, k)
            with pytest.raises(KeyboardInterrupt):
                label(cfg)
    out = label(cfg)
    pairs = LabelStore(tiny_state_dataset).preferences()
    assert len(pairs) == 20
    assert len({pair_key(p.a, p.b) for p in pairs}) == 20  # no pair stored twice
    assert out is not None and (out["asked"], out["answered"]) == (20, 20)
    assert 0 < out["added"] < 20  # the last run only topped the budget up
    again = label(cfg)  # a finished labelling run again asks nothing
    assert again is not None and again["added"] == 0
    assert len(LabelStore(tiny_state_dataset).preferences()) == 20


def test_a_larger_budget_tops_up_and_a_smaller_one_adds_nothing(tiny_state_dataset):
    label(_prefs_config(tiny_state_dataset, queries=8))
    out = label(_prefs_config(tiny_state_dataset, queries=12))
    assert out is not None and (out["added"], out["asked"]) == (4, 12)
    out = label(_prefs_config(tiny_state_dataset, queries=5))
    assert out is not None and (out["added"], out["asked"]) == (0, 12)
    pairs = LabelStore(tiny_state_dataset).preferences()
    assert len({pair_key(p.a, p.b) for p in pairs}) == len(pairs) == 12


def test_goal_labelling_killed_and_run_again_stores_the_budget_once(
    tiny_pixel_dataset, monkeypatch
):
    cfg = LabelConfig(
        dataset=str(tiny_pixel_dataset),
        mode="goals",
        labeller="synthetic",
        positives=2,
        negatives=10,
        label_noise=0.2,
    )

    def killed(self: Any, success: Any) -> Any:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(SuccessLabeller, "label", killed)
        with pytest.raises(KeyboardInterrupt):
            label(cfg)
    assert LabelStore(tiny_pixel_dataset).frame_labels() == []  # nothing half-written
    first = label(cfg)
    labels = LabelStore(tiny_pixel_dataset).frame_labels()
    assert len(labels) == 12 == len({(x.episode, x.frame) for x in labels})
    assert first is not None
    assert (first["stored_positive"], first["stored_negative"]) == (
        sum(x.label == 1 for x in labels),
        sum(x.label == 0 for x in labels),
    )
    assert label(cfg) == first  # run again: the same frames, the same answers, nothing added
    again = LabelStore(tiny_pixel_dataset).frame_labels()
    assert {(x.episode, x.frame, x.label) for x in again} == {
        (x.episode, x.frame, x.label) for x in labels
    }


def test_the_pipeline_label_stage_resumed_agrees_with_the_reward_model(
    tiny_state_dataset, tmp_path, monkeypatch
):
    from robot_rl.data import Dataset
    from robot_rl.pipeline import PipelineConfig, Stages, _label
    from robot_rl.rewards.kinds.preference import PreferenceKind
    from robot_rl.rewards.preference import PreferenceConfig

    cfg = PipelineConfig(out=str(tmp_path / "run"), reward="preference", queries=20)

    def run_stage() -> Any:  # a new process each time: Stages re-reads stages.json
        stages = Stages(tmp_path / "run")
        return stages.run(
            "label",
            {"queries": 20},
            [],
            lambda fresh: _label(cfg, tiny_state_dataset, "preferences"),
        )

    with monkeypatch.context() as m:
        _interrupt_after(m, 7)
        with pytest.raises(KeyboardInterrupt):
            run_stage()
    result = run_stage()
    small = PreferenceConfig(hidden_dims=(16,), steps=2, batch_size=4, segment_length=5)
    *_, provenance = PreferenceKind().train(Dataset(tiny_state_dataset), small, 0, False, "cpu")
    assert result["asked"] == 20 and result["answered"] == provenance["pairs"] == 20
