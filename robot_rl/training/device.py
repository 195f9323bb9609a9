"""Device choice and thread settings."""

from __future__ import annotations

import random

import numpy as np
import torch

from robot_rl.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` uses a CUDA GPU when one is present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UserError(f"device={name!r}: not a device; use auto, cpu, cuda or cuda:<n>") from None
    if device.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (device.index or 0) >= n:
            raise UserError(
                f"device={name}: this machine has {n} usable CUDA GPU(s); use device=auto or cpu"
            )
    elif device.type != "cpu" and device.type != "mps":
        raise UserError(f"device={name!r}: use auto, cpu, cuda or cuda:<n>")
    return device


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
