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
    raise UserError(f"observation keys {sorted(keys)} match no mode of {list(OBS_MODES)}")


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


def prepare_run_dir(run_dir: Path, cfg: Any, overwrite: bool, ignore: tuple[str, ...]) -> bool:
    """Create or reuse a run directory. Returns True when a compatible run exists to resume.

    ``ignore`` lists config fields that may change on resume (e.g. the step budget).
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "run_config.json"
    digest = config_digest(cfg, ignore)
    if run_dir.exists() and overwrite:
        shutil.rmtree(run_dir)
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text()).get("digest")
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


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    import torch

    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    import torch

    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
