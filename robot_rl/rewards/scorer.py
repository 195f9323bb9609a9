"""What every learned reward's scorer shares: its model (kept in eval mode), a name, and the
observation keys and spec the model reads."""

from __future__ import annotations

from typing import Any

from robot_rl.types import ObsSpec


class ModelScorer:
    """Base of the reward kinds' scorers (`robot_rl.rewards.kinds.Scorer`)."""

    default_name = "reward"

    def __init__(self, model: Any, name: str | None = None):
        self.model, self.name = model.eval(), name or self.default_name
        self.obs_keys: tuple[str, ...] = model.obs_keys

    @property
    def obs_spec(self) -> ObsSpec:
        return self.model.obs_spec
