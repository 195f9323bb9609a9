"""The checks pyproject.toml configures run with the tests: ruff (lint and format) and mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["robot_rl", "tests", "scripts"]


@pytest.mark.parametrize(
    "args",
    [
        ["ruff", "check", *PATHS],
        ["ruff", "format", "--check", *PATHS],
        ["mypy", "robot_rl"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_check_passes(args: list[str]) -> None:
    p = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, f"{' '.join(args)} failed:\n{p.stdout}{p.stderr}"
