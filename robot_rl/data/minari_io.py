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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.format import (
    ENV_REWARD,
    REWARD_PREFIX,
    Dataset,
    DatasetMeta,
    DatasetWriter,
    Episode,
)
from robot_rl.data.goal_obs import (
    ACHIEVED,
    DESIRED,
    GOAL_KEYS,
    OBSERVATION,
    goal_layout,
    goal_state_obs,
    goal_state_spec,
    is_goal_dict,
    split_goal_state,
)
from robot_rl.data.io import atomic_dir
from robot_rl.errors import UserError
from robot_rl.types import GYM_PREFIX, PIXELS, STATE, ActionSpec, ArraySpec, ObsSpec

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


def _export_obs(obs: dict[str, np.ndarray], layout: dict[str, int] | None) -> dict[str, Any]:
    """Our keys, or the GoalEnv dictionary again for a dataset imported from one."""
    return split_goal_state(obs, layout) if layout else {k: obs[k] for k in sorted(obs)}


def _export_space(spec: ObsSpec, layout: dict[str, int] | None) -> Any:
    if not layout:
        return _obs_space(spec)
    g = spec[ACHIEVED]
    n = int(layout[OBSERVATION])
    parts = {OBSERVATION: (n,), ACHIEVED: g.shape, DESIRED: (spec[STATE].shape[0] - n,)}
    return _obs_space({k: ArraySpec(shape, "float32") for k, shape in parts.items()})


def _gym_spec(task: str) -> Any:
    """The Gymnasium EnvSpec of a ``gym:<id>`` task (Minari's ``env_spec``), else None."""
    if not task.startswith(GYM_PREFIX):
        return None
    import gymnasium as gym

    env_id = task[len(GYM_PREFIX) :]
    if env_id not in gym.registry:
        with contextlib.suppress(ImportError):
            import gymnasium_robotics

            gym.register_envs(gymnasium_robotics)
    return gym.registry.get(env_id)


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
    layout = m.provenance.get("goal_observation", {}).get("layout")
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
                observations=_export_obs(ep.obs, layout),
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
                observation_space=_export_space(m.obs_spec, layout),
                action_space=action_space,
                env=_gym_spec(m.task),
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


# ---------------------------------------------------------------------------------- import
@dataclass
class _ObsMap:
    """How a Minari observation space becomes robot_rl's observation keys."""

    spec: ObsSpec  # robot_rl's
    convert: Callable[[Any], dict[str, np.ndarray]]  # an episode's observations -> ours
    goal_layout: dict[str, int] | None = None  # a GoalEnv dictionary mapped to `state`


def _check_box(space: Any, key: str, dataset_id: str) -> ArraySpec:
    """A vector [D] (float32) or an image [H, W, 3] (uint8); anything else is a one-line error."""
    from gymnasium import spaces

    where = f"Minari dataset {dataset_id!r}: observation {key!r}"
    if not isinstance(space, spaces.Box):
        raise UserError(f"{where} is {type(space).__name__}; only Box spaces are supported")
    shape = tuple(int(d) for d in space.shape)
    if space.dtype == np.uint8 and len(shape) == 3 and shape[2] == 3:
        return ArraySpec(shape, "uint8")
    if space.dtype != np.uint8 and len(shape) == 1:
        return ArraySpec(shape, "float32")
    raise UserError(
        f"{where} has shape {shape} {np.dtype(space.dtype).name}; robot_rl reads vectors [D] "
        "and uint8 images [H, W, 3]: flatten or convert it first"
    )


def _obs_map(space: Any, dataset_id: str) -> _ObsMap:
    """A GoalEnv dictionary -> ``state`` + ``achieved_goal`` (see goal_obs); another Dict keeps
    its keys; a single Box becomes ``state`` (or ``pixels`` for a uint8 image)."""
    from gymnasium import spaces

    if not isinstance(space, spaces.Dict):
        spec = _check_box(space, "observation", dataset_id)
        key = PIXELS if spec.dtype == "uint8" else STATE
        return _ObsMap({key: spec}, lambda o: {key: np.asarray(o).astype(spec.dtype)})
    raw = {k: _check_box(s, k, dataset_id) for k, s in space.spaces.items()}
    if is_goal_dict(raw):
        if any(s.dtype != "float32" for s in raw.values()):
            raise UserError(f"Minari dataset {dataset_id!r}: goal observations must be vectors")
        return _ObsMap(goal_state_spec(raw), goal_state_obs, goal_layout(raw))
    if STATE not in raw and PIXELS not in raw:
        raise UserError(
            f"Minari dataset {dataset_id!r}: observation keys {sorted(raw)} give an agent no "
            f"input; robot_rl reads 'state' [D] and/or 'pixels' [H, W, 3], or a GoalEnv "
            f"dictionary {list(GOAL_KEYS)}"
        )
    return _ObsMap(raw, lambda o: {k: np.asarray(o[k]).astype(raw[k].dtype) for k in raw})


