"""Directory locks: a second process gets a one-line error naming the holder; the lock is gone
when the holder dies; the same process may nest it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from robot_rl.data.lock import dir_lock
from robot_rl.errors import UserError

HOLD = """
import sys, time
from robot_rl.data.lock import dir_lock
with dir_lock(sys.argv[1], "dataset"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(path):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    p = _holder(tmp_path / "ds")
    try:
        with (
            pytest.raises(UserError, match=rf"dataset is in use by pid {p.pid}"),
            dir_lock(tmp_path / "ds", "dataset"),
        ):
            pass
    finally:
        p.kill()
        p.wait()
    # the kernel released the killed holder's lock: the stale file blocks nobody
    with dir_lock(tmp_path / "ds", "dataset"):
        pass


def test_lock_nests_within_one_process(tmp_path):
    with dir_lock(tmp_path / "run"):
        with dir_lock(tmp_path / "run"):
            pass
        p = subprocess.run(
            [sys.executable, "-c", HOLD, str(tmp_path / "run")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert p.returncode != 0 and "in use by pid" in p.stderr
    t = time.time()
    with dir_lock(tmp_path / "run"):  # released after the outer block
        assert time.time() - t < 5
