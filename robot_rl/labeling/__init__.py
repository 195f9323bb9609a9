"""The local labeling web app: goal frames / goal images and preference pairs, saved at once.

``serve(dataset_root, mode="goals" | "preferences")``; ``make_server(...)`` for tests. The server
module is imported on first use so ``import robot_rl.labeling`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["make_server", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from robot_rl.labeling import server

        return getattr(server, name)
    raise AttributeError(f"module 'robot_rl.labeling' has no attribute {name!r}")
