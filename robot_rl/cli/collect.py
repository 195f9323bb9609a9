"""`robot-rl collect`: episodes from scripted (or learned) policies into a dataset directory.

Resumable: episode ids are deterministic, so a re-run writes only what is missing (or what a
killed run left unreadable). A larger ``episodes`` extends the dataset; another mixture or seed
is refused unless ``append=true``, which adds the new episodes after the old ones. meta.json's
provenance lists every batch (ids, mixture, seed), so it always describes what is on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot_rl.cli.hydra_app import run_stage


@dataclass
class CollectConfig:
    task: str = "push"
    out: str = "data/${task}"
    episodes: int = 100
    # kind:fraction joined by +; kinds: expert, noisy<level> (e.g. noisy0.3), play, random,
    # checkpoint:<run dir>
    mixture: str = "expert:1.0"
    obs: str = "pixels"  # state | pixels | both
    image_size: int = 64
    # Also store every frame at this size (JPEG, display/<id>.npz) for a person labelling in the
    # web app; training reads image_size only. 0 = none: measured on zone and drawer, 256 px
    # costs ~2.3x the collection time and ~+90% bytes (scripts/bench_display_frames.py).
    display_size: int = 0
    workers: int = 1
    seed: int = 0
    progress: bool = True
    # Add episodes of another mixture/seed to an existing dataset; episodes= is the new total.
    append: bool = False


def run(cfg: CollectConfig) -> dict:
    from robot_rl.envs.collect import collect

    summary = collect(
        task=cfg.task,
        out_dir=cfg.out,
        episodes=cfg.episodes,
        mixture=cfg.mixture,
        obs=cfg.obs,
        image_size=cfg.image_size,
        workers=cfg.workers,
        seed=cfg.seed,
        progress=cfg.progress,
        append=cfg.append,
        display_size=cfg.display_size,
    )
    return summary


def main(argv: list[str]) -> None:
    run_stage("collect", argv, CollectConfig, run)
