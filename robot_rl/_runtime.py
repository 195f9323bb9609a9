"""Process-wide settings that make CPU training faster; applied once when robot_rl is imported."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for reuse instead of returning it to the kernel.

    A CQL update allocates and frees tens of 16 MB activation tensors. By default glibc serves
    each from a fresh mmap and unmaps it on free, so every update pays the page faults of
    zero-filling them again: measured on this 2-core VM, CQL ran 16-18 updates/s by default and
    23-24 with freed memory kept. The cost is that a process's resident memory stays at its peak.
    Opt out with ROBOT_RL_MALLOC=default. Returns whether the settings were applied.
    """
    if os.environ.get("ROBOT_RL_MALLOC", "") == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest allowed value: 32 MiB
    ok &= mallopt(_M_TRIM_THRESHOLD, 1 << 40)
    ok &= mallopt(_M_TOP_PAD, 256 << 20)
    return bool(ok)
