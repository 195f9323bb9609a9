"""Scripted policies for every task: proportional waypoint experts with a noise knob (Gaussian on
the arm's xyz motion, separately on the gripper), "play" (wandering with no task intent) and
uniform random. Experts read privileged simulator state (`env.unwrapped.task_state()`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.envs.tasks import DRAWER_OPEN, get_task_info
from robot_rl.errors import UserError

GAIN = 10.0  # action units per metre: Fetch moves 0.05 m per unit action, so 0.5 of the gap
GRIP_SPEED = 0.032  # metres per step the gripper actually moves at action 1 (measured)
# FetchSlide's puck (measured): friction decelerates it by SLIDE_DECEL m/step per step, and a
# gripper starting from rest against it launches it at SLIDE_KICK x the gripper's speed.
SLIDE_DECEL = 0.0016
SLIDE_KICK = 1.35
SLIDE_BEHIND = 0.05  # gripper-to-puck centre distance at the start of a strike
SLIDE_AIM_SHORT = 0.04  # aim a little short: a second strike can fix short, never long
KINDS = ("expert", "noisy", "play", "random")


def _toward(grip: np.ndarray, target: np.ndarray, gain: float = GAIN) -> np.ndarray:
    return np.clip((target - grip) * gain, -1.0, 1.0)


class ScriptedPolicy:
    """`reset(env)` at each episode start, then `act(env) -> action` every step."""

    def __init__(self, task: str, kind: str, noise: float, gripper_noise: float, seed: int):
        expert = get_task_info(task).expert  # named in the task file
        if not hasattr(self, f"_{expert}"):
            raise UserError(f"task {task!r}: expert {expert!r}: ScriptedPolicy has no _{expert}")
        self.expert = getattr(self, f"_{expert}")
        if kind not in KINDS:
            raise UserError(f"policy kind {kind!r}: must be one of {KINDS}")
        if noise < 0 or gripper_noise < 0:
            raise UserError(f"noise={noise}, gripper_noise={gripper_noise}: must be >= 0")
        self.task, self.kind = task, kind
        self.noise, self.gripper_noise = noise, gripper_noise
        self.rng = np.random.default_rng(seed)
        self.phase = 0
        self.t = 0

    def reset(self, env: Any) -> None:
        self.phase, self.t = 0, 0
        self.play_target: np.ndarray | None = None
        self.play_grip = 1.0
        self.prev_obj: np.ndarray | None = None
        self.strike_dir: np.ndarray | None = None
        self.strike_t = 0

    def act(self, env: Any, obs: Any = None) -> np.ndarray:
        """The next action, from the simulator's privileged state (``obs`` is not needed)."""
        s = env.unwrapped.task_state()
        if self.kind == "random":
            return self.rng.uniform(-1, 1, 4).astype(np.float32)
        a = self._play(s) if self.kind == "play" else self.expert(s)
        self.t += 1
        if self.noise > 0:
            a[:3] += self.rng.normal(0.0, self.noise, 3)
        if self.gripper_noise > 0:
            a[3] += self.rng.normal(0.0, self.gripper_noise)
        return np.clip(a, -1.0, 1.0).astype(np.float32)

    # -- experts ------------------------------------------------------------------------------
    def _reach(self, s: dict) -> np.ndarray:
        return np.append(_toward(s["grip"], s["goal"]), 0.0)

    def _push(self, s: dict, max_speed: float = 1.0) -> np.ndarray:
        """Go behind the block on the block-to-goal line, descend, push through to the goal.

        Stateless: the action is a function of the current gripper, block and goal positions
        only (no phase memory), so the data it makes is Markov and a learner can imitate it.
        """
        grip, obj, goal = s["grip"], s["object"], s["goal"]
        d = goal[:2] - obj[:2]
        u = d / max(float(np.linalg.norm(d)), 1e-6)
        rel = grip[:2] - obj[:2]
        along = float(rel @ u)  # < 0: the gripper is behind the block
        lateral = abs(float(u[0] * rel[1] - u[1] * rel[0]))
        low = grip[2] - obj[2] < 0.02
        behind = np.array([*(obj[:2] - u * 0.06), obj[2]])
        if along < -0.03 and lateral < 0.02 and low:  # in the lane: push through to the goal
            target = np.array([*(goal[:2] - u * 0.03), obj[2]])
            return np.append(_toward(grip, target, gain=6.0) * max_speed, -1.0)
        if np.linalg.norm(grip[:2] - behind[:2]) < 0.015:  # right above the lane: descend
            return np.append(_toward(grip, behind), -1.0)
        a = _toward(grip, behind + np.array([0, 0, 0.06]))  # over the point behind the block
        if grip[2] < obj[2] + 0.04:  # rise before moving sideways, not through the block
            a[:2] = 0.0
        return np.append(a, -1.0)

    def _pick_and_place(self, s: dict) -> np.ndarray:
        grip, obj, goal = s["grip"], s["object"], s["goal"]
        above = obj + np.array([0, 0, 0.08])
        if self.phase == 0:  # above the block, open
            if np.linalg.norm(grip[:2] - obj[:2]) < 0.008:
                self.phase = 1
            return np.append(_toward(grip, above), 1.0)
        if self.phase == 1:  # descend open
            if grip[2] - obj[2] < 0.008:
                self.phase, self.t_close = 2, self.t
            if np.linalg.norm(grip[:2] - obj[:2]) > 0.02:
                self.phase = 0
            return np.append(_toward(grip, obj), 1.0)
        if self.phase == 2:  # close
            if self.t - self.t_close >= 4:
                self.phase = 3
            return np.array([0, 0, 0, -1.0])
        if np.linalg.norm(grip - obj) > 0.04:  # dropped it: start over
            self.phase = 0
        return np.append(_toward(grip, goal + (grip - obj)), -1.0)

    def _slide(self, s: dict) -> np.ndarray:
        """Strike the puck once along the puck-to-goal line at the speed that lets friction stop
        it on the goal (sliding distance = v^2 / 2 decel), then hold back; strike again if it
        stops short. The strike starts from rest ~1 cm behind the puck (a short, fixed run-up),
        so the kick stays close to the calibrated ratio."""
        grip, obj, goal = s["grip"], s["object"], s["goal"]
        vel = obj[:2] - self.prev_obj[:2] if self.prev_obj is not None else np.zeros(2)
        self.prev_obj = obj.copy()
        d = goal[:2] - obj[:2]
        dist = float(np.linalg.norm(d))
        if self.phase < 2 or self.strike_dir is None:
            self.strike_dir = d / max(dist, 1e-6)
        u = self.strike_dir
        behind = np.array([*(obj[:2] - u * SLIDE_BEHIND), obj[2]])
        if self.phase == 0:  # over the point behind the puck, rising first to clear it
            if np.linalg.norm(grip[:2] - behind[:2]) < 0.006:
                self.phase = 1
            a = _toward(grip, behind + np.array([0, 0, 0.05]))
            if grip[2] < obj[2] + 0.035 and np.dot(grip[:2] - obj[:2], u) > -0.03:
                a[:2] = 0.0  # still low beside or in front of the puck: rise before moving
            return np.append(a, -1.0)
        if self.phase == 1:  # down to puck height, staying on the line
            if grip[2] - obj[2] < 0.006 and np.linalg.norm(grip[:2] - behind[:2]) < 0.005:
                self.phase, self.strike_t = 2, self.t
            return np.append(_toward(grip, behind), -1.0)
        if self.phase == 2:  # strike: gripper speed = wanted puck speed / kick ratio
            speed = np.sqrt(2 * SLIDE_DECEL * max(dist - SLIDE_AIM_SHORT, 0.0)) / SLIDE_KICK
            moving = np.linalg.norm(vel) > 0.5 * speed * SLIDE_KICK and self.t > self.strike_t
            if moving or self.t - self.strike_t > 6:
                self.phase = 3
            lateral = (grip[:2] - obj[:2]) - np.dot(grip[:2] - obj[:2], u) * u
            xy = u * speed / GRIP_SPEED - lateral * GAIN
            xy = xy / max(1.0, float(np.abs(xy).max()))  # scale, not clip: keep the direction
            return np.array([*xy, (obj[2] - grip[2]) * GAIN, -1.0])
        # glide: stay still; once the puck has stopped, strike again from behind it
        if np.linalg.norm(vel) < 1e-4:
            self.phase = 0
        return np.array([0.0, 0.0, 0.0, -1.0])

    def _drawer(self, s: dict) -> np.ndarray:
        """Behind the handle bar (between bar and drawer front), then pull toward the robot."""
        grip, handle = s["grip"], s["handle"]
        hook = handle + np.array([0.025, 0.0, 0.0])
        if self.phase == 0:
            over = hook + np.array([0, 0, 0.06])
            if np.linalg.norm(grip[:2] - hook[:2]) < 0.008:
                self.phase = 1
            return np.append(_toward(grip, over), -1.0)
        if self.phase == 1:
            if grip[2] - hook[2] < 0.008:
                self.phase = 2
            return np.append(_toward(grip, hook), -1.0)
        pull = -0.8 if s["opening"] < DRAWER_OPEN + 0.03 else 0.0  # stop before the end stop
        return np.clip([pull, (hook[1] - grip[1]) * GAIN, (hook[2] - grip[2]) * GAIN, -1.0], -1, 1)

    # -- play ------------------------------------------------------------------------------------
    def _play(self, s: dict) -> np.ndarray:
        """Wander between random waypoints over the table, sometimes to the object, toggling
        the gripper now and then: broad coverage with no task intent."""
        grip = s["grip"]
        if (
            self.play_target is None
            or np.linalg.norm(grip - self.play_target) < 0.02
            or self.rng.random() < 0.05
        ):
            if "object" in s and self.rng.random() < 0.3:
                self.play_target = s["object"] + self.rng.normal(0, 0.03, 3)
            elif "handle" in s and self.rng.random() < 0.3:
                self.play_target = s["handle"] + self.rng.normal(0, 0.03, 3)
            else:
                self.play_target = np.array(
                    [
                        self.rng.uniform(1.1, 1.5),
                        self.rng.uniform(0.5, 1.0),
                        self.rng.uniform(0.42, 0.6),
                    ]
                )
        if self.rng.random() < 0.1:
            self.play_grip = -self.play_grip
        return np.append(_toward(grip, self.play_target, gain=6.0), self.play_grip)


def make_scripted_policy(
    task: str, kind: str = "expert", noise: float = 0.0, gripper_noise: float = 0.0, seed: int = 0
) -> ScriptedPolicy:
    return ScriptedPolicy(task, kind, noise, gripper_noise, seed)
