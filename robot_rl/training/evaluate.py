"""Evaluation in the simulator: success rate and return over K episodes, optional video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import UserError

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
    """Roll out the deterministic policy; returns eval/success_rate (success at any step),
    eval/final_success_rate (at the last step: Gymnasium-Robotics' convention), eval/return and
    eval/length."""
    from robot_rl.envs import make_env

    env = make_env(task, obs=obs_mode, image_size=image_size, seed=seed + EVAL_SEED_OFFSET)
    successes, finals, returns, lengths = [], [], [], []
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
                final = bool(info.get("success", False))
                success = success or final
                done = terminated or truncated
            successes.append(success)
            finals.append(final)
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
        "eval/final_success_rate": float(np.mean(finals)),
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


def evaluate_checkpoint(
    ckpt: str,
    episodes: int = 20,
    seed: int = 0,
    task: str | None = None,
    video: bool = True,
    video_size: int = 128,
    device: str = "auto",
) -> dict[str, float]:
    """Evaluate a checkpoint (run directory) on its task, or ``task``; writes evaluation.json
    (and videos/evaluate.mp4) into the run directory and prints the figures."""
    import json

    from robot_rl.data.io import atomic_write_json
    from robot_rl.training.checkpoint import load_agent
    from robot_rl.training.device import resolve_device

    if episodes < 1:
        raise UserError(f"episodes={episodes}: must be at least 1 to evaluate")
    agent, info = load_agent(ckpt, resolve_device(device))
    out = info.path.parent
    video_path = out / "videos" / "evaluate.mp4" if video else None
    m = evaluate(
        agent, task or info.task, info.obs_mode, info.image_size, episodes, seed, video_path,
        video_size,
    )  # fmt: skip
    atomic_write_json(out / "evaluation.json", {**m, "episodes": episodes, "seed": seed})
    print(json.dumps(m, indent=1))
    if video_path is not None:
        print(f"video: {video_path}")
    return m
