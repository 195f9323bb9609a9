"""Evaluation in the simulator: success rate and return over K episodes, optional video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EVAL_SEED_OFFSET = 1_000_000  # evaluation seeds never coincide with collection/training seeds


@dataclass
class EvalConfig:
    every: int = 1000  # gradient steps (offline) or env steps (online) between evaluations
    episodes: int = 10
    video: bool = True  # an mp4 of the first evaluation episode at each evaluation
    video_size: int = 128


def evaluate(
    agent: Any,
    task: str,
    obs_mode: str,
    image_size: int,
    episodes: int,
    seed: int,
    video_path: Path | None = None,
    video_size: int = 128,
) -> dict[str, float]:
    """Roll out the deterministic policy; returns eval/success_rate, eval/return, eval/length."""
    from robot_rl.envs import make_env

    env = make_env(task, obs=obs_mode, image_size=image_size, seed=seed + EVAL_SEED_OFFSET)
    successes, returns, lengths = [], [], []
    frames: list[np.ndarray] = []
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + EVAL_SEED_OFFSET + ep)
            done, ret, length, success = False, 0.0, 0, False
            while not done:
                if video_path is not None and ep == 0:
                    frames.append(render_frame(env, video_size))
                obs, reward, terminated, truncated, info = env.step(agent.act(obs))
                ret += float(reward)
                length += 1
                success = success or bool(info.get("success", False))
                done = terminated or truncated
            successes.append(success)
            returns.append(ret)
            lengths.append(length)
        if video_path is not None and frames:
            frames.append(render_frame(env, video_size))
            from robot_rl.envs.video import write_video

            write_video(np.stack(frames), video_path)
    finally:
        env.close()
    return {
        "eval/success_rate": float(np.mean(successes)),
        "eval/return": float(np.mean(returns)),
        "eval/length": float(np.mean(lengths)),
    }


def evaluate_and_log(
    agent: Any,
    cfg: EvalConfig,
    logger: Any,
    run_dir: Path,
    step: int,
    task: str,
    obs_mode: str,
    image_size: int,
    seed: int,
    extra: dict[str, float] | None = None,
) -> dict[str, float]:
    """`evaluate` at ``step`` (video under run_dir/videos), logged to the "eval" group with
    ``extra`` columns (e.g. the run's wall-clock so far)."""
    video = run_dir / "videos" / f"eval_{step:07d}.mp4" if cfg.video else None
    m = evaluate(agent, task, obs_mode, image_size, cfg.episodes, seed, video, cfg.video_size)
    logger.log("eval", step, {**m, **(extra or {})})
    return m


def render_frame(env: Any, size: int) -> np.ndarray:
    """A frame of the task camera at video resolution (independent of the agent's obs size)."""
    base = env.unwrapped
    if hasattr(base, "render_pixels"):
        return base.render_pixels(size)
    return env.render()
