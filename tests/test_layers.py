"""Imports run down the layers only (issue 15): a lower layer never imports a higher one, not
even inside a function. The order, lowest first; a module may import its own layer or below."""

from __future__ import annotations

import ast
from pathlib import Path

import robot_rl

LAYERS = [
    {"errors", "types", "configs", "progress", "_runtime", "<root>"},
    {"data"},
    {"networks"},
    {"agents"},
    {"methods"},  # presets of the online loop: an agent name and its config fields
    {"envs"},
    {"rewards"},
    {"training"},
    {"labeling"},
    {"analysis", "report"},
    {"pipeline"},
    {"cli"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}
PACKAGE = Path(robot_rl.__file__).parent


def part(module: str) -> str:
    """robot_rl.<part>.… -> <part>; robot_rl itself -> <root>."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__init__" else "<root>"


def imports_of(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "robot_rl" or m.startswith("robot_rl.")}


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    parts = {p for p in parts if not p.startswith(("__", ".")) and p != "py"}
    assert parts <= set(LEVEL), f"give these a layer: {sorted(parts - set(LEVEL))}"


def test_no_import_runs_up_the_layers() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        src = part(".".join(rel.parts))
        for module in imports_of(path):
            dst = part(module)
            if LEVEL[dst] > LEVEL[src]:
                violations.append(f"{path.relative_to(PACKAGE.parent)} ({src}) imports {module}")
    assert not violations, "imports up the layers:\n" + "\n".join(sorted(violations))
