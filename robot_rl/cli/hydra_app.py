"""Running a stage through Hydra: typed dataclass schemas, YAML presets in configs/, one-line
errors. Code below the CLI never sees a DictConfig: `run` receives plain dataclasses."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robot_rl.configs import check_fields
from robot_rl.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def fail(message: str) -> None:
    print(f"robot-rl: error: {message}", file=sys.stderr)
    sys.exit(2)


# Disk full, quota, read-only or permission denied: the user's to fix, not a bug to trace.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def run_dir_override(argv: list[str]) -> list[str]:
    """With ``out=DIR`` given, Hydra's own run directory is DIR as well, so Hydra does not make
    the default run directory of another run."""
    outs = [a.split("=", 1)[1] for a in argv if a.startswith("out=")]
    return [f"hydra.run.dir={outs[-1]}"] if outs and outs[-1] else []


def check_unknown_keys(given: Any, obj: Any, prefix: str = "") -> None:
    """UserError for a key (``+foo=1``) that no field of the schema reads: OmegaConf would drop
    it silently."""
    if not (dataclasses.is_dataclass(obj) and isinstance(given, dict)):
        return
    fields = {f.name for f in dataclasses.fields(obj)}
    for key, value in given.items():
        if key not in fields:
            raise UserError(f"unknown field {prefix}{key!r}; known: {', '.join(sorted(fields))}")
        check_unknown_keys(value, getattr(obj, key), f"{prefix}{key}.")


def _remove_if_empty(path: str) -> None:
    """Hydra makes its run directory before the stage starts; a stage refused on bad input
    leaves no empty directory behind."""
    if Path(path).resolve() != Path.cwd().resolve():
        with contextlib.suppress(OSError):
            Path(path).rmdir()


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
            check_unknown_keys(OmegaConf.to_container(cfg), obj)
            check_fields(obj)
            run(obj)
        except UserError as e:
            _remove_if_empty(HydraConfig.get().runtime.output_dir)
            fail(str(e))
        except OSError as e:
            if e.errno not in DISK_ERRORS:
                raise
            fail(
                f"{e.filename or 'a file'}: {e.strerror}; free space or fix permissions, then "
                "re-run the same command to resume"
            )
        except KeyboardInterrupt:
            fail("interrupted; re-run the same command to resume")

    sys.argv = [f"robot-rl {stage}", *argv, *run_dir_override(argv), f"hydra.job.name={stage}"]
    _main()
