"""Task files (tasks/*.toml) load into the same TaskInfo values the Python table held."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.envs import tasks
from robot_rl.envs.tasks import TASKS, get_task_info, list_tasks, load_task
from robot_rl.errors import UserError

FETCH = {
    "n_substeps": 20,
    "target_offset": 0.0,
    "obj_range": 0.15,
    "target_range": 0.15,
    "distance_threshold": 0.05,
    "reward_type": "sparse",
}
QPOS_OBJECT = {
    "robot0:slide0": 0.405,
    "robot0:slide1": 0.48,
    "robot0:slide2": 0.0,
    "object0:joint": [1.25, 0.53, 0.4, 1.0, 0.0, 0.0, 0.0],
}
QPOS_REACH = {"robot0:slide0": 0.4049, "robot0:slide1": 0.48, "robot0:slide2": 0.0}
QPOS_SLIDE = {
    "robot0:slide0": 0.05,
    "robot0:slide1": 0.48,
    "robot0:slide2": 0.0,
    "object0:joint": [1.7, 1.1, 0.41, 1.0, 0.0, 0.0, 0.0],
}
CLOSE_UP = {"lookat": (1.34, 0.75, 0.50), "distance": 0.85, "azimuth": 150.0, "elevation": -40.0}
DEFAULTS: dict[str, Any] = {
    "max_episode_steps": 50,
    "control_freq": 25.0,
    "action_dim": 4,
    "goal": "random",
    "fixed_goal": (1.3, 0.75, 0.4245),
    "drawer": False,
    "pixel_success_only": False,
    "marker_radius": 0.05,
    "marker_rgba": "0.1 0.75 0.2 0.9",
    "camera": CLOSE_UP,
}
PUSH_FETCH = {
    **FETCH,
    "has_object": True,
    "block_gripper": True,
    "gripper_extra_height": 0.0,
    "target_in_the_air": False,
    "initial_qpos": QPOS_OBJECT,
}
ZONE = {"pixel_success_only": True, "marker_radius": 0.06, "marker_rgba": "0.15 0.35 0.95 1"}

# The table robot_rl/envs/tasks.py held before the task files (expert: the scripted policy).
EXPECTED: dict[str, dict[str, Any]] = {
    "reach": {
        "description": "move the gripper to the goal (marked by a disc under it)",
        "scene": "reach",
        "expert": "reach",
        "fetch": {
            **FETCH,
            "has_object": False,
            "block_gripper": True,
            "gripper_extra_height": 0.2,
            "target_in_the_air": True,
            "initial_qpos": QPOS_REACH,
        },
    },
    "push": {
        "description": "push the block onto the green disc",
        "scene": "push",
        "expert": "push",
        "fetch": PUSH_FETCH,
    },
    "pick_and_place": {
        "description": "pick the block up and place it at the goal (above the disc)",
        "scene": "pick_and_place",
        "expert": "pick_and_place",
        "fetch": {
            **FETCH,
            "has_object": True,
            "block_gripper": False,
            "gripper_extra_height": 0.2,
            "target_in_the_air": True,
            "initial_qpos": QPOS_OBJECT,
        },
    },
    "slide": {
        "description": "slide the puck onto the green disc, out of the gripper's reach",
        "scene": "slide",
        "expert": "slide",
        "fetch": {
            **FETCH,
            "has_object": True,
            "block_gripper": True,
            "gripper_extra_height": -0.02,
            "target_in_the_air": False,
            "target_offset": np.array([0.4, 0.0, 0.0]),
            "obj_range": 0.1,
            "target_range": 0.3,
            "initial_qpos": QPOS_SLIDE,
        },
        "max_episode_steps": 100,
        "camera": {
            "lookat": (1.45, 0.75, 0.42),
            "distance": 1.25,
            "azimuth": 180.0,
            "elevation": -45.0,
        },
    },
    "drawer": {
        "description": "pull the drawer open by its handle (at least 12 cm)",
        "scene": "push",
        "expert": "drawer",
        "fetch": {
            **FETCH,
            "has_object": False,
            "block_gripper": True,
            "gripper_extra_height": 0.15,
            "target_in_the_air": False,
            "initial_qpos": QPOS_REACH,
        },
        "drawer": True,
        "goal": "fixed",
        "marker_radius": 0.001,
        "marker_rgba": "0 0 0 0",
        "camera": {
            "lookat": (1.36, 0.75, 0.46),
            "distance": 0.8,
            "azimuth": 120.0,
            "elevation": -35.0,
        },
    },
    "zone": {
        "description": "push the block into the blue zone drawn on the table (fixed place)",
        "scene": "push",
        "expert": "push",
        "fetch": PUSH_FETCH,
        "goal": "fixed",
        "fixed_goal": (1.38, 0.82, 0.4245),
        **ZONE,
    },
    "zone_random": {
        "description": "push the block into the blue zone drawn on the table (random place)",
        "scene": "push",
        "expert": "push",
        "fetch": PUSH_FETCH,
        **ZONE,
    },
}


def plain(x: Any) -> Any:
    """Arrays as lists, recursively, so values compare with == (and their types too)."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return ("array", x.tolist())
    if isinstance(x, tuple | list):
        return (type(x).__name__, [plain(v) for v in x])
    return (type(x).__name__, x)


def test_every_task_file_loads_the_values_of_the_former_table() -> None:
    assert list_tasks() == sorted(EXPECTED)  # the files, in name order
    for name, fields in EXPECTED.items():
        got = asdict(get_task_info(name))
        want = {"name": name, **DEFAULTS, **fields}
        assert plain(got) == plain(want), name


def test_goal_specs_are_unchanged() -> None:
    push, zone = TASKS["push"].goal_spec(), TASKS["zone"].goal_spec()
    reach = TASKS["reach"].goal_spec()
    assert push is not None and (push.achieved, push.goal, push.threshold, push.dims) == (
        (3, 6), (25, 28), 0.05, 3)  # fmt: skip
    assert zone is not None and (zone.threshold, zone.dims) == (0.06, 2)
    assert reach is not None and (reach.achieved, reach.goal) == ((0, 3), (10, 13))
    assert TASKS["drawer"].goal_spec() is None
    assert replace(TASKS["push"]) == TASKS["push"]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t.replace('scene = "push"', "scene = 3"), "scene"),
        (lambda t: t.replace("max_episode_steps = 50\n", ""), "max_episode_steps"),
        (lambda t: t.replace('goal = "random"', 'goal = "nearby"'), "goal"),
        (lambda t: t.replace("lookat = [1.34, 0.75, 0.5]", "lookat = [1.34]"), "camera.lookat"),
        (lambda t: 'colour = "red"\n' + t, "colour"),
    ],
)
def test_a_bad_task_file_is_a_one_line_error_naming_file_and_field(
    tmp_path: Path, edit: Any, field: str
) -> None:
    bad = tmp_path / "push.toml"
    bad.write_text(edit((tasks.TASKS_DIR / "push.toml").read_text()))
    with pytest.raises(UserError) as err:
        load_task(bad)
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and repr(field) in msg, msg


def test_a_task_file_that_is_not_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "push.toml"
    bad.write_text("scene = [\n")
    with pytest.raises(UserError, match="push.toml"):
        load_task(bad)
