"""Advisory locks on directories (a dataset, a run): a second writer gets a one-line error naming
the holder's pid and command instead of interleaving its files with the first one's.

The lock is an ``flock`` on ``<dir>/.lock``; the kernel releases it when the holder exits, even
by SIGKILL, so a stale lock file never blocks anyone. Locks are re-entrant within a process (the
pipeline holds its dataset while the collect stage it calls takes the same lock).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from robot_rl.errors import UserError

LOCK_NAME = ".lock"

try:  # POSIX; elsewhere locking is skipped (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_held: dict[Path, tuple[int, int]] = {}  # resolved dir -> (fd, depth)


def _holder(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text())
        return f"pid {info['pid']} ({info['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def dir_lock(path: str | Path, what: str = "directory") -> Iterator[None]:
    """Hold an exclusive lock on directory ``path`` (created if missing) for the block.

    Raises UserError at once, naming the holder, when another process holds it.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            _held[key] = (fd, _held[key][1] - 1)
        return
    lock = path / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(
                    f"{path}: {what} is in use by {_holder(lock)}; wait for it to finish or stop "
                    "it, then run again"
                ) from None
        os.ftruncate(fd, 0)
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command}).encode())
        _held[key] = (fd, 1)
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # releases the flock
