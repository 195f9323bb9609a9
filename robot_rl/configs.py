"""Rebuilding typed config dataclasses from JSON (checkpoints carry their own config)."""

from __future__ import annotations

import dataclasses
from typing import Any

from robot_rl.errors import UserError


def dataclass_from_dict(cls: type, data: Any, source: str) -> Any:
    """``cls`` with fields from ``data`` (nested dataclasses included); unknown fields are
    ignored (older or newer checkpoints), wrong types are a UserError naming ``source``."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(data, dict):
        raise UserError(f"{source}: config must be a JSON object")
    known = {f.name for f in dataclasses.fields(cls)}
    try:
        merged = OmegaConf.merge(
            OmegaConf.structured(cls), {k: v for k, v in data.items() if k in known}
        )
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise UserError(f"{source}: invalid config ({str(e).splitlines()[0]})") from None
