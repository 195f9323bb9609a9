"""Bad input on the command line: a clear one-line error and exit status 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "robot_rl.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(p: subprocess.CompletedProcess, *fragments: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    err = [ln for ln in p.stderr.splitlines() if ln.startswith("robot-rl: error:")]
    assert len(err) == 1 and "Traceback" not in p.stderr, p.stderr
    for f in fragments:
        assert f in err[0], err[0]


def test_help_lists_every_stage():
    p = cli("--help")
    assert p.returncode == 0
    for stage in ("collect", "pretrain", "finetune", "pipeline", "train-reward", "relabel"):
        assert stage in p.stdout


def test_unknown_stage():
    assert_one_line_error(cli("trian"), "unknown stage 'trian'")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["pretrain", "dataset=/nonexistent/ds"], ["/nonexistent/ds"]),
        (["pretrain", "dataset={ds}", "reward_key=reward.nope"], ["reward.nope", "not found"]),
        (["pretrain", "dataset={ds}", "obs=pixels"], ["pixel agent"]),
        (["pretrain", "dataset={ds}", "steps=0"], ["steps=0"]),
        (["finetune", "method=wsrl", "task=push"], ["init=CHECKPOINT"]),
        (["finetune", "method=rlpd", "task=push"], ["dataset=DIR"]),
        (["finetune", "method=sac", "task=push", "agent.utd_ratio=0"], ["utd_ratio=0"]),
        (["finetune", "method=sac", "task=push", "init={ds}"], ["no checkpoint"]),
        (["relabel", "dataset={ds}", "reward=/nonexistent/ckpt"], ["/nonexistent/ckpt"]),
        (["train-reward", "dataset={ds}", "kind=classifier"], ["pixels"]),
        (["train-reward", "dataset={ds}", "kind=nonsense"], ["classifier", "preference"]),
        (["collect", "task=nosuch", "out=x"], ["unknown task 'nosuch'"]),
        (["collect", "task=push", "episodes=0", "out=x"], ["episodes=0"]),
        (["collect", "task=push", "mixture=expert:abc", "out=x"], ["'abc'"]),
        (["collect", "task=push", "mixture=wizard:1", "out=x"], ["unknown policy 'wizard'"]),
        (["collect", "task=push", "obs=thermal", "out=x"], ["obs='thermal'"]),
        (["collect", "task=push", "workers=0", "out=x"], ["workers=0"]),
        (["collect", "task=zone", "display_size=64", "out=x"], ["display_size=64", "image_size"]),
        (["pipeline", "labeller=web", "display_size=999"], ["display_size=999", "480"]),
        (["evaluate", "ckpt=/nonexistent/run"], ["no checkpoint"]),
        (["show", "dataset={ds}"], ["no image key 'pixels'"]),
        (["label", "dataset={ds}", "mode=colours"], ["mode='colours'"]),
        (["label", "dataset={ds}", "mode=goals", "open_browser=false"], ["image"]),
        (["pipeline", "reward=vibes"], ["reward='vibes'"]),
        (["pipeline", "finetune_method=ppo"], ["finetune_method='ppo'"]),
        (["finetune", "method=sac", "task=push", "offline_ratio=1.5"], ["offline_ratio=1.5"]),
        (["pretrain", "dataset={ds}", "+foo=1"], ["unknown field 'foo'"]),
        (["pretrain", "dataset={ds}", "agent=iql", "agent.expectile=1.5"], ["agent.expectile"]),
        (["pretrain", "dataset={ds}", "agent.hidden_dims=[]"], ["hidden_dims=[]"]),
        (["pretrain", "dataset={ds}", "agent.batch_size=0"], ["batch_size=0"]),
        (["pretrain", "dataset={ds}", "log_every=0"], ["log_every=0"]),
        (["finetune", "method=sac", "task=push", "checkpoint_every=0"], ["checkpoint_every=0"]),
        (["pretrain", "dataset={ds}", "device=cuda:7"], ["device=cuda:7", "GPU"]),
        (["evaluate", "ckpt=x", "episodes=-1"], ["episodes=-1"]),
        (["train-reward", "dataset={ds}", "classifier.steps=0"], ["classifier.steps=0"]),
    ],
)
def test_bad_input_is_one_line(tiny_state_dataset, tmp_path, args, fragments):
    args = [a.format(ds=tiny_state_dataset) for a in args]
    if args[0] in ("pretrain", "finetune", "train-reward"):
        args.append(f"out={tmp_path / 'out'}")
    assert_one_line_error(cli(*args, cwd=tmp_path), *fragments)


def test_corrupt_checkpoint_config(tiny_state_dataset, tmp_path):
    ckpt = tmp_path / "run" / "checkpoint"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{ not json")
    (ckpt / "agent.pt").write_bytes(b"")
    assert_one_line_error(cli("evaluate", f"ckpt={tmp_path / 'run'}"), "config.json")


def test_label_file_edited_into_invalid_json(tiny_state_dataset):
    (tiny_state_dataset / "labels").mkdir()
    (tiny_state_dataset / "labels" / "goals.json").write_text('{"schema_version": 1, "frames": [')
    p = cli(
        "train-reward",
        f"dataset={tiny_state_dataset}",
        "kind=classifier",
        "classifier.image_keys=[]",
        "classifier.state_keys=[state]",
    )
    assert_one_line_error(p, "goals.json", "invalid JSON")


def test_truncated_episode_file_is_named(tiny_state_dataset, tmp_path):
    path = sorted((tiny_state_dataset / "episodes").glob("*.npz"))[0]
    path.write_bytes(path.read_bytes()[:100])
    p = cli(
        "pretrain",
        f"dataset={tiny_state_dataset}",
        "agent=bc",
        f"out={tmp_path / 'o'}",
        cwd=tmp_path,
    )
    assert_one_line_error(p, path.name)


def test_dataset_check_lists_problems(tiny_state_dataset):
    p = cli("dataset", "check", str(tiny_state_dataset))
    assert p.returncode == 1 and "unknown task 'tiny'" in p.stdout  # a synthetic task
    meta = json.loads((tiny_state_dataset / "meta.json").read_text())
    (tiny_state_dataset / "meta.json").write_text(json.dumps({**meta, "task": "push"}))
    assert cli("dataset", "check", str(tiny_state_dataset)).returncode == 0
    path = sorted((tiny_state_dataset / "episodes").glob("*.npz"))[1]
    arrays = dict(np.load(path))
    arrays["action"][0, 0] = np.nan
    np.savez(path, **arrays)
    p = cli("dataset", "check", str(tiny_state_dataset))
    assert p.returncode == 1 and path.name in p.stdout and "action" in p.stdout
    assert "Traceback" not in p.stderr


def test_disk_full_or_read_only_is_one_line(capsys):
    """ENOSPC, EROFS, EACCES from any stage: the file and what to do, no traceback."""
    import errno

    from robot_rl.cli.evaluate import EvaluateConfig
    from robot_rl.cli.hydra_app import run_stage

    def full(cfg):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/checkpoint/agent.pt")

    with pytest.raises(SystemExit) as e:
        run_stage("evaluate", ["ckpt=x"], EvaluateConfig, full)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.count("\n") == 0
    assert "runs/x/checkpoint/agent.pt: No space left on device" in err and "re-run" in err


def test_label_goals_from_must_be_a_folder(tiny_pixel_dataset, tmp_path):
    result = cli(
        "label",
        f"dataset={tiny_pixel_dataset}",
        f"goals_from={tmp_path / 'no_pictures'}",
        "open_browser=false",
        "port=0",
        cwd=tmp_path,
    )
    assert_one_line_error(result, "goals_from=", "not a folder")


def test_collect_with_another_mixture_into_a_dataset_is_one_line(tmp_path):
    # no cwd=: the subprocess must import this checkout's robot_rl, not an installed one
    out = tmp_path / "ds"
    args = ["collect", "task=reach", "obs=state", "episodes=1", "progress=false", f"out={out}"]
    assert cli(*args, "mixture=expert:1").returncode == 0
    assert_one_line_error(cli(*args, "mixture=random:1"), "mixture=expert:1 seed=0", "append=true")
    p = cli(*args, "mixture=random:1", "episodes=2", "append=true")
    assert p.returncode == 0, p.stderr
    assert cli("dataset", "check", str(out)).returncode == 0
