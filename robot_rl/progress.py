"""Progress bars: live on a terminal, a line every 30 s in logs (CI, nohup, Slurm)."""

from __future__ import annotations

import sys
from typing import Any


def progress(
    iterable: Any = None,
    *,
    total: int | None = None,
    desc: str = "",
    disable: bool = False,
    **kwargs: Any,
) -> Any:
    """A tqdm bar whose refresh rate suits where stderr goes."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.2 if tty else 30.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, total=total, desc=desc, disable=disable, **kwargs)
