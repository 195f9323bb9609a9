"""Where the time of a loop goes: a stopwatch with named laps, reported per step."""

from __future__ import annotations

import time
from collections import defaultdict


class Stopwatch:
    """``lap(name)`` charges the time since the previous lap to ``name``; ``report(steps)``
    gives milliseconds per step of each part since the last report (``perf/<name>_ms``). On a
    GPU the update's kernels run asynchronously, so its time shows up in the next sync."""

    def __init__(self) -> None:
        self._total: dict[str, float] = defaultdict(float)
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self._total[name] += now - self._last
        self._last = now

    def report(self, steps: int) -> dict[str, float]:
        out = {f"perf/{k}_ms": 1000.0 * v / max(steps, 1) for k, v in self._total.items()}
        self._total.clear()
        return out
