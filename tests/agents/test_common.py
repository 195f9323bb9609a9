"""Shared agent helpers: Polyak averaging, observation conversion, augmentation, freezing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from robot_rl.agents.common import augment_obs, soft_update, to_torch_obs
from robot_rl.errors import UserError
from robot_rl.types import ArraySpec

SPEC = {"pixels": ArraySpec((16, 16, 3), "uint8"), "proprio": ArraySpec((3,), "float32")}


def test_soft_update_is_polyak_average():
    src, tgt = nn.Linear(3, 2), nn.Linear(3, 2)
    pairs = zip(tgt.parameters(), src.parameters())
    expect = [0.9 * t.detach() + 0.1 * s.detach() for t, s in pairs]
    soft_update(tgt, src, tau=0.1)
    for e, t in zip(expect, tgt.parameters()):
        torch.testing.assert_close(t.detach(), e)


def test_to_torch_obs_single_and_batched():
    one = {"pixels": np.zeros((16, 16, 3), np.uint8), "proprio": np.ones(3, np.float64)}
    t, single = to_torch_obs(one, SPEC, torch.device("cpu"))
    assert single and t["pixels"].shape == (1, 16, 16, 3) and t["pixels"].dtype == torch.uint8
    assert t["proprio"].dtype == torch.float32
    many = {k: np.stack([v] * 4) for k, v in one.items()}
    t, single = to_torch_obs(many, SPEC, torch.device("cpu"))
    assert not single and t["proprio"].shape == (4, 3)


def test_to_torch_obs_bad_input_names_the_key():
    with pytest.raises(UserError, match="proprio"):
        to_torch_obs({"pixels": np.zeros((16, 16, 3), np.uint8)}, SPEC, torch.device("cpu"))
    bad = {"pixels": np.zeros((16, 16, 3), np.uint8), "proprio": np.zeros(5, np.float32)}
    with pytest.raises(UserError, match="proprio"):
        to_torch_obs(bad, SPEC, torch.device("cpu"))


def test_augment_obs_shifts_images_only():
    torch.manual_seed(0)
    pix = torch.randint(0, 255, (8, 16, 16, 3), dtype=torch.uint8)
    prop = torch.randn(8, 3)
    out = augment_obs({"pixels": pix, "proprio": prop})
    assert out["proprio"] is prop
    assert out["pixels"].shape == pix.shape and out["pixels"].dtype == torch.uint8
    assert not torch.equal(out["pixels"], pix)
