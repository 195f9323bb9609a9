"""Atomic writes: a crash leaves the old version or the new one, never half. Files go through
`robot_rl.data.format.atomic_write`; directories (checkpoints) through `atomic_dir`."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robot_rl.data.format import _umask, atomic_write_json
from robot_rl.data.format import read_json as _read_json
from robot_rl.errors import UserError

__all__ = ["atomic_write_json", "atomic_dir", "read_json", "recover_dir"]


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block succeeds.

    The old directory is moved aside first and deleted only after the new one is in place, so
    at every instant either the old or the new version exists (see `recover_dir`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())  # what mkdir would give, not mkdtemp's 0o700
    try:
        yield tmp
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recover_dir(path: Path) -> None:
    """After a crash between the two renames of `atomic_dir`, put the old version back."""
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.exists():
        os.replace(old, path)


def read_json(path: Path, what: str = "file") -> dict[str, Any]:
    """A JSON object from ``path``; UserError naming the file otherwise."""
    if not Path(path).exists():
        raise UserError(f"{path}: {what} not found")
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a JSON object")
    return doc
