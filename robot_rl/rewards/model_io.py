"""Reward checkpoints on disk and the RewardModel wrappers later stages use.

A checkpoint directory holds ``config.json`` (kind, model config, observation spec, action dim,
threshold, training metrics, provenance) and ``model.pt`` (the state dict); it is written into a
temporary sibling directory and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from robot_rl.errors import UserError
from robot_rl.rewards.kinds import REWARD_KINDS, RewardKind, Scorer
from robot_rl.rewards.kinds.classifier import ClassifierReward
from robot_rl.rewards.kinds.preference import PreferenceReward
from robot_rl.types import ObsSpec, obs_spec_from_json, obs_spec_to_json

CONFIG_FILE = "config.json"
MODEL_FILE = "model.pt"
KINDS = tuple(REWARD_KINDS)
SCHEMA_VERSION = 1

# The RewardModel wrappers live with their kinds; imported from here by tests and scripts.
__all__ = [
    "KINDS",
    "ClassifierReward",
    "PreferenceReward",
    "load_reward",
    "load_reward_config",
    "load_reward_model",
    "read_reward_config",
    "save_reward",
]


def _config_from_json(cls: type, d: Any, source: str) -> Any:
    """Rebuild a config dataclass; lists become tuples; unknown fields are an error."""
    if not isinstance(d, dict):
        raise UserError(f"{source}: field 'config' must be an object")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise UserError(f"{source}: unknown field(s) config.{unknown[0]} for {cls.__name__}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def save_reward(
    out_dir: str | Path,
    kind: str,
    model: torch.nn.Module,
    cfg: Any,
    action_dim: int,
    metrics: dict[str, float] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a reward checkpoint directory atomically (replacing an existing one)."""
    if kind not in KINDS:
        raise UserError(f"reward kind must be one of {KINDS}, got {kind!r}")
    out = Path(out_dir)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "config": dataclasses.asdict(cfg),
        "obs_spec": obs_spec_to_json(model.obs_spec),  # type: ignore[arg-type]
        "obs_keys": list(model.obs_keys),  # type: ignore[arg-type]
        "action_dim": int(action_dim),
        "threshold": REWARD_KINDS[kind].threshold(model),
        "metrics": {k: (v if v == v else None) for k, v in (metrics or {}).items()},  # NaN->null
        "provenance": provenance or {},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        torch.save(model.state_dict(), tmp / MODEL_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        for f in (MODEL_FILE, CONFIG_FILE):
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        old = None
        if out.exists():  # rename(2) cannot replace a non-empty directory: move it aside first
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return out


def read_reward_config(ckpt_dir: str | Path) -> dict[str, Any]:
    """The validated config.json of a reward checkpoint."""
    d = Path(ckpt_dir)
    path = d / CONFIG_FILE
    if not d.is_dir():
        raise UserError(f"{d}: reward checkpoint directory not found")
    if not path.exists():
        raise UserError(f"{path}: file not found (not a reward checkpoint directory?)")
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a JSON object")
    for key in ("kind", "config", "obs_spec", "action_dim"):
        if key not in doc:
            raise UserError(f"{path}: missing field {key!r}")
    if doc["kind"] not in KINDS:
        raise UserError(f"{path}: field 'kind' must be one of {KINDS}, got {doc['kind']!r}")
    if doc.get("schema_version", 1) > SCHEMA_VERSION:
        raise UserError(f"{path}: field 'schema_version' is newer than this robot_rl reads")
    return doc


def load_reward_config(ckpt_dir: str | Path) -> Any:
    """The typed model config stored in a checkpoint's config.json."""
    doc = read_reward_config(ckpt_dir)
    cls = REWARD_KINDS[doc["kind"]].config
    return _config_from_json(cls, doc["config"], str(Path(ckpt_dir) / CONFIG_FILE))


def load_reward(
    ckpt_dir: str | Path, expect_kind: str | None = None, device: str | torch.device = "cpu"
) -> Scorer:
    """Rebuild the reward model of a checkpoint directory from the directory alone."""
    kind, model = load_reward_model(ckpt_dir, expect_kind, device)
    return kind.scorer(model, Path(ckpt_dir).name)


def load_reward_model(
    ckpt_dir: str | Path, expect_kind: str | None = None, device: str | torch.device = "cpu"
) -> tuple[RewardKind, torch.nn.Module]:
    """The kind and the bare model (a torch module) of a checkpoint directory."""
    d = Path(ckpt_dir)
    doc = read_reward_config(d)
    kind = REWARD_KINDS[doc["kind"]]
    if expect_kind is not None and kind.name != expect_kind:
        raise UserError(
            f"{d / CONFIG_FILE}: field 'kind' is {kind.name!r}, expected {expect_kind!r}"
        )
    source = str(d / CONFIG_FILE)
    try:
        spec: ObsSpec = obs_spec_from_json(doc["obs_spec"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{source}: field 'obs_spec' is malformed ({e})") from None
    model_cfg = _config_from_json(kind.config, doc["config"], source)
    model = kind.build(spec, doc["action_dim"], model_cfg)
    weights = d / MODEL_FILE
    if not weights.exists():
        raise UserError(f"{weights}: file not found")
    try:
        state = torch.load(weights, map_location=device, weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # truncated file, or weights that do not fit the config
        raise UserError(f"{weights}: cannot load ({type(e).__name__}: {e})") from None
    model.to(device)
    return kind, model
