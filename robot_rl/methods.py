"""The fine-tuning methods: each a preset of the one online loop (issue 15: one definition).

RLPD, WSRL, SAC and the offline-method baselines differ only in the loop's settings (offline
share of each batch, warm-up rollouts, random steps, hindsight share) and in a few agent fields.
This table is their only definition: ``configs/method/*.yaml`` (what ``robot-rl finetune
method=NAME`` composes) is generated from it by ``scripts/gen_method_configs.py``, and the
pipeline, the benchmarks and the tests read it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from robot_rl.agents import config_with
from robot_rl.errors import UserError


@dataclass(frozen=True)
class MethodPreset:
    """One method: the online loop's settings plus the agent and its field overrides."""

    name: str
    agent_name: str  # an agent of robot_rl.agents.AGENTS
    description: str  # one line; the generated YAML's header comment
    offline_ratio: float = 0.0  # share of each batch drawn from the offline dataset
    warmup_steps: int = 0  # frozen init-policy rollouts into a fresh buffer, no updates (WSRL)
    random_steps: int = 0  # uniform random actions before learning starts (from scratch)
    hindsight: float = 0.0  # share of sampled transitions relabelled with a later goal (HER)
    agent: dict[str, Any] = field(default_factory=dict)  # fields over the agent's defaults

    def loop_settings(self) -> dict[str, Any]:
        """The FinetuneConfig fields this preset sets (besides the agent)."""
        return {
            "offline_ratio": self.offline_ratio,
            "warmup_steps": self.warmup_steps,
            "random_steps": self.random_steps,
            "hindsight": self.hindsight,
        }


# The RLPD critics (Ball et al. 2023: 10 LayerNorm critics, TD target the min over a random 2,
# UTD 20) at the budget a 2-core CPU affords: 4 critics, UTD 2 (an env step then costs ~50 ms on
# one core; measured in scripts/bench_learning.py, where this recipe takes the target-zone task
# from 0 to 0.88-0.92 in 15k env steps, 2 seeds). The paper's: agent.num_qs=10 agent.utd_ratio=20.
_RLPD_CRITICS = {"num_qs": 4, "num_min_qs": 2, "critic_layer_norm": True, "utd_ratio": 2}
_KEEP_OFFLINE = (
    "Baseline: keep fine-tuning with the offline method's own losses, retaining the offline data "
    "(50/50 batches). Needs init=CHECKPOINT of the same agent and dataset=DIR."
)

METHODS: dict[str, MethodPreset] = {
    preset.name: preset
    for preset in (
        MethodPreset(
            name="rlpd",
            agent_name="sac",
            description="RLPD (Ball et al. 2023): SAC + symmetric 50/50 offline/online batches, "
            "LayerNorm critics, the target as the min over a random 2 of the ensemble; 4 critics "
            "at UTD 2 on a laptop CPU (the paper: 10 at UTD 20).",
            offline_ratio=0.5,
            agent=dict(_RLPD_CRITICS),
        ),
        MethodPreset(
            name="wsrl",
            agent_name="sac",
            description="WSRL (Zhou et al. 2024): initialise from a (Cal-QL) checkpoint, roll out "
            "the frozen policy for a warm-up into a fresh buffer, keep no offline data, then "
            "RLPD-style SAC (the paper: 10 critics at UTD 4; here RLPD's 4 at UTD 2).",
            warmup_steps=5_000,
            agent=dict(_RLPD_CRITICS),
        ),
        MethodPreset(
            name="sac",
            agent_name="sac",
            description="Plain SAC from scratch (or from a SAC checkpoint): online data only.",
            random_steps=1_000,
            agent={"num_qs": 2, "num_min_qs": 2, "critic_layer_norm": False, "utd_ratio": 1},
        ),
        *(
            MethodPreset(name=m, agent_name=m, description=_KEEP_OFFLINE, offline_ratio=0.5)
            for m in ("calql", "cql", "iql")
        ),
        # New methods go here: one MethodPreset each (e.g. "her": SAC with hindsight=0.8), then
        # run `python scripts/gen_method_configs.py` to write configs/method/NAME.yaml.
    )
}


def method_preset(name: str) -> MethodPreset:
    """The preset called ``name``; an unknown name is a UserError listing the known ones."""
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def method_agent_config(name: str, **overrides: Any) -> Any:
    """The agent config dataclass of method ``name``: the agent's defaults, then the preset's
    fields, then ``overrides`` (e.g. a smaller network for a test or a benchmark)."""
    preset = method_preset(name)
    return config_with(preset.agent_name, **{**preset.agent, **overrides})