def _action_spec(space: Any, dataset_id: str) -> ActionSpec:
    from gymnasium import spaces

    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise UserError(f"Minari dataset {dataset_id!r}: actions must be a 1-D Box")
    low, high = np.unique(space.low), np.unique(space.high)
    if low.size != 1 or high.size != 1 or not np.isfinite([low[0], high[0]]).all():
        raise UserError(
            f"Minari dataset {dataset_id!r}: action bounds must be finite and equal in "
            f"every dimension (got low={space.low}, high={space.high}); rescale first"
        )
    return ActionSpec(int(space.shape[0]), float(low[0]), float(high[0]))


def _env_id(mds: Any) -> str | None:
    """The recorded environment's Gymnasium id (Minari's ``env_spec``), if any."""
    spec = getattr(mds.spec, "env_spec", None)
    return getattr(spec, "id", None) if spec is not None else None


def _reward_convention(mds: Any) -> str:
    """ "-1/0" (Fetch's sparse reward), "0/1", or "other", from every recorded reward."""
    values: set[float] = set()
    for ep in mds.iterate_episodes():
        values.update(np.unique(np.asarray(ep.rewards, dtype=np.float64)).tolist())
        if len(values) > 2:
            return "other"
    if values <= {-1.0, 0.0}:
        return "-1/0"
    return "0/1" if values <= {0.0, 1.0} else "other"


@dataclass
class _SuccessRule:
    """Where an episode's ``success`` [T] comes from, and its words for provenance."""

    source: str
    compute_reward: Callable[..., Any] | None = None  # a GoalEnv's, for "compute_reward"

    def __call__(self, infos: dict[str, Any], raw_obs: Any, T: int) -> np.ndarray:
        for key in ("success", "is_success"):  # ours (export), Gymnasium-Robotics'
            if key in infos:
                return np.asarray(infos[key], dtype=bool)[-T:]  # drop a reset-time entry
        if self.compute_reward is None:
            return np.zeros(T, dtype=bool)
        # the reward of reaching achieved_goal[t+1] for desired_goal[t+1]: 0 is success (-1/0)
        r = self.compute_reward(raw_obs[ACHIEVED][1:], raw_obs[DESIRED][1:], None)
        return np.asarray(r, dtype=np.float64).reshape(T) == 0.0


def _success_rule(mds: Any, obs_map: _ObsMap, convention: str) -> _SuccessRule:
    """infos["success"] / infos["is_success"] where recorded; else a GoalEnv's own reward rule
    (compute_reward == 0 under the -1/0 convention); else unknown (all False)."""
    infos = next(mds.iterate_episodes()).infos or {}
    for key in ("success", "is_success"):
        if key in infos:
            return _SuccessRule(f"recorded (infos[{key!r}])")
    env_id = _env_id(mds)
    if obs_map.goal_layout is None or convention != "-1/0" or env_id is None:
        return _SuccessRule("unknown (no infos['success'] / infos['is_success'], and no GoalEnv "
                            "with a -1/0 reward to recompute it)")  # fmt: skip
    with contextlib.suppress(ImportError):  # Gymnasium-Robotics' Adroit notice, irrelevant
        import farama_notifications

        farama_notifications.notifications.pop("gymnasium_robotics", None)
    try:
        env = mds.recover_environment()
    except Exception as e:  # noqa: BLE001 (any failure to build a foreign env: say which)
        return _SuccessRule(f"unknown (recorded env {env_id} could not be made: {e})")
    rule = getattr(env.unwrapped, "compute_reward", None)
    env.close()
    if rule is None:
        return _SuccessRule(f"unknown ({env_id} has no compute_reward)")
    return _SuccessRule(f"{env_id} compute_reward(achieved_goal, desired_goal) == 0", rule)


