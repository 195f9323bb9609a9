"""How each reward kind keeps learning during online fine-tuning, side by side. These are the
``classifier:`` and ``preference:`` groups of the fine-tuning config; every ``every: 0`` leaves
its model frozen."""

from __future__ import annotations

from dataclasses import dataclass

from robot_rl.errors import UserError
from robot_rl.rewards.query import METHODS
from robot_rl.rewards.teachers import teacher_config


@dataclass
class ClassifierUpdateConfig:
    """VICE/RAQ: keep training a goal classifier with policy-visited states as negatives."""

    every: int = 0  # env steps between classifier updates; 0 = frozen classifier
    steps: int = 50  # classifier gradient steps per update
    max_queries: int = 0  # RAQ: total queries to the (synthetic) labeller; 0 = none
    queries_per_update: int = 1
    # An update that drops the share of known positives (labelled goal frames and RAQ-confirmed
    # successes) scored as success below this, and lower than before it, is undone and logged
    # (classifier/rolled_back): the classifier keeps success while it learns negatives. 0 = off.
    min_positive_rate: float = 0.9
    # Share of each batch's negatives drawn from the RAQ-confirmed failures (the high-scoring
    # states the policy reached that were not success: its exploits), which otherwise are a few
    # among ~20k visited negatives; RAQ then asks about each episode's best frame first, so
    # those failures are different states. 0 = uniform negatives.
    hard_negatives: float = 0.0


@dataclass
class PreferenceUpdateConfig:
    """Online querying during fine-tuning (needs reward=<preference model checkpoint>)."""

    every: int = 0  # env steps between query rounds; 0 = the preference model stays frozen
    queries_per_update: int = 20  # pairs asked per round
    max_queries: int = 200  # total budget over the run
    method: str = "disagreement"  # uniform | disagreement | entropy
    teacher: str = "oracle"  # B-Pref: oracle noisy mistake skip equal myopic; goal (+ success)
    steps: int = 200  # gradient steps of each retraining (continues from the current weights)
    window: int = 100  # recent online episodes that query segments are drawn from

    def validate(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"preference.method={self.method!r}: choose one of {METHODS}")
        teacher_config(self.teacher)  # UserError naming the choices
        for name in ("queries_per_update", "max_queries", "steps", "window"):
            if getattr(self, name) < (1 if name == "window" else 0):
                raise UserError(f"preference.{name}={getattr(self, name)}: out of range")
