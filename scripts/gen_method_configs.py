"""Write configs/method/*.yaml from the method table in robot_rl/methods.py.

    python scripts/gen_method_configs.py          # (re)write every method's YAML
    python scripts/gen_method_configs.py --check  # exit 1 if a file differs from the table

tests/test_methods.py runs the check, so the YAML can never drift from the table.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from robot_rl.methods import METHODS, MethodPreset

METHOD_DIR = Path(__file__).resolve().parents[1] / "configs" / "method"
HEADER = (
    "# generated from robot_rl/methods.py by scripts/gen_method_configs.py; "
    "edit the table, not this file"
)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float | str):
        return str(value)
    raise TypeError(f"method presets hold scalars only; got {value!r}")


def method_yaml(preset: MethodPreset) -> str:
    """The text of configs/method/<name>.yaml for ``preset`` (a Hydra config-group option)."""
    lines = ["# @package _global_", HEADER]
    lines += textwrap.wrap(preset.description, 98, initial_indent="# ", subsequent_indent="# ")
    lines += [
        "defaults:",
        f"  - override /agent: {preset.agent_name}",
        f"method: {preset.name}",
        f"offline_ratio: {_scalar(float(preset.offline_ratio))}",
        f"warmup_steps: {_scalar(preset.warmup_steps)}",
        f"random_steps: {_scalar(preset.random_steps)}",
    ]
    if preset.hindsight:
        lines.append(f"hindsight: {_scalar(float(preset.hindsight))}")
    if preset.agent:
        lines.append("agent:")
        lines += [f"  {key}: {_scalar(value)}" for key, value in preset.agent.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, preset in METHODS.items():
        path = METHOD_DIR / f"{name}.yaml"
        text = method_yaml(preset)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
            print(f"wrote {path}")
    extra = sorted(p for p in METHOD_DIR.glob("*.yaml") if p.stem not in METHODS)
    for path in extra:
        print(f"{path}: not in robot_rl/methods.py METHODS (add it there or delete the file)")
    if args.check and stale:
        print("out of date (run scripts/gen_method_configs.py):", *map(str, stale), sep="\n  ")
    return 1 if extra or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