def import_minari(
    dataset_id: str,
    out_root: str | Path,
    minari_root: str | Path | None = None,
    task: str | None = None,
    control_freq: float | None = None,
    sparse01: bool = False,
) -> Dataset:
    """Convert a local Minari dataset to robot_rl's format at ``out_root`` (never downloads).

    Observations: see `_obs_map` (a GoalEnv dictionary becomes ``state`` = observation then
    desired_goal, and ``achieved_goal``). Minari rewards become ``reward.env``; a step that is
    both terminated and truncated counts as terminated. Success: see `_success_rule`. The task
    is ``gym:<recorded env id>`` when Minari recorded one (``task`` overrides). A -1/0 sparse
    reward is kept unless ``sparse01`` (then +1: the 0/1 the project's defaults assume). What
    was done is stated in meta.json's provenance. ``out_root`` must not exist; it appears only
    when every episode was written.
    """
    minari = _import_minari()
    out = Path(out_root)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists; import into a new directory")
    with _minari_root(minari_root):
        try:
            mds = minari.load_dataset(dataset_id, download=False)
        except (FileNotFoundError, ValueError) as e:
            raise UserError(f"Minari dataset {dataset_id!r}: {e}") from None
        if mds.total_episodes == 0:
            raise UserError(f"Minari dataset {dataset_id!r}: has no episodes")
        raw_meta = mds.storage.metadata.get(_META_KEY)
        ours = json.loads(raw_meta) if isinstance(raw_meta, str) else None
        obs_map = _obs_map(mds.observation_space, dataset_id)
        convention = _reward_convention(mds)
        if sparse01 and convention != "-1/0":
            raise UserError(f"Minari dataset {dataset_id!r}: sparse01 shifts a -1/0 reward to "
                            f"0/1, but its rewards are {convention}")  # fmt: skip
        meta = _import_meta(mds, dataset_id, ours, obs_map, task, control_freq)
        rule = _success_rule(mds, obs_map, convention)
        facts = _import_provenance(convention, sparse01, rule)
        meta.provenance = {**facts, **meta.provenance, "imported_from_minari": dataset_id}
        with atomic_dir(out) as tmp:
            _write_episodes(mds, DatasetWriter(tmp, meta), obs_map, rule, ours, sparse01)
    return Dataset(out)


def _import_meta(
    mds: Any,
    dataset_id: str,
    ours: dict[str, Any] | None,
    obs_map: _ObsMap,
    task: str | None,
    control_freq: float | None,
) -> DatasetMeta:
    """Our own meta.json if the dataset came from `export_minari`, else one built from Minari's
    spaces and the recorded environment."""
    action_spec = _action_spec(mds.action_space, dataset_id)
    if ours is not None:
        keep = ("schema_version", "task", "control_freq", "obs_spec", "action_spec", "provenance")
        meta = DatasetMeta.from_json(
            {k: v for k, v in ours.items() if k in keep},
            source=f"Minari dataset {dataset_id!r} metadata {_META_KEY}",
        )
        if meta.obs_spec != obs_map.spec:
            raise UserError(f"Minari dataset {dataset_id!r}: {_META_KEY} obs_spec does not "
                            "match the observation space")  # fmt: skip
    else:
        env_id = _env_id(mds)
        meta = DatasetMeta(
            task=f"{GYM_PREFIX}{env_id}" if env_id else dataset_id,
            control_freq=1.0,
            obs_spec=obs_map.spec,
            action_spec=action_spec,
        )
        if obs_map.goal_layout is not None:
            meta.provenance["goal_observation"] = {
                "state": [f"{k}[{n}]" for k, n in obs_map.goal_layout.items()],
                "layout": obs_map.goal_layout,
                "stored": ACHIEVED,
            }
    meta.task = task or meta.task
    meta.control_freq = float(control_freq or meta.control_freq)
    return meta


def _import_provenance(convention: str, sparse01: bool, rule: _SuccessRule) -> dict[str, Any]:
    """What import did (a round trip keeps what the first import said instead)."""
    return {
        "success": rule.source,
        "reward_convention": convention,
        "reward_shift": 1.0 if sparse01 else 0.0,
    }


def _write_episodes(
    mds: Any,
    writer: DatasetWriter,
    obs_map: _ObsMap,
    rule: _SuccessRule,
    ours: dict[str, Any] | None,
    sparse01: bool,
) -> None:
    reward_key = ours.get("minari_reward_key", ENV_REWARD) if ours else ENV_REWARD
    ids = ours.get("episode_ids") if ours else None
    infos_out = ours.get("episode_info") if ours else None
    shift = np.float32(1.0 if sparse01 else 0.0)
    for n, mep in enumerate(mds.iterate_episodes()):
        T = len(mep.rewards)
        term = np.asarray(mep.terminations, dtype=bool)
        infos = mep.infos or {}
        rewards = {reward_key: np.asarray(mep.rewards, dtype=np.float32) + shift}
        for k, v in infos.items():
            if k.startswith(REWARD_PREFIX) and k != reward_key:
                rewards[k] = np.asarray(v, dtype=np.float32)[-T:]
        ep = Episode(
            obs=obs_map.convert(mep.observations),
            action=np.asarray(mep.actions, dtype=np.float32),
            rewards=rewards,
            terminated=term,
            truncated=np.asarray(mep.truncations, dtype=bool) & ~term,
            success=rule(infos, mep.observations, T),
            info=infos_out[n] if infos_out and n < len(infos_out) else {"minari_episode": n},
        )
        writer.write(ep, int(ids[n]) if ids and n < len(ids) else n)
