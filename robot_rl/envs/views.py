"""Frames from another camera than the task's: what a user's own goal photos look like.

A `ViewShift` moves the task's free camera (azimuth, elevation, distance, look-at point), changes
the light (headlight strength, the scene light moved) and the image size. `write_goal_images`
renders success frames of a task's scripted expert through it into a folder of PNGs, the folder
a user would pass as ``goals_from=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import UserError


@dataclass(frozen=True)
class ViewShift:
    """Offsets from the task camera ([camera] of tasks/<task>.toml); the defaults change nothing."""

    azimuth: float = 0.0  # degrees added to the camera's azimuth (around the vertical axis)
    elevation: float = 0.0  # degrees added to its elevation (negative: looking further down)
    distance: float = 1.0  # factor on its distance to the look-at point
    lookat: tuple[float, float, float] = (0.0, 0.0, 0.0)  # metres added to the look-at point
    headlight: float = 1.0  # factor on the headlight's ambient and diffuse light
    light_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # metres added to scene lights
    size: int = 64  # PNG width and height in pixels

    def validate(self) -> None:
        if not 16 <= self.size <= 1024:
            raise UserError(f"view shift: field 'size' must be 16..1024 pixels, got {self.size}")
        if self.distance <= 0 or self.headlight < 0:
            raise UserError("view shift: fields 'distance' > 0 and 'headlight' >= 0")

    def describe(self) -> str:
        """One line: every field that differs from the task camera."""
        parts = [
            f"azimuth {self.azimuth:+g} deg" if self.azimuth else "",
            f"elevation {self.elevation:+g} deg" if self.elevation else "",
            f"distance x{self.distance:g}" if self.distance != 1.0 else "",
            f"look-at {_vec(self.lookat)} m" if any(self.lookat) else "",
            f"headlight x{self.headlight:g}" if self.headlight != 1.0 else "",
            f"scene light moved {_vec(self.light_offset)} m" if any(self.light_offset) else "",
            f"{self.size} px",
        ]
        return ", ".join(p for p in parts if p)


def _vec(v: tuple[float, float, float]) -> str:
    return "(" + ", ".join(f"{x:+g}" for x in v) + ")"


def shifted_camera(camera: dict[str, Any], shift: ViewShift) -> dict[str, Any]:
    """The task camera's fields (lookat, distance, azimuth, elevation) moved by ``shift``."""
    return {
        "lookat": tuple(float(a + b) for a, b in zip(camera["lookat"], shift.lookat)),
        "distance": float(camera["distance"]) * shift.distance,
        "azimuth": float(camera["azimuth"]) + shift.azimuth,
        "elevation": float(camera["elevation"]) + shift.elevation,
    }


def success_frames(
    task: str, shift: ViewShift, n: int, seeds: range, per_episode: int = 5
) -> np.ndarray:
    """Up to ``n`` frames [n, size, size, 3] of success states seen through ``shift``: the
    scripted expert of ``task``, one episode per seed (it keeps running after success), at most
    ``per_episode`` evenly spaced success steps of each episode (consecutive ones look alike)."""
    from robot_rl.envs import make_env, make_scripted_policy

    shift.validate()
    env = make_env(task, obs="state", terminate_on_success=False)
    base = env.unwrapped
    out: list[np.ndarray] = []
    try:
        for seed in seeds:
            pi = make_scripted_policy(task, "expert", 0.0, 0.0, seed)
            o, _ = env.reset(seed=seed)
            pi.reset(env)
            frames, done = [], False
            while not done:
                o, _, terminated, truncated, info = env.step(pi.act(env, o))
                done = terminated or truncated
                if info["success"]:
                    frames.append(base.render_pixels(shift.size, shift))
            keep = np.linspace(0, len(frames) - 1, min(per_episode, len(frames))).astype(int)
            out += [frames[i] for i in keep]
            if len(out) >= n:
                break
    finally:
        env.close()
    return np.stack(out[:n]) if out else np.zeros((0, shift.size, shift.size, 3), np.uint8)


def write_goal_images(
    task: str, folder: str | Path, shift: ViewShift, n: int, seeds: range
) -> list[Path]:
    """``success_frames`` as PNG files goal_000.png ... in ``folder`` (created)."""
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(success_frames(task, shift, n, seeds)):
        path = folder / f"goal_{i:03d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths
