"""Task definitions: which Fetch scene, its parameters, goal placement, camera, episode length."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot_rl.errors import UserError
from robot_rl.types import GoalSpec

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

# A fixed close-up camera that shows gripper, block and goal region at 64 px (measured).
CLOSE_UP = {"lookat": (1.34, 0.75, 0.50), "distance": 0.85, "azimuth": 150.0, "elevation": -40.0}


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


def _fetch(**kw: Any) -> dict[str, Any]:
    base = {
        "n_substeps": 20,
        "target_offset": 0.0,
        "obj_range": 0.15,
        "target_range": 0.15,
        "distance_threshold": 0.05,
        "reward_type": "sparse",
    }
    return {**base, **kw}


TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in [
        TaskInfo(
            "reach",
            "move the gripper to the goal (marked by a disc under it)",
            "reach",
            _fetch(
                has_object=False,
                block_gripper=True,
                gripper_extra_height=0.2,
                target_in_the_air=True,
                initial_qpos=QPOS_REACH,
            ),
        ),
        TaskInfo(
            "push",
            "push the block onto the green disc",
            "push",
            _fetch(
                has_object=True,
                block_gripper=True,
                gripper_extra_height=0.0,
                target_in_the_air=False,
                initial_qpos=QPOS_OBJECT,
            ),
        ),
        TaskInfo(
            "pick_and_place",
            "pick the block up and place it at the goal (above the disc)",
            "pick_and_place",
            _fetch(
                has_object=True,
                block_gripper=False,
                gripper_extra_height=0.2,
                target_in_the_air=True,
                initial_qpos=QPOS_OBJECT,
            ),
        ),
        TaskInfo(
            "slide",
            "slide the puck onto the green disc, out of the gripper's reach",
            "slide",
            _fetch(
                has_object=True,
                block_gripper=True,
                gripper_extra_height=-0.02,
                target_in_the_air=False,
                target_offset=np.array([0.4, 0.0, 0.0]),
                obj_range=0.1,
                target_range=0.3,
                initial_qpos=QPOS_SLIDE,
            ),
            max_episode_steps=100,  # the puck travels up to 0.7 m: 50 steps are too few
            camera={
                "lookat": (1.45, 0.75, 0.42),
                "distance": 1.25,
                "azimuth": 180.0,
                "elevation": -45.0,
            },
        ),
        TaskInfo(
            "drawer",
            "pull the drawer open by its handle (at least 12 cm)",
            "push",
            _fetch(
                has_object=False,
                block_gripper=True,
                gripper_extra_height=0.15,
                target_in_the_air=False,
                initial_qpos=QPOS_REACH,
            ),
            drawer=True,
            goal="fixed",
            marker_radius=0.001,
            marker_rgba="0 0 0 0",
            camera={
                "lookat": (1.36, 0.75, 0.46),
                "distance": 0.8,
                "azimuth": 120.0,  # from the side: the handle and the opening show
                "elevation": -35.0,
            },
        ),
        TaskInfo(
            "zone",
            "push the block into the blue zone drawn on the table (fixed place)",
            "push",
            _fetch(
                has_object=True,
                block_gripper=True,
                gripper_extra_height=0.0,
                target_in_the_air=False,
                initial_qpos=QPOS_OBJECT,
            ),
            goal="fixed",
            fixed_goal=(1.38, 0.82, 0.4245),
            pixel_success_only=True,
            marker_radius=0.06,
            marker_rgba="0.15 0.35 0.95 1",
        ),
        TaskInfo(
            "zone_random",
            "push the block into the blue zone drawn on the table (random place)",
            "push",
            _fetch(
                has_object=True,
                block_gripper=True,
                gripper_extra_height=0.0,
                target_in_the_air=False,
                initial_qpos=QPOS_OBJECT,
            ),
            pixel_success_only=True,
            marker_radius=0.06,
            marker_rgba="0.15 0.35 0.95 1",
        ),
    ]
}

DRAWER_OPEN = 0.12  # metres the drawer must be pulled out for success


def get_task_info(task: str) -> TaskInfo:
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    return TASKS[task]


def list_tasks() -> list[str]:
    return list(TASKS)
