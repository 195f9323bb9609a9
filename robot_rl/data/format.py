"""The on-disk dataset format: one directory, ``meta.json``, ``manifest.json`` and one ``.npz`` per
episode (see DESIGN.md "The dataset format"). Every file is written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.lock import dir_lock
from robot_rl.errors import UserError
from robot_rl.types import ActionSpec, ObsSpec, obs_spec_from_json, obs_spec_to_json

SCHEMA_VERSION = 1
META_FILE = "meta.json"
MANIFEST_FILE = "manifest.json"
EPISODES_DIR = "episodes"
DISPLAY_DIR = "display"  # display frames for the labeling app (display.py)
OBS_PREFIX = "obs."
REWARD_PREFIX = "reward."
ENV_REWARD = "reward.env"
INFO_KEY = "info.json"
FLAG_KEYS = ("terminated", "truncated", "success")
TMP_MARKER = ".tmp-"  # temp files are ".<final name>.tmp-<random>" in the target's directory
_EPISODE_RE = re.compile(r"^(\d+)\.npz$")
# Actions are stored in [low, high]; allow float32 round-off from clipping upstream.
_ACTION_TOL = 1e-5


# --------------------------------------------------------------------------- atomic writes
def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    """The process umask (read without changing it where Linux allows)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write ``path`` via a temp file in the same directory, fsync, then ``os.replace``.

    The file gets the mode a plain ``open`` would (0o666 less the umask), not mkstemp's 0o600,
    so a dataset can be shared with a group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARKER}", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda f: f.write(text), mode="w")


def read_json(path: Path) -> Any:
    """Read a JSON file; UserError naming the file if it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None


# --------------------------------------------------------------------------- writers' lock
def remove_stale_temps(root: Path) -> list[Path]:
    """Delete the temp files a killed writer left in ``root``, ``root/episodes`` and
    ``root/display`` (display frames, see display.py).

    Only safe under `dataset_lock`: then no other writer of this dataset can be mid-write.
    ``labels/`` is left alone (the label store has its own lock and writers)."""
    removed = []
    for d in (Path(root), Path(root) / EPISODES_DIR, Path(root) / DISPLAY_DIR):
        if not d.is_dir():
            continue
        for name in os.listdir(d):
            if name.startswith(".") and TMP_MARKER in name and (d / name).is_file():
                with contextlib.suppress(FileNotFoundError):
                    (d / name).unlink()
                    removed.append(d / name)
    return removed


@contextlib.contextmanager
def dataset_lock(root: str | Path) -> Iterator[None]:
    """Hold the dataset's writer lock (a second writer gets a one-line error naming the
    holder), after clearing the temp files an interrupted writer left."""
    with dir_lock(root, "dataset"):
        remove_stale_temps(Path(root))
        yield


# --------------------------------------------------------------------------- episode
@dataclass
class Episode:
    """One episode: T transitions, T+1 observation frames (the last one is the final obs)."""

    obs: dict[str, np.ndarray]  # [T+1, ...] per key
    action: np.ndarray  # [T, A] float32
    rewards: dict[str, np.ndarray]  # full column names, e.g. {"reward.env": [T] float32}
    terminated: np.ndarray  # [T] bool, true termination only
    truncated: np.ndarray  # [T] bool, time limit
    success: np.ndarray  # [T] bool, ground truth (evaluation only)
    info: dict[str, Any] = field(default_factory=dict)  # JSON-able: seed, policy kind, noise, ...

    @property
    def length(self) -> int:
        return int(self.action.shape[0])

    def ret(self, key: str = ENV_REWARD) -> float:
        """Undiscounted return of reward column ``key``."""
        return float(np.sum(self.rewards[key], dtype=np.float64))

    @property
    def is_success(self) -> bool:
        return bool(np.any(self.success))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The npz layout: ``obs.<key>``, ``action``, ``reward.<src>``, flags, ``info.json``."""
        arrays: dict[str, np.ndarray] = {OBS_PREFIX + k: np.asarray(v) for k, v in self.obs.items()}
        arrays["action"] = np.asarray(self.action)
        for k, v in self.rewards.items():
            if not k.startswith(REWARD_PREFIX):
                raise UserError(f"Episode.rewards: key {k!r} must start with {REWARD_PREFIX!r}")
            arrays[k] = np.asarray(v)
        arrays["terminated"] = np.asarray(self.terminated)
        arrays["truncated"] = np.asarray(self.truncated)
        arrays["success"] = np.asarray(self.success)
        try:
            arrays[INFO_KEY] = np.array(json.dumps(self.info, sort_keys=True))
        except (TypeError, ValueError) as e:
            raise UserError(f"Episode.info: not JSON-serialisable ({e})") from None
        return arrays

    @staticmethod
    def from_arrays(arrays: Mapping[str, np.ndarray]) -> Episode:
        """Inverse of ``to_arrays`` (no validation)."""
        info_raw = arrays.get(INFO_KEY)
        info = json.loads(str(info_raw[()])) if info_raw is not None else {}
        return Episode(
            obs={k[len(OBS_PREFIX) :]: v for k, v in arrays.items() if k.startswith(OBS_PREFIX)},
            action=arrays["action"],
            rewards={k: v for k, v in arrays.items() if k.startswith(REWARD_PREFIX)},
            terminated=arrays["terminated"],
            truncated=arrays["truncated"],
            success=arrays["success"],
            info=info,
        )


