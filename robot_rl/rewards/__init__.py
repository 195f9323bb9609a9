"""Reward learning: goal classifiers (VICE/RAQ, SERL), preference models (PEBBLE/B-Pref),
synthetic teachers, query selection, checkpoints and dataset relabelling.

Modules: ``losses`` (pure), ``metrics``, ``classifier``, ``preference``, ``segments``,
``teachers``, ``query``, ``model_io`` (RewardModel wrappers + checkpoints), ``relabel``, ``train``.
Nothing is imported here so ``import robot_rl.rewards`` stays light (torch loads on use).
"""
