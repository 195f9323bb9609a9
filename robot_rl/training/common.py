"""Pieces both loops share: observation keys per mode, run-directory handling, data loading."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import UserError
from robot_rl.types import IMAGE_KEYS, PIXELS, PROPRIO, STATE, ObsSpec

OBS_MODES = {
    "state": (STATE,),
    "pixels": (PIXELS, PROPRIO),
    "both": (STATE, PIXELS, PROPRIO),
}


def obs_mode_of(spec_keys: Any) -> str:
    """The richest observation mode a set of keys supports (dataset or env)."""
    keys = set(spec_keys)
    if set(OBS_MODES["both"]) <= keys:
        return "both"
    if set(OBS_MODES["pixels"]) <= keys:
        return "pixels"
    if STATE in keys:
        return "state"
    hint = ""
    if {"observation", "desired_goal"} <= keys:  # a GoalEnv dictionary (robot_rl.data.goal_obs)
        hint = (
            "; a GoalEnv dictionary becomes state = observation + desired_goal on import: "
            "`robot-rl dataset import-minari`, or task=gym:<id> for an environment"
        )
    raise UserError(f"observation keys {sorted(keys)} match no mode of {list(OBS_MODES)}{hint}")


def select_obs_keys(available: ObsSpec, mode: str, where: str) -> tuple[str, ...]:
    """Keys an agent of ``mode`` needs, with a clear error if the data lacks them."""
    if mode == "auto":
        mode = obs_mode_of(available)
    if mode not in OBS_MODES:
        raise UserError(f"obs={mode!r} is not one of {['auto', *OBS_MODES]}")
    keys = OBS_MODES[mode]
    missing = [k for k in keys if k not in available]
    if missing:
        kind = "pixel" if any(k in IMAGE_KEYS for k in missing) else mode
        raise UserError(
            f"{where}: a {kind} agent (obs={mode}) needs keys {missing}, but the data has only "
            f"{sorted(available)}; collect with obs={mode} or choose obs={obs_mode_of(available)}"
        )
    return keys


def config_digest(cfg: Any, ignore: tuple[str, ...] = ()) -> str:
    is_instance = dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)
    d = dataclasses.asdict(cfg) if is_instance else dict(cfg)
    for k in ignore:
        d.pop(k, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def prepare_run_dir(
    run_dir: Path, cfg: Any, overwrite: bool, ignore: tuple[str, ...], kind: str = "run"
) -> bool:
    """Create or reuse a run directory. Returns True when a compatible run exists to resume.

    ``ignore`` lists config fields that may change on resume (e.g. the step budget; the first
    entry names the stage's budget field, which tells its runs apart from other stages').
    ``overwrite`` replaces only a directory that `check_replaceable` recognises as such a run.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "run_config.json"
    digest = config_digest(cfg, ignore)
    if (run_dir / "meta.json").exists():
        raise UserError(f"out={run_dir}: is a dataset; pass out=<a new directory> for the run")
    if run_dir.exists() and overwrite:
        check_replaceable(run_dir, ignore[0], kind)
        shutil.rmtree(run_dir)
    if cfg_path.exists():
        old = read_run_config(cfg_path).get("digest")
        if old != digest:
            raise UserError(
                f"{run_dir}: holds a run with a different config; pass out=<new dir> for a new "
                "run or overwrite=true to replace it"
            )
        return True
    from robot_rl.data.io import atomic_write_json

    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cfg_path, {"digest": digest, "config": dataclasses.asdict(cfg)})
    return False


def read_run_config(path: Path) -> dict[str, Any]:
    """``run_config.json``, or a one-line error saying what to do with a damaged one."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(
            f"{path}: damaged ({type(e).__name__}); remove the run directory or pass "
            "overwrite=true to start the run again"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise UserError(f"{path}: not a robot-rl run config; pass out=<new dir>")
    return doc


# The checkout, the user's home and the working directory are never a run to delete.
_CHECKOUT = Path(__file__).resolve().parents[2]


def check_replaceable(run_dir: Path, budget_field: str, kind: str) -> None:
    """Refuse ``overwrite=true`` on anything but an empty directory or a ``kind`` run (its
    run_config.json has the stage's ``budget_field``): never the working directory, a parent of
    it or of the checkout, or the home directory (`prepare_run_dir` refuses a dataset first)."""
    r = run_dir.resolve()
    for name, p in (("the working directory", Path.cwd()), ("the checkout", _CHECKOUT)):
        p = p.resolve()
        if r == p or r in p.parents:
            raise UserError(f"out={run_dir}: is {name} or a parent of it; refusing to delete it")
    if r == Path.home().resolve() or r == Path(r.anchor):
        raise UserError(f"out={run_dir}: refusing to delete the home or root directory")
    if not r.is_dir():
        raise UserError(f"out={run_dir}: is not a directory; refusing to delete it")
    if not any(p.name != ".lock" for p in r.iterdir()):
        return
    cfg_path = r / "run_config.json"
    if not cfg_path.exists():
        raise UserError(
            f"out={run_dir}: has no run_config.json, so it is not a {kind} run; refusing to "
            "delete it (remove it yourself or pass another out=)"
        )
    try:
        config = json.loads(cfg_path.read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return  # a damaged run config of a run directory: replacing it is what the user asked
    if isinstance(config, dict) and budget_field not in config:
        raise UserError(f"out={run_dir}: is another stage's run, not a {kind} run; refusing")


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    import torch

    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    import torch

    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
