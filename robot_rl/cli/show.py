"""`robot-rl show dataset=DIR episodes=[0,1,2]`: an mp4 of chosen episodes and a PNG contact
sheet of their frames, to look at data instead of reading it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from robot_rl.cli.hydra_app import run_stage
from robot_rl.errors import UserError


@dataclass
class ShowConfig:
    dataset: str = "???"
    episodes: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    key: str = "pixels"  # image observation to show
    out: str | None = None  # default: DIR/preview
    fps: int = 25
    sheet_columns: int = 10  # frames per row of the contact sheet (evenly spaced per episode)


def run(cfg: ShowConfig) -> tuple[Path, Path]:
    import numpy as np

    from robot_rl.data import Dataset
    from robot_rl.envs.video import contact_sheet, write_video

    ds = Dataset(cfg.dataset)
    if cfg.key not in ds.meta.obs_spec:
        raise UserError(
            f"{ds.root / 'meta.json'}: no image key {cfg.key!r} "
            f"(has {sorted(ds.meta.obs_spec)}); collect with obs=pixels or both"
        )
    missing = [i for i in cfg.episodes if i not in set(ds.episode_ids)]
    if missing:
        raise UserError(f"{ds.root}: no episode(s) {missing} (ids {ds.episode_ids[:5]}...)")
    out = Path(cfg.out) if cfg.out else ds.root / "preview"
    frames = [ds.load(i).obs[cfg.key] for i in cfg.episodes]
    video = out / f"episodes_{'_'.join(map(str, cfg.episodes))}.mp4"
    write_video(np.concatenate(frames), video, fps=cfg.fps)
    rows = [f[np.linspace(0, len(f) - 1, cfg.sheet_columns).round().astype(int)] for f in frames]
    sheet = contact_sheet(
        rows, out / f"sheet_{'_'.join(map(str, cfg.episodes))}.png", ncols=cfg.sheet_columns
    )
    print(f"video: {video}\ncontact sheet: {sheet}")
    return video, Path(sheet)


def main(argv: list[str]) -> None:
    run_stage("show", argv, ShowConfig, run)
