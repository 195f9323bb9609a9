"""Tasks: one TOML file per task under the top-level ``tasks/`` folder (shipped inside the
installed package as ``robot_rl/_data/tasks``), loaded into typed `TaskInfo` records."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import UserError
from robot_rl.types import GoalSpec

# A fixed close-up camera that shows gripper, block and goal region at 64 px (measured).
CLOSE_UP = {"lookat": (1.34, 0.75, 0.50), "distance": 0.85, "azimuth": 150.0, "elevation": -40.0}


def shipped_dir(name: str) -> Path:
    """The shipped folder ``name`` (tasks | assets): inside an installed wheel it is
    ``robot_rl/_data/<name>``; in a checkout or an editable install, the repository's own."""
    packaged = resources.files("robot_rl").joinpath("_data", name)
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / name


TASKS_DIR = shipped_dir("tasks")


@dataclass(frozen=True)
class TaskInfo:
    name: str
    description: str
    scene: str  # Fetch scene file: push | reach | pick_and_place | slide
    fetch: dict[str, Any]  # MujocoFetchEnv arguments
    max_episode_steps: int = 50
    control_freq: float = 25.0  # Hz: 20 substeps of 2 ms
    action_dim: int = 4
    goal: str = "random"  # random (Fetch's sampler) | fixed (fixed_goal)
    fixed_goal: tuple[float, float, float] = (1.3, 0.75, 0.4245)
    drawer: bool = False
    pixel_success_only: bool = False  # success is judged fairly from pixels (a visible zone)
    marker_radius: float = 0.05
    marker_rgba: str = "0.1 0.75 0.2 0.9"
    camera: dict[str, Any] = field(default_factory=lambda: dict(CLOSE_UP))
    expert: str = ""  # scripted expert: ScriptedPolicy._<expert> (experts.py); "" = the name

    def goal_spec(self) -> GoalSpec | None:
        """The goal layout of the state vector and the success rule (None for the drawer,
        whose goal is not a position). The state is Fetch's observation (25 numbers with an
        object, 10 without) followed by the goal; the achieved goal is the object's position
        (Fetch's obs[3:6]) or, without an object, the gripper's (obs[0:3])."""
        if self.drawer:
            return None
        n = 25 if self.fetch["has_object"] else 10
        achieved = (3, 6) if self.fetch["has_object"] else (0, 3)
        if self.pixel_success_only:  # block centre inside the zone drawn on the table
            return GoalSpec(achieved, (n, n + 3), self.marker_radius, dims=2)
        return GoalSpec(achieved, (n, n + 3), float(self.fetch["distance_threshold"]))


# -- reading a task file: every field required, each checked, one-line errors ------------------
def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _point(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 3 and all(_number(x) for x in v)


# field -> (check, what it must be)
_FIELDS: dict[str, tuple[Any, str]] = {
    "description": (lambda v: isinstance(v, str), "a string"),
    "scene": (lambda v: v in ("reach", "push", "pick_and_place", "slide"),
              "one of reach, push, pick_and_place, slide"),
    "expert": (lambda v: isinstance(v, str) and v.isidentifier(), "an expert's name"),
    "max_episode_steps": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
                          "a positive integer"),
    "control_freq": (lambda v: _number(v) and v > 0, "a positive number"),
    "action_dim": (lambda v: v == 4, "4 (Fetch's x, y, z, gripper)"),
    "goal": (lambda v: v in ("random", "fixed"), "random or fixed"),
    "fixed_goal": (_point, "[x, y, z]"),
    "drawer": (lambda v: isinstance(v, bool), "true or false"),
    "pixel_success_only": (lambda v: isinstance(v, bool), "true or false"),
    "marker_radius": (lambda v: _number(v) and v > 0, "a positive number"),
    "marker_rgba": (lambda v: isinstance(v, str) and len(v.split()) == 4, 'a string "r g b a"'),
    "fetch": (lambda v: isinstance(v, dict), "a table of MujocoFetchEnv arguments"),
    "camera": (lambda v: isinstance(v, dict), "a table"),
}  # fmt: skip
_FETCH: dict[str, tuple[Any, str]] = {  # the arguments robot_rl itself reads
    "has_object": (lambda v: isinstance(v, bool), "true or false"),
    "distance_threshold": (lambda v: _number(v) and v > 0, "a positive number"),
    "target_offset": (lambda v: _number(v) or _point(v), "a number or [x, y, z]"),
    "initial_qpos": (lambda v: isinstance(v, dict), "a table of joint positions"),
}
_CAMERA: dict[str, tuple[Any, str]] = {
    "lookat": (_point, "[x, y, z]"),
    "distance": (lambda v: _number(v) and v > 0, "a positive number"),
    "azimuth": (_number, "a number (degrees)"),
    "elevation": (_number, "a number (degrees)"),
}


def _check(path: Path, table: dict[str, Any], schema: dict, prefix: str, exact: bool) -> None:
    for key, (ok, what) in schema.items():
        if key not in table:
            raise UserError(f"{path}: field {prefix + key!r} is missing; it must be {what}")
        if not ok(table[key]):
            raise UserError(f"{path}: field {prefix + key!r} = {table[key]!r}: must be {what}")
    unknown = sorted(set(table) - set(schema)) if exact else []
    if unknown:
        raise UserError(
            f"{path}: field {prefix + unknown[0]!r} is unknown; fields: {', '.join(schema)}"
        )


def load_task(path: Path) -> TaskInfo:
    """The task in TOML file ``path`` (its name is the file's stem)."""
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML ({e})") from None
    _check(path, raw, _FIELDS, "", exact=True)
    _check(path, raw["fetch"], _FETCH, "fetch.", exact=False)  # the rest goes to Fetch as is
    _check(path, raw["camera"], _CAMERA, "camera.", exact=True)
    fetch = dict(raw["fetch"])
    if isinstance(fetch["target_offset"], list):  # Fetch adds it to the goal: an array
        fetch["target_offset"] = np.array(fetch["target_offset"], dtype=np.float64)
    camera = {**raw["camera"], "lookat": tuple(float(x) for x in raw["camera"]["lookat"])}
    values = {**raw, "fetch": fetch, "camera": camera}
    values["fixed_goal"] = tuple(float(x) for x in raw["fixed_goal"])
    for key in ("control_freq", "marker_radius"):
        values[key] = float(raw[key])
    assert {f.name for f in fields(TaskInfo)} == {"name", *_FIELDS}  # the schema is complete
    return TaskInfo(name=path.stem, **values)


TASKS: dict[str, TaskInfo] = {p.stem: load_task(p) for p in sorted(TASKS_DIR.glob("*.toml"))}

DRAWER_OPEN = 0.12  # metres the drawer must be pulled out for success


def get_task_info(task: str) -> TaskInfo:
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    return TASKS[task]


def list_tasks() -> list[str]:
    return list(TASKS)
