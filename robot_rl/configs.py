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


# Field name -> (check, what it must be): one table for every stage's config, nested ones
# included, so a value that would fail deep inside a run (a ZeroDivisionError at the first log,
# an empty network) is a one-line error before anything is written.
def _at_least(n: int) -> tuple[Any, str]:
    return (lambda v: v >= n), f"an integer >= {n}"


def _within(lo: float, hi: float, lo_open: bool, hi_open: bool) -> tuple[Any, str]:
    def ok(v: float) -> bool:
        return (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)

    return ok, f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


_POSITIVE = [
    "batch_size",
    "log_every",
    "checkpoint_every",
    "steps",
    "env_steps",
    "segment_length",
    "ensemble_size",
    "num_qs",
    "utd_ratio",
    "actor_update_every",
    "cql_n_actions",
    "feature_dim",
    "channels",
    "buffer_capacity",
    "workers",
    "visited_capacity",
    "video_size",
    "pretrain_steps",
    "classifier_steps",
    "model_steps",
    "window",
    "queries_per_update",
]
_NON_NEGATIVE = [
    "episodes",
    "eval_episodes",
    "warmup_steps",
    "random_steps",
    "every",
    "actor_delay",
    "max_queries",
    "queries",
    "positives",
    "negatives",
    "classifier_every",
    "classifier_queries",
    "online_queries",
    "query_budget",
    "cosine_steps",
    "shift_pad",
    "seed",
]
_POSITIVE_FLOAT = [
    "lr",
    "actor_lr",
    "critic_lr",
    "value_lr",
    "temperature_lr",
    "lagrange_lr",
    "init_temperature",
    "cql_temperature",
]
_NON_NEGATIVE_FLOAT = [
    "weight_decay",
    "grad_penalty",
    "bc_weight",
    "mixup_alpha",
    "cql_alpha",
    "beta",
    "uncertainty_penalty",
    "preference_penalty",
]
FIELD_RULES: dict[str, tuple[Any, str]] = {
    **{k: _at_least(1) for k in _POSITIVE},
    **{k: _at_least(0) for k in _NON_NEGATIVE},
    **{k: ((lambda v: v > 0), "> 0") for k in _POSITIVE_FLOAT},
    **{k: ((lambda v: v >= 0), ">= 0") for k in _NON_NEGATIVE_FLOAT},
    "expectile": _within(0, 1, True, True),
    "discount": _within(0, 1, False, True),
    "tau": _within(0, 1, True, False),
    "top_fraction": _within(0, 1, True, False),
    "offline_ratio": _within(0, 1, False, False),
    "hindsight": _within(0, 1, False, False),
    "holdout_fraction": _within(0, 1, False, True),
    "label_noise": _within(0, 1, False, False),
    "label_smoothing": _within(0, 1, False, True),
    "imported_augment": _within(0, 1, False, True),
    "hard_negatives": _within(0, 1, False, False),
    "min_positive_rate": _within(0, 1, False, False),
    "hidden_dims": (
        lambda v: len(v) > 0 and all(isinstance(h, int) and h >= 1 for h in v),
        "a non-empty list of layer widths >= 1, e.g. [256,256]",
    ),
}


def check_fields(cfg: Any, prefix: str = "") -> None:
    """UserError naming the first field of ``cfg`` (a dataclass, nested ones included) whose
    value breaks `FIELD_RULES`."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_fields(value, f"{prefix}{f.name}.")
            continue
        rule = FIELD_RULES.get(f.name)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if rule is None or not (numeric or f.name == "hidden_dims"):
            continue  # e.g. `show episodes=[0,3]`, a list where other stages have a count
        ok, what = rule
        if not ok(value):
            raise UserError(f"{prefix}{f.name}={_show(value)}: must be {what}")


def _show(value: Any) -> str:
    return f"[{','.join(map(str, value))}]" if isinstance(value, list | tuple) else str(value)