# --------------------------------------------------------------------------- meta
@dataclass
class DatasetMeta:
    """Contents of ``meta.json``: what every episode in the dataset looks like."""

    task: str
    control_freq: float
    obs_spec: ObsSpec
    action_spec: ActionSpec
    provenance: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "task": self.task,
            "control_freq": self.control_freq,
            "obs_spec": obs_spec_to_json(self.obs_spec),
            "action_spec": {
                "dim": self.action_spec.dim,
                "low": self.action_spec.low,
                "high": self.action_spec.high,
            },
            "provenance": self.provenance,
        }

    @staticmethod
    def from_json(d: Any, source: str = META_FILE) -> DatasetMeta:
        """Parse meta.json contents; UserError naming ``source`` and the bad key."""
        if not isinstance(d, dict):
            raise UserError(f"{source}: expected a JSON object, got {type(d).__name__}")
        for key in ("schema_version", "task", "control_freq", "obs_spec", "action_spec"):
            if key not in d:
                raise UserError(f"{source}: missing key {key!r}")
        version = d["schema_version"]
        if not isinstance(version, int) or version < 1:
            raise UserError(f"{source}: key 'schema_version' must be a positive integer")
        if version > SCHEMA_VERSION:
            raise UserError(
                f"{source}: key 'schema_version' is {version}; this robot_rl reads up to "
                f"{SCHEMA_VERSION} (upgrade robot_rl)"
            )
        if not isinstance(d["task"], str):
            raise UserError(f"{source}: key 'task' must be a string")
        if not isinstance(d["control_freq"], int | float) or d["control_freq"] <= 0:
            raise UserError(f"{source}: key 'control_freq' must be a positive number")
        obs_raw = d["obs_spec"]
        if not isinstance(obs_raw, dict) or not obs_raw:
            raise UserError(f"{source}: key 'obs_spec' must be a non-empty object")
        for k, v in obs_raw.items():
            ok = isinstance(v, dict) and isinstance(v.get("shape"), list)
            ok = ok and all(isinstance(x, int) and x > 0 for x in v["shape"])
            if not ok or v.get("dtype") not in ("float32", "uint8"):
                raise UserError(
                    f"{source}: key 'obs_spec.{k}' must be {{shape: [positive ints], "
                    f"dtype: 'float32' | 'uint8'}}"
                )
        a = d["action_spec"]
        if not isinstance(a, dict) or not isinstance(a.get("dim"), int) or a["dim"] <= 0:
            raise UserError(f"{source}: key 'action_spec.dim' must be a positive integer")
        low, high = a.get("low", -1.0), a.get("high", 1.0)
        if not isinstance(low, int | float) or not isinstance(high, int | float) or low >= high:
            raise UserError(f"{source}: keys 'action_spec.low/high' must be numbers, low < high")
        prov = d.get("provenance", {})
        if not isinstance(prov, dict):
            raise UserError(f"{source}: key 'provenance' must be an object")
        return DatasetMeta(
            task=d["task"],
            control_freq=float(d["control_freq"]),
            obs_spec=obs_spec_from_json(obs_raw),
            action_spec=ActionSpec(int(a["dim"]), float(low), float(high)),
            provenance=prov,
            schema_version=version,
        )

    @staticmethod
    def load(root: Path) -> DatasetMeta:
        path = Path(root) / META_FILE
        return DatasetMeta.from_json(read_json(path), source=str(path))

    def mismatch(self, other: DatasetMeta) -> str | None:
        """Why ``other`` describes different episodes (None if compatible; provenance ignored)."""
        for name in ("task", "control_freq", "obs_spec", "action_spec", "schema_version"):
            if getattr(self, name) != getattr(other, name):
                return f"key {name!r} differs: {getattr(self, name)!r} vs {getattr(other, name)!r}"
        return None


