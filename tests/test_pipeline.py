"""The main job end to end on tiny budgets: every stage runs, a re-run skips them all, the HTML
report renders in a real browser, and a Hydra sweep runs locally in parallel."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robot_rl.pipeline import PipelineConfig, run_pipeline
from robot_rl.training.checkpoint import read_checkpoint_info

TINY = dict(
    episodes=8,
    workers=1,
    image_size=32,
    positives=8,
    negatives=24,
    classifier_steps=5,
    pretrain_steps=20,
    env_steps=60,
    warmup_steps=20,
    eval_episodes=1,
    eval_every=60,
    classifier_every=30,
    utd_ratio=1,
    progress=False,
    device="cpu",
    pretrain={"layer_norm": True, "hidden_dims": [32, 32], "batch_size": 16},
    finetune={"hidden_dims": [32, 32], "batch_size": 16, "num_qs": 2},
)
FT = f"finetune-{PipelineConfig().finetune_method}"  # the default method's run directory


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pipeline") / "run"
    run_pipeline(PipelineConfig(out=str(out), **TINY))
    return out


@pytest.mark.slow
def test_pipeline_runs_every_stage_and_skips_them_on_rerun(pipeline_run, capsys):
    stages = json.loads((pipeline_run / "stages.json").read_text())
    assert set(stages) == {
        "collect",
        "label",
        "train_reward",
        "relabel",
        "pretrain",
        "finetune",
        "evaluate",
    }
    assert all(s["done"] for s in stages.values())
    summary = json.loads((pipeline_run / "summary.json").read_text())
    # The summary reports what the evaluate stage measured on the fine-tuned checkpoint, which
    # is the finished run (all env_steps), evaluated on max(eval_episodes, 50) = 50 episodes.
    finetuned = stages["evaluate"]["result"]["finetuned"]
    assert summary["success_finetuned"] == finetuned["eval/success_rate"]
    evaluation = json.loads((pipeline_run / FT / "evaluation.json").read_text())
    assert evaluation["episodes"] == 50
    assert evaluation["eval/success_rate"] == finetuned["eval/success_rate"]
    info = read_checkpoint_info(pipeline_run / FT)
    assert info.step == TINY["env_steps"]
    # The data holds frames for the classifier; the agents act on state (a pixel agent made
    # each update ~20x slower and was never asked for).
    assert info.obs_mode == read_checkpoint_info(pipeline_run / "pretrain-iql").obs_mode == "state"
    run_pipeline(PipelineConfig(out=str(pipeline_run), **TINY))
    out = capsys.readouterr().out
    assert out.count("up to date, skipped") == 7


@pytest.mark.slow
def test_pipeline_spends_its_raq_query_budget_over_the_run(pipeline_run):
    from robot_rl.training.checkpoint import load_loop_state

    state = load_loop_state(pipeline_run / FT / "checkpoint")
    used = state["reward"]["updater"]["queries_used"]
    # 2 classifier updates (every 30 of 60 env steps) share the default budget of 25; each asks
    # about the states seen so far. One query per update would stop at 2.
    assert 2 < used <= PipelineConfig().classifier_queries


@pytest.mark.slow
def test_a_copied_run_directory_is_still_up_to_date(pipeline_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(pipeline_run, copy)
    capsys.readouterr()
    run_pipeline(PipelineConfig(out=str(copy), **TINY))
    assert capsys.readouterr().out.count("up to date, skipped") == 7
    # A changed fine-tuning setting re-runs fine-tuning (and evaluation), nothing upstream.
    run_pipeline(PipelineConfig(out=str(copy), **{**TINY, "classifier_every": 0}))
    out = capsys.readouterr().out
    assert out.count("up to date, skipped") == 5
    assert "[pipeline] finetune: running" in out


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_headless_chromium(pipeline_run, tmp_path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh --test installs it)")
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto((pipeline_run / "report.html").as_uri())
        assert f"robot_rl pipeline: {PipelineConfig().task}" in page.inner_text("h1")
        images = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(images) >= 2 and all(w > 100 for w in images)  # plots decoded, not broken
        assert page.locator("video").count() == 2
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        # Slurm's path (hydra-submitit-launcher), run by submitit's local executor: each job a
        # submitted process, as on a cluster; hydra/launcher=submitit_slurm there.
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    ],
    ids=["joblib", "submitit"],
)
def test_local_parallel_sweep(tiny_state_dataset, tmp_path, launcher):
    cmd = [
        sys.executable,
        "-m",
        "robot_rl.cli.main",
        "pretrain",
        "-m",
        f"dataset={tiny_state_dataset}",
        "agent=bc",
        "seed=0,1",
        "steps=10",
        "eval.episodes=0",
        "agent.hidden_dims=[16,16]",
        "agent.batch_size=8",
        "progress=false",
        *launcher,
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    sweep = (tmp_path / "sweep").iterdir()
    runs = sorted(d.name for d in sweep if d.is_dir() and not d.name.startswith("."))
    assert runs == ["bc-s0-0", "bc-s1-1"]
    for r in runs:
        assert (tmp_path / "sweep" / r / "checkpoint" / "agent.pt").exists()


@pytest.mark.slow
def test_pipeline_with_a_preference_reward_trains_for_its_configured_steps(tmp_path, monkeypatch):
    """reward=preference with active queries: every stage runs, and the reward-model steps the
    pipeline is given reach both the query rounds' ensembles and the final model."""
    import robot_rl.rewards.kinds.preference as train  # where both trainings call it

    steps_seen = []
    real = train.train_preference

    def spy(cfg, *args, **kwargs):
        steps_seen.append(cfg.steps)
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(train, "train_preference", spy)
    out = tmp_path / "pref"
    cfg = {**TINY, "reward": "preference", "queries": 12, "query_method": "disagreement"}
    run_pipeline(PipelineConfig(out=str(out), **cfg))
    stages = json.loads((out / "stages.json").read_text())
    assert all(s["done"] for s in stages.values()) and "relabel" in stages
    saved = json.loads((out / "reward-preference" / "config.json").read_text())
    assert saved["kind"] == "preference" and saved["config"]["steps"] == TINY["classifier_steps"]
    assert len(steps_seen) >= 2 and set(steps_seen) == {TINY["classifier_steps"]}
    # the learned reward, known only up to a constant, is shifted so every step costs
    for run in ("pretrain-iql", FT):
        run_cfg = json.loads((out / run / "run_config.json").read_text())
        assert run_cfg["config"]["reward_bias"] == -1.0, run


