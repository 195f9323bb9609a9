"""Environment tests: headless rendering, one llvmpipe thread, envs closed at session end."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco
os.environ.setdefault("LP_NUM_THREADS", "1")

import pytest


@pytest.fixture(scope="session", autouse=True)
def _close_envs():
    yield
    from envs_helpers import close_all

    close_all()
