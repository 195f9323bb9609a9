"""Running a stage through Hydra: typed dataclass schemas, YAML presets in configs/, one-line
errors. Code below the CLI never sees a DictConfig: `run` receives plain dataclasses."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robot_rl.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def fail(message: str) -> None:
    print(f"robot-rl: error: {message}", file=sys.stderr)
    sys.exit(2)


def register_agents(cs: Any) -> None:
    """Every agent preset as an option of the `agent` config group, schema = its dataclass."""
    from robot_rl.agents import AGENTS, default_config

    for name in AGENTS:
        cs.store(group="agent", name=name, node=default_config(name))


def run_stage(
    stage: str,
    argv: list[str],
    schema: type,
    run: Callable[[Any], Any],
    register: Callable[[Any], None] | None = None,
    choices: dict[str, str] | None = None,
) -> None:
    """Compose ``configs/<stage>.yaml`` over ``schema``, convert to dataclasses, call ``run``.

    ``choices`` maps a config group (e.g. "agent") to the schema field that records which
    option was chosen (e.g. "agent_name").
    """
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    import hydra
    from hydra.core.config_store import ConfigStore
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if not (CONFIG_DIR / f"{stage}.yaml").exists():
        fail(f"{CONFIG_DIR / stage}.yaml not found: is robot_rl installed from its source tree?")
    cs = ConfigStore.instance()
    cs.store(name=f"{stage}_schema", node=schema)
    if register is not None:
        register(cs)

    @hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name=stage)
    def _main(cfg: Any) -> None:
        try:
            for group, field_name in (choices or {}).items():
                cfg[field_name] = HydraConfig.get().runtime.choices[group]
            obj = OmegaConf.to_object(cfg)
            run(obj)
        except UserError as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted; re-run the same command to resume")

    sys.argv = [f"robot-rl {stage}", *argv, f"hydra.job.name={stage}"]
    _main()
