"""`RobotTaskEnv`: a Fetch manipulation task with dict observations (state, proprio, pixels from
a fixed close-up camera through a cheap `mujoco.Renderer`), a sparse success reward, the
simulator's success flag and a dense progress signal in `info`, and reproducible seeding."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import atexit
import contextlib
import weakref
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from robot_rl.envs.scenes import scene_path
from robot_rl.envs.tasks import DRAWER_OPEN, get_task_info
from robot_rl.envs.views import ViewShift, shifted_camera
from robot_rl.errors import UserError

OBS_MODES = ("state", "pixels", "both")
HIDDEN_BODIES = [
    f"robot0:{b}"
    for b in ("estop_link", "laser_link", "l_wheel_link", "r_wheel_link", "head_pan_link")
    + ("head_tilt_link", "bellows_link")
]

try:  # gymnasium-robotics prints a notice about Adroit rewards (unused here) on every import
    import farama_notifications

    farama_notifications.notifications.pop("gymnasium_robotics", None)
except ImportError:
    pass

# EGL contexts freed by garbage collection during interpreter shutdown raise noisy errors:
# close every live renderer while EGL is still initialised. mujoco.egl registers its own
# atexit `eglTerminate` when the first renderer is made; ours is registered after it, so it
# runs before it (atexit is last-in, first-out).
_LIVE: weakref.WeakSet[RobotTaskEnv] = weakref.WeakSet()
_HOOKED = False


def _load_triton_first() -> None:
    """torch's optimisers import torch._dynamo, which loads triton and its LLVM; loading that
    after Mesa's EGL (and its own LLVM) segfaults the process (measured: an Adam built after a
    first frame crashes). Loading triton before the first EGL context avoids it (0.25 s)."""
    # CPU-only torch builds come without triton: nothing to clash with then.
    with contextlib.suppress(ImportError):
        import triton  # noqa: F401


def _close_renderers() -> None:
    for env in list(_LIVE):
        env.close_renderers()


class RobotTaskEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        task: str = "push",
        obs: str = "state",
        image_size: int = 64,
        terminate_on_success: bool = True,
        render_mode: str | None = None,
        render_size: int = 256,
    ):
        from gymnasium_robotics.envs.fetch.fetch_env import MujocoFetchEnv

        if obs not in OBS_MODES:
            raise UserError(f"obs={obs!r}: must be one of {OBS_MODES}")
        if not 16 <= image_size <= 480:
            raise UserError(f"image_size={image_size}: must be between 16 and 480 pixels")
        self.info = get_task_info(task)
        self._goal_spec = self.info.goal_spec()  # None only for the drawer
        self.task, self.obs_mode, self.image_size = task, obs, int(image_size)
        self.terminate_on_success = terminate_on_success
        self.render_mode, self.render_size = render_mode, render_size
        path = scene_path(
            self.info.scene, self.info.marker_radius, self.info.marker_rgba, self.info.drawer
        )
        self.sim = MujocoFetchEnv(model_path=path, **self.info.fetch)
        self.model, self.data = self.sim.model, self.sim.data
        self.model.vis.quality.offsamples = 0  # MSAA off: ~4x cheaper frames at 64 px
        self._marker = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "goal_marker")
        # Fetch's mocap body carries long thin axis boxes for its viewer: not part of the scene.
        mocap = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "robot0:mocap")
        self.model.geom_rgba[self.model.geom_bodyid == mocap, 3] = 0.0
        # Robot parts no task camera sees (measured: hiding them changes no pixel, at most 1 on
        # slide) hold 60% of the mesh triangles; not drawing them makes a 64 px frame ~2.5x
        # cheaper. Group 5 is not rendered by default; physics ignores groups.
        for body in HIDDEN_BODIES:
            bid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, body)
            self.model.geom_group[self.model.geom_bodyid == bid] = 5
        self._init_fast_obs()
        if self.info.drawer:
            jid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, "drawer:joint")
            self._drawer_qpos = self.model.jnt_qposadr[jid]
            self._drawer_qvel = self.model.jnt_dofadr[jid]
            self._handle = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, "drawer_handle")
            self._cabinet = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "cabinet")
            self._cabinet_pos = self.model.body_pos[self._cabinet].copy()
        fingers = [f"robot0:{s}_gripper_finger_joint" for s in "lr"]
        self._finger_qpos = [self.model.jnt_qposadr[self.model.joint(j).id] for j in fingers]
        self._renderers: dict[int, mujoco.Renderer] = {}
        _LIVE.add(self)
        self._camera = _free_camera(self.info.camera)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.info.action_dim,), np.float32)
        self.sim.reset(seed=0)
        self._place_goal()
        sample = self._obs()
        spaces: dict[str, gym.spaces.Space] = {}
        for k, v in sample.items():
            if v.dtype == np.uint8:
                spaces[k] = gym.spaces.Box(0, 255, v.shape, np.uint8)
            else:
                spaces[k] = gym.spaces.Box(-np.inf, np.inf, v.shape, np.float32)
        self.observation_space = gym.spaces.Dict(spaces)

    # -- simulator state the scripted experts and the success test read -----------------------
    def _init_fast_obs(self) -> None:
        m = self.model
        self._grip_site = m.site("robot0:grip").id
        self._obj_site = m.site("object0").id if self.info.fetch["has_object"] else -1
        # Fetch's gripper_state: the last two robot joints in id order (r then l finger)
        robot = [j for j in range(m.njnt) if m.joint(j).name.startswith("robot")]
        self._finger_q = np.array([m.jnt_qposadr[j] for j in robot[-2:]])
        self._finger_v = np.array([m.jnt_dofadr[j] for j in robot[-2:]])
        self._dt = self.sim.n_substeps * m.opt.timestep
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))

    def fetch_obs(self) -> dict[str, np.ndarray]:
        """Fetch's observation dict (the values of its `_get_obs`), from cached ids instead of
        the ~50 name lookups Fetch makes per call."""
        from gymnasium_robotics.utils.rotations import mat2euler

        m, d, dt = self.model, self.data, self._dt
        grip = d.site_xpos[self._grip_site].copy()
        mujoco.mj_jacSite(m, d, self._jacp, None, self._grip_site)
        grip_velp = self._jacp @ d.qvel * dt
        gripper_state = d.qpos[self._finger_q].copy()
        gripper_vel = d.qvel[self._finger_v] * dt
        if self._obj_site >= 0:
            obj = d.site_xpos[self._obj_site].copy()
            rot = mat2euler(d.site_xmat[self._obj_site].reshape(3, 3))
            mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self._obj_site)
            velp = self._jacp @ d.qvel * dt - grip_velp
            velr = self._jacr @ d.qvel * dt
            parts = [grip, obj, obj - grip, gripper_state, rot, velp, velr, grip_velp, gripper_vel]
            achieved = obj
        else:
            parts = [grip, gripper_state, grip_velp, gripper_vel]
            achieved = grip
        return {
            "observation": np.concatenate(parts),
            "achieved_goal": achieved.copy(),
            "desired_goal": self.sim.goal.copy(),
        }

    def task_state(self) -> dict[str, Any]:
        """Privileged simulator state: gripper, object, goal, drawer (for scripted experts)."""
        fo = self.fetch_obs()
        s: dict[str, Any] = {
            "grip": fo["observation"][:3].copy(),
            "goal": self.sim.goal.copy(),
            "fingers": float(self.data.qpos[self._finger_qpos].sum()),
        }
        if self.info.fetch["has_object"]:
            s["object"] = fo["observation"][3:6].copy()
        if self.info.drawer:
            s["handle"] = self.data.site_xpos[self._handle].copy()
            s["opening"] = float(self.data.qpos[self._drawer_qpos])
        return s

    def _progress(self, fo: dict[str, np.ndarray] | None = None) -> tuple[bool, float]:
        """(success, dense reward): the dense signal is minus the remaining distance."""
        if self.info.drawer:
            opening = float(self.data.qpos[self._drawer_qpos])
            return opening >= DRAWER_OPEN, -max(DRAWER_OPEN - opening, 0.0)
        fo = self.fetch_obs() if fo is None else fo
        # One success rule, the task's (a zone: the block centre inside it, judged in x-y),
        # shared with hindsight relabelling.
        rule = self._goal_spec
        assert rule is not None  # every task but the drawer has one
        d = float(np.linalg.norm(fo["achieved_goal"][: rule.dims] - self.sim.goal[: rule.dims]))
        return bool(rule.success(fo["achieved_goal"], self.sim.goal)), -d

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.sim.reset(seed=seed)
        if self.info.drawer:  # the cabinet stands somewhere else each episode
            # ... to one side of the gripper, never right under it: a random flail that starts
            # above the handle pulls the drawer open too often (measured: 15% of
            # episodes; 5% with this placement and a closed drawer)
            rng = self.sim.np_random
            side = rng.choice([-1.0, 1.0])
            shift = np.array([rng.uniform(-0.03, 0.03), side * rng.uniform(0.08, 0.16)])
            self.model.body_pos[self._cabinet, :2] = self._cabinet_pos[:2] + shift
            # at most 1 cm ajar: a finger (2.7 cm) cannot drop in and pull from inside
            self.data.qpos[self._drawer_qpos] = rng.uniform(0.0, 0.01)
            self.data.qvel[self._drawer_qvel] = 0.0
            mujoco.mj_forward(self.model, self.data)
        self._place_goal()
        if self.info.pixel_success_only:
            self._start_outside_zone()
        success, dense = self._progress()
        return self._obs(), {"success": success, "dense_reward": dense}

    def _start_outside_zone(self) -> None:
        """Resample the block (fixed zone) or the zone (random zone) until the block starts
        clearly outside the zone: an episode must not begin solved."""
        adr = self.model.jnt_qposadr[self.model.joint("object0:joint").id]
        rng, centre = self.sim.np_random, self.sim.initial_gripper_xpos[:2]
        clear = self.info.marker_radius + 0.04

        def bad() -> bool:
            xy = self.data.qpos[adr : adr + 2]
            # Fetch keeps the block 0.1 m from the gripper's start; resampling must too
            return bool(
                np.linalg.norm(xy - self.sim.goal[:2]) < clear or np.linalg.norm(xy - centre) < 0.1
            )

        while bad():
            if self.info.goal == "fixed":
                self.data.qpos[adr : adr + 2] = centre + rng.uniform(-0.15, 0.15, 2)
            else:
                self.sim.goal[:2] = centre + rng.uniform(-0.15, 0.15, 2)
                self._place_goal()
        mujoco.mj_forward(self.model, self.data)

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        # Fetch's own step also builds its observation dict: drive the simulator directly and
        # build the observation once (it is ~half of a state-only step otherwise).
        self.sim._set_action(action)
        self.sim._mujoco_step(action)
        self.sim._step_callback()
        fo = self.fetch_obs()
        success, dense = self._progress(fo)
        obs = self._obs(fo)
        terminated = bool(success and self.terminate_on_success)
        return obs, float(success), terminated, False, {"success": success, "dense_reward": dense}

    def render(self) -> np.ndarray | None:
        return self.render_pixels(self.render_size) if self.render_mode == "rgb_array" else None

    def close_renderers(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    def close(self) -> None:
        self.close_renderers()
        self.sim.close()

    # -- observations ---------------------------------------------------------------------------
    def _place_goal(self) -> None:
        if self.info.goal == "fixed":
            self.sim.goal = np.array(self.info.fixed_goal, dtype=np.float64)
        if self.info.drawer:
            self.sim.goal = np.array([DRAWER_OPEN, 0.0, 0.0])
        else:  # the flat marker sits on the table under the goal
            self.model.geom_pos[self._marker][:2] = self.sim.goal[:2]
        mujoco.mj_forward(self.model, self.data)

    def _obs(self, fo: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        fo = self.fetch_obs() if fo is None else fo
        o = fo["observation"].astype(np.float32)
        has_object = self.info.fetch["has_object"]
        # robot-only part: gripper position, finger joints, gripper velocity, finger velocities
        proprio = np.concatenate([o[0:3], o[9:11], o[20:25]]) if has_object else o
        out: dict[str, np.ndarray] = {}
        if self.obs_mode in ("state", "both"):
            if self.info.drawer:
                handle = self.data.site_xpos[self._handle].astype(np.float32)
                extra = [
                    handle,
                    handle - o[0:3],
                    np.array(
                        [
                            self.data.qpos[self._drawer_qpos],
                            self.data.qvel[self._drawer_qvel],
                            DRAWER_OPEN,
                        ],
                        np.float32,
                    ),
                ]
                out["state"] = np.concatenate([o, *extra]).astype(np.float32)
            else:
                out["state"] = np.concatenate([o, self.sim.goal.astype(np.float32)])
        if self.obs_mode in ("pixels", "both"):
            out["proprio"] = proprio.astype(np.float32)
            out["pixels"] = self.render_pixels(self.image_size)
        return out

    def render_pixels(self, size: int, view: ViewShift | None = None) -> np.ndarray:
        """A [size, size, 3] uint8 frame of the task camera, or of the camera and light moved
        by ``view`` (`robot_rl.envs.views`; its own ``size`` is ignored here)."""
        r = self._renderers.get(size)
        if r is None:
            global _HOOKED
            _load_triton_first()
            r = self._renderers[size] = mujoco.Renderer(self.model, size, size)
            if not _HOOKED:
                atexit.register(_close_renderers)
                _HOOKED = True
        camera = (
            self._camera if view is None else _free_camera(shifted_camera(self.info.camera, view))
        )
        r.update_scene(self.data, camera)
        r.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0  # black background, nothing to learn
        if view is not None:
            _shift_lights(r.scene, view, np.asarray(camera.lookat, np.float32))
        return r.render()


def _free_camera(cam: dict[str, Any]) -> mujoco.MjvCamera:
    """A free camera from a task's [camera] fields."""
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.lookat[:] = cam["lookat"]
    camera.distance, camera.azimuth = cam["distance"], cam["azimuth"]
    camera.elevation = cam["elevation"]
    return camera


def _shift_lights(scene: mujoco.MjvScene, view: ViewShift, lookat: np.ndarray) -> None:
    """Scale the headlight; move the scene's own lights by ``view.light_offset``, still aimed at
    the point they lit at the look-at distance (a directional light's position is only where
    its direction comes from). In this frame's scene only: the model keeps its lights."""
    for i in range(scene.nlight):
        light = scene.lights[i]
        if light.headlight:
            light.ambient[:] = np.clip(light.ambient * view.headlight, 0.0, 1.0)
            light.diffuse[:] = np.clip(light.diffuse * view.headlight, 0.0, 1.0)
        elif any(view.light_offset):
            target = light.pos + light.dir * np.linalg.norm(lookat - light.pos)
            light.pos[:] = light.pos + np.asarray(view.light_offset, np.float32)
            aim = target - light.pos
            light.dir[:] = aim / np.linalg.norm(aim)
