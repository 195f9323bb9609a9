from __future__ import annotations

import time

from robot_rl.training.timing import Stopwatch


def test_stopwatch_charges_each_lap_to_its_name_per_step() -> None:
    w = Stopwatch()
    time.sleep(0.02)
    w.lap("env")
    w.lap("update")  # almost no time
    time.sleep(0.04)
    w.lap("env")
    out = w.report(steps=2)
    assert set(out) == {"perf/env_ms", "perf/update_ms"}
    assert 25 <= out["perf/env_ms"] <= 60  # (20 + 40 ms) / 2 steps, with scheduling slack
    assert out["perf/update_ms"] < out["perf/env_ms"]
    assert w.report(steps=1) == {}  # a report starts the next period afresh