def test_a_changed_mixture_on_an_existing_out_is_refused_before_any_stage(tmp_path):
    from robot_rl.envs.collect import collect
    from robot_rl.errors import UserError

    out = tmp_path / "run"
    collect("zone", out / "data", 2, mixture="expert:1", obs="both", image_size=32, progress=False)
    cfg = PipelineConfig(out=str(out), **{**TINY, "episodes": 2, "mixture": "play:1"})
    with pytest.raises(UserError, match=r"mixture=expert:1 seed=0 .*play:1.*new out="):
        run_pipeline(cfg)
    assert not (out / "stages.json").exists() or "collect" not in json.loads(
        (out / "stages.json").read_text()
    )


def test_web_labelling_collects_display_frames_and_a_bad_size_is_refused_first(tmp_path):
    from robot_rl.errors import UserError
    from robot_rl.pipeline import _display_size

    assert _display_size(PipelineConfig(labeller="web")) == 256
    assert _display_size(PipelineConfig(labeller="synthetic")) == 0  # nobody looks at them
    cfg = PipelineConfig(out=str(tmp_path / "run"), labeller="web", display_size=48)
    with pytest.raises(UserError, match=r"display_size=48: .*larger than image_size=64"):
        run_pipeline(cfg)
    assert not (tmp_path / "run").exists()


def test_a_bad_teacher_is_refused_before_anything_runs(tmp_path):
    from robot_rl.errors import UserError

    with pytest.raises(UserError, match=r"unknown teacher 'lazy'; choose one of .*'goal'"):
        run_pipeline(PipelineConfig(out=str(tmp_path / "run"), reward="preference", teacher="lazy"))
    assert not (tmp_path / "run").exists()


def test_online_preference_queries_are_spread_over_the_runs_query_rounds(tmp_path):
    from robot_rl.pipeline import Plan, _finetune_config
    from robot_rl.rewards.kinds import REWARD_KINDS

    def config(**kw):
        cfg = PipelineConfig(out=str(tmp_path), env_steps=15_000, classifier_every=1_000, **kw)
        return _finetune_config(Plan(cfg, REWARD_KINDS[cfg.reward], tmp_path))

    online = config(reward="preference", online_queries=300, query_method="uniform")
    assert (online.preference.every, online.preference.max_queries) == (1_000, 300)
    assert online.preference.queries_per_update == 20  # 15 rounds share the 300
    assert online.preference.method == "uniform" and online.classifier.every == 0
    assert online.preference.teacher == "oracle"  # the pipeline's teacher, before and during
    # Without online queries the preference model stays frozen; the classifier's VICE
    # updates are the classifier's alone.
    assert config(reward="preference").preference.every == 0
    assert config(reward="classifier", online_queries=300).preference.every == 0


def test_preference_penalty_reaches_the_preference_model_only():
    from robot_rl.pipeline import _penalty

    assert _penalty(PipelineConfig(reward="preference", preference_penalty=1.0)) == {
        "uncertainty_penalty": 1.0
    }
    assert _penalty(PipelineConfig(reward="preference")) == {}  # digests of older runs hold
    assert _penalty(PipelineConfig(reward="classifier", preference_penalty=1.0)) == {}
