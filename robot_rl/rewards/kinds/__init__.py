"""Reward-model kinds: name -> how to label for it, train, save/load, score and update it online.

A kind is one file in this package holding a class with the `RewardKind` fields and methods, plus
one line in `REWARD_KINDS` below. Checkpoints, ``train-reward``, relabelling, the online loop and
the pipeline look a kind up here and never branch on its name. Its online-update settings go
beside the others in `robot_rl.rewards.updates`, as a field named after the kind in
`FinetuneConfig` (and its model config as one in ``TrainRewardConfig``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from robot_rl.errors import UserError
from robot_rl.rewards.kinds.classifier import ClassifierKind
from robot_rl.rewards.kinds.preference import PreferenceKind
from robot_rl.types import ObsSpec, RewardModel

if TYPE_CHECKING:
    import torch

    from robot_rl.data import Dataset


@runtime_checkable
class Scorer(RewardModel, Protocol):
    """A RewardModel the online loop can step one transition at a time."""

    @property
    def obs_spec(self) -> ObsSpec: ...

    def reward_and_done(
        self,
        obs: dict[str, torch.Tensor],
        action: torch.Tensor,
        next_obs: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(reward [B], whether the model itself ends the episode there [B] bool), in eval mode."""
        ...


@runtime_checkable
class OnlineUpdater(Protocol):
    """A reward model that keeps learning from the policy's episodes during fine-tuning."""

    def observe_episode(self, episode: Any) -> None: ...

    def update(self) -> dict[str, Any] | None:
        """One update round: its metrics, or None when the model did not change. Leaves the
        model in eval mode when it changed (the loop relabels its buffers next)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class RewardKind(Protocol):
    """What every stage knows of a reward-model kind."""

    name: str  # the ``kind`` of train-reward and of a checkpoint's config.json
    config: type  # the model's config dataclass, stored in config.json
    label_mode: str  # what labelling produces for it: goals | preferences
    terminates_episodes: bool  # its own success ends an episode (a classifier firing)
    up_to_constant: bool  # its rewards are fixed only up to a constant (preferences)
    sparse_fields: dict[str, Any]  # config fields for a 0/1 reward like the simulator's

    def build(self, obs_spec: ObsSpec, action_dim: int, cfg: Any) -> torch.nn.Module: ...

    def scorer(self, model: Any, name: str) -> Scorer: ...

    def threshold(self, model: Any) -> float | None: ...

    def default_config(self, obs_spec: ObsSpec, **fields: Any) -> Any: ...

    def train(
        self, ds: Dataset, cfg: Any, seed: int, progress: bool, device: str
    ) -> tuple[torch.nn.Module, Any, dict[str, float], dict[str, Any]]:
        """(model, its config, metrics, provenance fields) from the dataset's labels."""
        ...

    def synthetic_labels(self, dataset_root: str | Path, seed: int, **kwargs: Any) -> dict: ...

    def online(
        self, model: Any, model_cfg: Any, doc: dict[str, Any], update_cfg: Any, seed: int
    ) -> OnlineUpdater:
        """The updater of a loaded ``model`` (put in train mode), whose checkpoint holds ``doc``."""
        ...


_KINDS: tuple[RewardKind, ...] = (ClassifierKind(), PreferenceKind())  # the registration
REWARD_KINDS: dict[str, RewardKind] = {k.name: k for k in _KINDS}


def kind_choices() -> str:
    """'classifier' or 'preference' (for error messages)."""
    return " or ".join(repr(k) for k in REWARD_KINDS)


def get_kind(name: str) -> RewardKind:
    """The registered kind ``name``; a UserError naming the choices otherwise."""
    if name not in REWARD_KINDS:
        raise UserError(f"reward kind must be {kind_choices()}, got {name!r}")
    return REWARD_KINDS[name]
