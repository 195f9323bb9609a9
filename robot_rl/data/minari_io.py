"""Export to and import from Minari (Farama's offline-RL dataset standard), local datasets only.

Nothing here reaches a hub: datasets are created with ``minari.create_dataset_from_buffers``
and read with ``minari.load_dataset(..., download=False)`` under ``minari_root`` (Minari's
``MINARI_DATASETS_PATH``). ``minari`` (and h5py, its storage) is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.format import (
    ENV_REWARD,
    META_FILE,
    REWARD_PREFIX,
    Dataset,
    DatasetMeta,
    DatasetWriter,
    Episode,
    atomic_write_json,
    dataset_lock,
)
from robot_rl.errors import UserError
from robot_rl.types import ActionSpec, ArraySpec, ObsSpec

_META_KEY = "robot_rl_meta"  # our meta.json, kept in Minari's metadata so a round trip is exact


@contextlib.contextmanager
def _minari_root(root: str | Path | None) -> Iterator[None]:
    """Point Minari at ``root`` for the duration (Minari reads the variable on every call)."""
    if root is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(root).resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _import_minari() -> Any:
    try:
        import h5py  # noqa: F401  (Minari's default storage; fail here with a clear message)
        import minari
    except ImportError as e:
        raise UserError(
            f"Minari support needs `pip install 'minari[hdf5]'` (missing: {e.name})"
        ) from None
    return minari


def _obs_space(spec: ObsSpec) -> Any:
    from gymnasium import spaces

    out: dict[str, Any] = {}
    for k, s in sorted(spec.items()):
        if s.dtype == "uint8":
            out[k] = spaces.Box(0, 255, s.shape, np.uint8)
        else:
            out[k] = spaces.Box(-np.inf, np.inf, s.shape, np.float32)
    return spaces.Dict(out)


def export_minari(
    dataset_root: str | Path,
    dataset_id: str,
    minari_root: str | Path | None = None,
    reward_key: str = ENV_REWARD,
) -> Path:
    """Write a robot_rl dataset as a local Minari dataset; returns its directory.

    Observations become a Minari Dict space, ``reward_key`` the Minari rewards; the other
    reward columns and ``success`` go into ``infos`` (per step, [T]). Images are stored raw
    (Minari's default JPEG encoding is lossy).
    """
    minari = _import_minari()
    from minari.data_collector import EpisodeBuffer

    ds = Dataset(dataset_root)
    ds.require_reward_column(reward_key)
    m = ds.meta
    act = m.action_spec
    from gymnasium import spaces

    action_space = spaces.Box(act.low, act.high, (act.dim,), np.float32)
    buffers = []
    for n, i in enumerate(ds.episode_ids):
        ep = ds.load(i)
        infos: dict[str, Any] = {"success": ep.success}
        for k, v in ep.rewards.items():
            if k != reward_key:
                infos[k] = v
        buffers.append(
            EpisodeBuffer(
                id=n,
                observations={k: ep.obs[k] for k in sorted(m.obs_spec)},
                actions=ep.action,
                rewards=ep.rewards[reward_key],
                terminations=ep.terminated,
                truncations=ep.truncated,
                infos=infos,
            )
        )
    if not buffers:
        raise UserError(f"{ds.root}: dataset has no episodes to export")
    with _minari_root(minari_root), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Minari warns about every optional metadata field
        try:
            mds = minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=buffers,
                observation_space=_obs_space(m.obs_spec),
                action_space=action_space,
                algorithm_name=str(m.provenance.get("policy", "robot_rl")),
                author="robot_rl",
                description=f"robot_rl task {m.task!r} exported from {ds.root}",
                jpeg_encoding=False,
            )
        except ValueError as e:  # e.g. "already exists and it cannot be overridden"
            raise UserError(f"Minari dataset {dataset_id!r}: {e}") from None
        meta = m.to_json()
        meta["minari_reward_key"] = reward_key
        meta["episode_ids"] = ds.episode_ids
        meta["episode_info"] = [ds.load(i).info for i in ds.episode_ids]
        mds.storage.update_metadata({_META_KEY: json.dumps(meta)})
        return Path(mds.storage.data_path).parent


def _spec_from_space(space: Any, dataset_id: str) -> tuple[ObsSpec, bool]:
    """ObsSpec of a Minari observation space; True if it was a Dict space."""
    from gymnasium import spaces

    def one(k: str, box: Any) -> ArraySpec:
        if not isinstance(box, spaces.Box):
            raise UserError(f"Minari dataset {dataset_id!r}: observation {k!r} is "
                            f"{type(box).__name__}; only Box spaces are supported")  # fmt: skip
        if box.dtype == np.uint8:
            return ArraySpec(tuple(box.shape), "uint8")
        return ArraySpec(tuple(box.shape), "float32")

    if isinstance(space, spaces.Dict):
        return {k: one(k, s) for k, s in space.spaces.items()}, True
    spec = one("observation", space)
    key = "pixels" if spec.dtype == "uint8" and len(spec.shape) == 3 else "state"
    return {key: spec}, False


def import_minari(
    dataset_id: str,
    out_root: str | Path,
    minari_root: str | Path | None = None,
    task: str | None = None,
    control_freq: float | None = None,
) -> Dataset:
    """Convert a local Minari dataset to robot_rl's format at ``out_root`` (never downloads).

    A Dict observation space keeps its keys; a single Box becomes ``state`` (or ``pixels`` for
    uint8 HWC images). Minari rewards become ``reward.env``; a step that is both terminated
    and truncated counts as terminated. ``success`` comes from ``infos["success"]`` if
    present, else is all False (unknown; recorded in provenance).
    """
    minari = _import_minari()
    from gymnasium import spaces

    with _minari_root(minari_root):
        try:
            mds = minari.load_dataset(dataset_id, download=False)
        except (FileNotFoundError, ValueError) as e:
            raise UserError(f"Minari dataset {dataset_id!r}: {e}") from None
        raw_meta = mds.storage.metadata.get(_META_KEY)
        ours = json.loads(raw_meta) if isinstance(raw_meta, str) else None
        obs_spec, is_dict = _spec_from_space(mds.observation_space, dataset_id)
        a_space = mds.action_space
        if not isinstance(a_space, spaces.Box) or len(a_space.shape) != 1:
            raise UserError(f"Minari dataset {dataset_id!r}: actions must be a 1-D Box")
        low, high = np.unique(a_space.low), np.unique(a_space.high)
        if low.size != 1 or high.size != 1 or not np.isfinite([low[0], high[0]]).all():
            raise UserError(
                f"Minari dataset {dataset_id!r}: action bounds must be finite and equal in "
                f"every dimension (got low={a_space.low}, high={a_space.high}); rescale first"
            )
        if ours is not None:
            meta = DatasetMeta.from_json(
                {k: v for k, v in ours.items() if k in ("schema_version", "task", "control_freq",
                                                       "obs_spec", "action_spec", "provenance")},
                source=f"Minari dataset {dataset_id!r} metadata {_META_KEY}",
            )  # fmt: skip
            if meta.obs_spec != obs_spec:
                raise UserError(f"Minari dataset {dataset_id!r}: {_META_KEY} obs_spec does not "
                                f"match the observation space")  # fmt: skip
        else:
            meta = DatasetMeta(
                task=task or dataset_id,
                control_freq=float(control_freq or 1.0),
                obs_spec=obs_spec,
                action_spec=ActionSpec(int(a_space.shape[0]), float(low[0]), float(high[0])),
            )
        if task is not None:
            meta.task = task
        if control_freq is not None:
            meta.control_freq = float(control_freq)
        meta.provenance = {**meta.provenance, "imported_from_minari": dataset_id}
        reward_key = ours.get("minari_reward_key", ENV_REWARD) if ours else ENV_REWARD
        ids = ours.get("episode_ids") if ours else None
        infos_out = ours.get("episode_info") if ours else None
        with dataset_lock(out_root):  # one writer at a time; clears a killed one's temps
            _refuse_existing_episodes(Path(out_root))
            writer = DatasetWriter(out_root, meta)
            success_known = True
            for n, mep in enumerate(mds.iterate_episodes()):
                ep, known = _episode_from_minari(mep, n, obs_spec, is_dict, reward_key, infos_out)
                success_known &= known
                writer.write(ep, int(ids[n]) if ids and n < len(ids) else n)
            if not success_known:
                meta.provenance["success"] = "unknown (no infos['success'] in the Minari dataset)"
                atomic_write_json(Path(out_root) / META_FILE, meta.to_json())
    return Dataset(out_root)


def _refuse_existing_episodes(out_root: Path) -> None:
    """Importing over a dataset would replace its episodes id by id and keep its provenance."""
    if (out_root / META_FILE).exists() and Dataset(out_root).episode_ids:
        raise UserError(
            f"{out_root}: already holds a dataset with episodes; import into a new directory"
        )


def _episode_from_minari(
    mep: Any,
    n: int,
    obs_spec: ObsSpec,
    is_dict: bool,
    reward_key: str,
    infos_out: list[dict[str, Any]] | None,
) -> tuple[Episode, bool]:
    """Minari episode ``n`` as our Episode, and whether it carried ``infos['success']``."""
    T = len(mep.rewards)
    obs_raw = mep.observations if is_dict else {next(iter(obs_spec)): mep.observations}
    obs = {k: np.asarray(obs_raw[k]).astype(obs_spec[k].dtype) for k in obs_spec}
    term = np.asarray(mep.terminations, dtype=bool)
    trunc = np.asarray(mep.truncations, dtype=bool) & ~term
    infos = mep.infos or {}
    known = "success" in infos
    # [-T:] drops a reset-time entry
    succ = np.asarray(infos["success"], dtype=bool)[-T:] if known else np.zeros(T, dtype=bool)
    rewards = {reward_key: np.asarray(mep.rewards, dtype=np.float32)}
    for k, v in infos.items():
        if k.startswith(REWARD_PREFIX) and k != reward_key:
            rewards[k] = np.asarray(v, dtype=np.float32)[-T:]
    info = infos_out[n] if infos_out and n < len(infos_out) else {"minari_episode": n}
    episode = Episode(
        obs=obs,
        action=np.asarray(mep.actions, dtype=np.float32),
        rewards=rewards,
        terminated=term,
        truncated=trunc,
        success=succ,
        info=info,
    )
    return episode, known