# --------------------------------------------------------------------------- validation
def episode_problems(arrays: Mapping[str, np.ndarray], meta: DatasetMeta) -> list[tuple[str, str]]:
    """Everything wrong with an episode's arrays against ``meta``, as (key, message) pairs."""
    probs: list[tuple[str, str]] = []
    action = arrays.get("action")
    if action is None:
        return [("action", "missing")]
    A = meta.action_spec.dim
    if action.ndim != 2 or action.shape[1] != A or action.shape[0] < 1:
        return [("action", f"shape {action.shape}, expected [T>=1, {A}]")]
    T = action.shape[0]
    if action.dtype != np.float32:
        probs.append(("action", f"dtype {action.dtype}, expected float32"))
    elif not np.isfinite(action).all():
        probs.append(("action", "contains NaN or inf"))
    else:
        lo, hi = meta.action_spec.low - _ACTION_TOL, meta.action_spec.high + _ACTION_TOL
        if action.min() < lo or action.max() > hi:
            probs.append(
                ("action", f"values outside [{meta.action_spec.low}, {meta.action_spec.high}]")
            )
    for k, spec in meta.obs_spec.items():
        key = OBS_PREFIX + k
        x = arrays.get(key)
        if x is None:
            probs.append((key, "missing (declared in meta.json obs_spec)"))
            continue
        if x.shape != (T + 1, *spec.shape):
            probs.append((key, f"shape {x.shape}, expected {(T + 1, *spec.shape)} (T+1 frames)"))
        if x.dtype != np.dtype(spec.dtype):
            probs.append((key, f"dtype {x.dtype}, expected {spec.dtype}"))
        elif x.dtype.kind == "f" and not np.isfinite(x).all():
            probs.append((key, "contains NaN or inf"))
    reward_keys = [k for k in arrays if k.startswith(REWARD_PREFIX)]
    if not reward_keys:
        probs.append((ENV_REWARD, "no reward.<src> column"))
    for k in arrays:
        if k.startswith(OBS_PREFIX) and k[len(OBS_PREFIX) :] not in meta.obs_spec:
            probs.append((k, "observation key not declared in meta.json obs_spec"))
    for k in reward_keys:
        r = arrays[k]
        if r.shape != (T,):
            probs.append((k, f"shape {r.shape}, expected ({T},)"))
        elif r.dtype != np.float32:
            probs.append((k, f"dtype {r.dtype}, expected float32"))
        elif not np.isfinite(r).all():
            probs.append((k, "contains NaN or inf"))
    flags_ok = True
    for k in FLAG_KEYS:
        f = arrays.get(k)
        if f is None:
            probs.append((k, "missing"))
            flags_ok = False
        elif f.shape != (T,) or f.dtype != np.bool_:
            probs.append((k, f"shape {f.shape} dtype {f.dtype}, expected ({T},) bool"))
            flags_ok = False
    if flags_ok:
        term, trunc = arrays["terminated"], arrays["truncated"]
        if (term & trunc).any():
            probs.append(("terminated", "terminated and truncated both true on one step"))
        if term[:-1].any() or trunc[:-1].any():
            probs.append(("terminated", "terminated/truncated set before the last step"))
    info = arrays.get(INFO_KEY)
    if info is None:
        probs.append((INFO_KEY, "missing"))
    else:
        try:
            if info.shape != () or not isinstance(json.loads(str(info[()])), dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            probs.append((INFO_KEY, f"not a 0-d JSON object string ({e})"))
    return probs


def _coerce(arrays: dict[str, np.ndarray], meta: DatasetMeta) -> dict[str, np.ndarray]:
    """Lossless-enough casts a writer accepts: float64 -> float32 for float fields."""
    out = dict(arrays)
    for k, v in arrays.items():
        want: str | None = None
        if k == "action" or k.startswith(REWARD_PREFIX):
            want = "float32"
        elif k.startswith(OBS_PREFIX) and k[len(OBS_PREFIX) :] in meta.obs_spec:
            want = meta.obs_spec[k[len(OBS_PREFIX) :]].dtype
        # Only floats are cast; a float image for a uint8 key is a real bug and stays an error.
        if want == "float32" and v.dtype.kind == "f" and v.dtype != np.float32:
            out[k] = v.astype(np.float32)
    return out


# --------------------------------------------------------------------------- files
def episode_path(root: Path, episode_id: int) -> Path:
    return Path(root) / EPISODES_DIR / f"{episode_id:06d}.npz"


def episode_id_of(name: str) -> int | None:
    """The id of an episode file name in its one canonical form (``000004.npz``), else None:
    ``4.npz`` beside ``000004.npz`` must not count as a second episode 4."""
    m = _EPISODE_RE.match(name)
    if m is None or name != episode_path(Path(), int(m.group(1))).name:
        return None
    return int(m.group(1))


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Atomically write an uncompressed npz.

    Uncompressed on purpose. Measured on this CPU for a 50-step 64x64 pixel episode with
    render-like noise: np.savez writes in ~2 ms and reads in ~1.5 ms (632 KB);
    np.savez_compressed takes ~37 ms / ~5 ms (373 KB). Replay loading and relabeling read and
    rewrite whole episodes, so speed beats a <2x size saving (compress for transport instead).
    """
    atomic_write(path, lambda f: np.savez(f, **dict(arrays)))  # type: ignore[arg-type]


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an npz; UserError naming the file if it is missing or corrupt."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except Exception as e:  # zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error
        raise UserError(f"{path}: unreadable npz ({type(e).__name__}: {e})") from None


def _default_manifest() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "reward_columns": {}}


def _read_manifest(root: Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST_FILE
    if not path.exists():
        return _default_manifest()
    m = read_json(path)
    if not isinstance(m, dict) or not isinstance(m.get("reward_columns"), dict):
        raise UserError(f"{path}: key 'reward_columns' must be an object")
    return m


def _record_columns(root: Path, sources: Mapping[str, dict[str, Any]]) -> None:
    m = _read_manifest(root)
    cols = m["reward_columns"]
    changed = False
    for k, src in sources.items():
        if cols.get(k, {}).get("source") != src:
            cols[k] = {"source": src, "added": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            changed = True
    if changed or not (Path(root) / MANIFEST_FILE).exists():
        atomic_write_json(Path(root) / MANIFEST_FILE, m)


class DatasetWriter:
    """Writes episodes into a dataset directory; several writers (processes) may share one.

    Whole operations (collect, relabel, import) hold `dataset_lock` around their writers, so a
    second operation on the same dataset is refused instead of mixed in."""

    def __init__(self, root: str | Path, meta: DatasetMeta) -> None:
        self.root = Path(root)
        self.meta = meta
        meta_path = self.root / META_FILE
        if meta_path.exists():
            existing = DatasetMeta.load(self.root)
            why = existing.mismatch(meta)
            if why is not None:
                raise UserError(f"{meta_path}: existing dataset does not match the writer: {why}")
            self.meta = existing
        else:
            atomic_write_json(meta_path, meta.to_json())
        (self.root / EPISODES_DIR).mkdir(parents=True, exist_ok=True)
        self._known_columns = set(_read_manifest(self.root)["reward_columns"])

    def set_provenance(self, provenance: dict[str, Any]) -> None:
        """Replace meta.json's provenance (a writer's job: it must describe what is on disk)."""
        self.meta.provenance = provenance
        atomic_write_json(self.root / META_FILE, self.meta.to_json())

    def exists(self, episode_id: int) -> bool:
        return episode_path(self.root, episode_id).exists()

    def write(self, episode: Episode, episode_id: int) -> Path:
        """Validate ``episode`` against meta and write it atomically; returns its path."""
        if episode_id < 0:
            raise UserError(f"episode_id must be >= 0, got {episode_id}")
        path = episode_path(self.root, episode_id)
        arrays = _coerce(episode.to_arrays(), self.meta)
        probs = episode_problems(arrays, self.meta)
        if probs:
            key, msg = probs[0]
            more = f" (+{len(probs) - 1} more)" if len(probs) > 1 else ""
            raise UserError(f"{path}: key {key!r}: {msg}{more}")
        save_npz(path, arrays)
        new = [k for k in episode.rewards if k not in self._known_columns]
        if new:
            src = {"kind": "simulator"} if new == [ENV_REWARD] else {"kind": "writer"}
            _record_columns(self.root, {k: src for k in new})
            self._known_columns.update(new)
        return path


class Dataset:
    """Read access to a dataset directory (episodes are loaded on demand)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"{self.root}: dataset directory not found")
        self.meta = DatasetMeta.load(self.root)

    @property
    def episode_ids(self) -> list[int]:
        d = self.root / EPISODES_DIR
        if not d.is_dir():
            return []
        return sorted(i for n in os.listdir(d) if (i := episode_id_of(n)) is not None)

    def __len__(self) -> int:
        return len(self.episode_ids)

    def path(self, episode_id: int) -> Path:
        return episode_path(self.root, episode_id)

    def load_arrays(self, episode_id: int) -> dict[str, np.ndarray]:
        """Raw npz arrays of one episode, validated against meta."""
        path = self.path(episode_id)
        arrays = load_npz(path)
        probs = episode_problems(arrays, self.meta)
        if probs:
            key, msg = probs[0]
            raise UserError(f"{path}: key {key!r}: {msg} (run check_dataset for the full list)")
        return arrays

    def load(self, episode_id: int) -> Episode:
        return Episode.from_arrays(self.load_arrays(episode_id))

    def __iter__(self) -> Iterator[Episode]:
        for i in self.episode_ids:
            yield self.load(i)

    def episode_length(self, episode_id: int) -> int:
        """T of one episode, reading only its action array."""
        path = self.path(episode_id)
        try:
            with np.load(path, allow_pickle=False) as z:
                return int(z["action"].shape[0])
        except Exception as e:
            raise UserError(f"{path}: unreadable npz ({type(e).__name__}: {e})") from None

    @property
    def manifest(self) -> dict[str, Any]:
        return _read_manifest(self.root)

    @property
    def reward_keys(self) -> list[str]:
        """Reward columns (``reward.<src>``) present in the dataset."""
        ids = self.episode_ids
        if ids:
            path = self.path(ids[0])
            try:
                with np.load(path, allow_pickle=False) as z:
                    return sorted(k for k in z.files if k.startswith(REWARD_PREFIX))
            except Exception as e:
                raise UserError(f"{path}: unreadable npz ({type(e).__name__}: {e})") from None
        return sorted(self.manifest["reward_columns"])

    def _columns_of(self, episode_id: int) -> set[str]:
        """The reward columns of one episode (reads only the npz's directory)."""
        path = self.path(episode_id)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k for k in z.files if k.startswith(REWARD_PREFIX)}
        except Exception as e:
            raise UserError(f"{path}: unreadable npz ({type(e).__name__}: {e})") from None

    def require_reward_column(self, col: str) -> None:
        """UserError unless every episode has reward column ``col``, naming those that lack it
        (a relabel that was interrupted leaves it in the first episodes only)."""
        ids = self.episode_ids
        lacking = [i for i in ids if col not in self._columns_of(i)]
        if not lacking:
            return
        if len(lacking) == len(ids):
            raise UserError(
                f"{self.root}: reward column {col!r} not found (has {self.reward_keys}); add one "
                "with robot-rl relabel"
            )
        names = ", ".join(self.path(i).name for i in lacking[:3])
        more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
        raise UserError(
            f"{self.root}: reward column {col!r} is missing from {len(lacking)} of {len(ids)} "
            f"episodes ({names}{more}): a relabel was interrupted; run the same robot-rl relabel "
            "again to finish it"
        )

    def add_reward_column(
        self, name: str, fn: Callable[[Episode], np.ndarray], source: dict[str, Any]
    ) -> str:
        """Write ``reward.<name> = fn(episode)`` into every episode; returns the column name.

        Other columns are never touched; re-running with the same name replaces that column
        (e.g. a newer checkpoint). ``reward.env`` is protected. Each episode is rewritten
        atomically and manifest.json records the column only once every episode has it, so an
        interrupted run is finished by running it again.
        """
        col = name if name.startswith(REWARD_PREFIX) else REWARD_PREFIX + name
        if col == ENV_REWARD or not re.fullmatch(r"reward\.[A-Za-z0-9_\-]+", col):
            raise UserError(f"reward column name {name!r} is reserved or not [A-Za-z0-9_-]+")
        try:
            json.dumps(source)
        except (TypeError, ValueError) as e:
            raise UserError(f"add_reward_column: source is not JSON-serialisable ({e})") from None
        with dataset_lock(self.root):
            for i in self.episode_ids:
                self._add_column_to(i, col, fn)
            _record_columns(self.root, {col: source})
        return col

    def _add_column_to(
        self, episode_id: int, col: str, fn: Callable[[Episode], np.ndarray]
    ) -> None:
        """Rewrite one episode with ``col = fn(episode)`` (atomically: old file or new one)."""
        arrays = self.load_arrays(episode_id)
        ep = Episode.from_arrays(arrays)
        r = np.asarray(fn(ep))
        path = self.path(episode_id)
        if r.shape != (ep.length,):
            raise UserError(
                f"{path}: key {col!r}: fn returned shape {r.shape}, expected ({ep.length},)"
            )
        r = r.astype(np.float32)
        if not np.isfinite(r).all():
            raise UserError(f"{path}: key {col!r}: fn returned NaN or inf")
        arrays[col] = r
        save_npz(path, arrays)
