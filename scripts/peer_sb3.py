"""What a user would pick first: Stable-Baselines3 SAC (with HER on goal tasks) from scratch on a
robot_rl task, evaluated exactly as robot_rl evaluates (same episodes, seeds and success rule).

Not part of the package: bench_learning.py installs SB3 into .bench-deps/sb3 (never into the
project's environment) and runs this file with that folder on PYTHONPATH.

    PYTHONPATH=.bench-deps/sb3 python scripts/peer_sb3.py --task push --steps 30000 --out DIR
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np


class GoalView(gym.Wrapper):
    """A robot_rl state task seen as a Gymnasium-Robotics GoalEnv (observation, achieved_goal,
    desired_goal; compute_reward from the task's own success rule), as SB3's HER needs."""

    def __init__(self, env: gym.Env, spec: Any) -> None:
        super().__init__(env)
        self.spec_ = spec
        n = spec.goal[0]
        box = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(-np.inf, np.inf, (n,), np.float32),
                "achieved_goal": box,
                "desired_goal": box,
            }
        )

    def view(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        s, (a0, a1), (g0, g1) = obs["state"], self.spec_.achieved, self.spec_.goal
        return {"observation": s[:g0], "achieved_goal": s[a0:a1], "desired_goal": s[g0:g1]}

    def reset(self, **kw: Any):
        obs, info = self.env.reset(**kw)
        return self.view(obs), info

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.view(obs), reward, terminated, truncated, info

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, _info: Any) -> np.ndarray:
        return self.spec_.success(achieved, desired).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--task", default="push")
    ap.add_argument("--steps", type=int, default=30_000)
    ap.add_argument("--eval-every", type=int, default=2500)
    ap.add_argument("--eval-episodes", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch
    from stable_baselines3 import SAC, HerReplayBuffer
    from stable_baselines3.common.callbacks import BaseCallback

    from robot_rl.envs import make_env
    from robot_rl.envs.tasks import get_task_info
    from robot_rl.training.evaluate import evaluate

    torch.set_num_threads(1)
    spec = get_task_info(args.task).goal_spec()
    env = make_env(args.task, obs="state", seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {}
    if spec is not None:
        env = GoalView(env, spec)
        her = {"n_sampled_goal": 4, "goal_selection_strategy": "future"}  # SB3's HER example
        kw = {"replay_buffer_class": HerReplayBuffer, "replay_buffer_kwargs": her}
    policy = "MultiInputPolicy" if spec is not None else "MlpPolicy"
    # SB3's defaults for SAC (as a user would run it), 256x256 networks like robot_rl's.
    model = SAC(policy, env, seed=args.seed, learning_starts=1000, verbose=0,
                policy_kwargs={"net_arch": [256, 256]}, **kw)  # fmt: skip

    class Adapter:  # robot_rl's evaluator calls act(obs) with robot_rl observations
        def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
            o = env.view(obs) if isinstance(env, GoalView) else obs["state"]
            return model.predict(o, deterministic=True)[0]

    rows: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def run_eval(step: int) -> None:
        r = evaluate(Adapter(), args.task, "state", 64, args.eval_episodes, args.seed)
        rows.append({"step": step, **r, "time/elapsed_s": time.perf_counter() - t0})
        with open(out / "eval.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    class Every(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % args.eval_every == 0:
                run_eval(self.num_timesteps)
            return True

    run_eval(0)
    model.learn(total_timesteps=args.steps, callback=Every())
    if rows[-1]["step"] != args.steps:
        run_eval(args.steps)


if __name__ == "__main__":
    main()
