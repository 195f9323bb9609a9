"""SAC settings for learning from demonstrations: actor_delay and the Q-filtered BC term."""

from __future__ import annotations

import torch

from robot_rl.agents.sac import SAC, SACConfig
from robot_rl.types import ActionSpec, ArraySpec, Batch

STATE = {"state": ArraySpec((6,), "float32")}
ACT = ActionSpec(2)
CPU = torch.device("cpu")
SMALL = {"hidden_dims": (32, 32), "batch_size": 16}


def demo_batch(n: int, seed: int = 0, offline: float = 1.0) -> Batch:
    """Every row demonstrates the action (0.5, -0.5) and is rewarded for it."""
    g = torch.Generator().manual_seed(seed)
    return Batch(
        obs={"state": torch.randn(n, 6, generator=g)},
        action=torch.tensor([[0.5, -0.5]]).repeat(n, 1),
        reward=torch.ones(n),
        next_obs={"state": torch.randn(n, 6, generator=g)},
        terminated=torch.ones(n),
        extras={"offline": torch.full((n,), offline)},
    )


def test_actor_delay_trains_only_the_critic_first() -> None:
    torch.manual_seed(0)
    agent = SAC(SACConfig(**SMALL, actor_delay=3), STATE, ACT, CPU)
    steps = [0]
    agent.actor_opt.register_step_post_hook(lambda *_: steps.__setitem__(0, steps[0] + 1))
    batch = demo_batch(agent.sample_size)
    for _ in range(3):
        agent.update(batch)
    assert steps[0] == 0
    agent.update(batch)
    assert steps[0] == 1


def test_bc_weight_pulls_the_policy_to_demonstrated_actions() -> None:
    """With the BC term the mean action moves toward the demonstrations faster than without."""

    def distance_after(bc_weight: float, offline: float) -> float:
        torch.manual_seed(0)
        agent = SAC(SACConfig(**SMALL, bc_weight=bc_weight), STATE, ACT, CPU)
        for i in range(60):
            metrics = agent.update(demo_batch(agent.sample_size, seed=i, offline=offline))
        obs = {"state": torch.randn(256, 6).numpy()}
        act = torch.as_tensor(agent.act(obs))
        assert ("actor/bc_loss" in metrics) == (bc_weight > 0)
        return (act - torch.tensor([0.5, -0.5])).norm(dim=-1).mean().item()

    plain = distance_after(0.0, 1.0)
    assert distance_after(5.0, 1.0) < plain
    # rows not marked offline are never imitated: the same as no BC term at all
    assert abs(distance_after(5.0, 0.0) - plain) < 1e-6
