"""The core of ``robot-rl train-reward``: labels on disk -> a trained reward checkpoint, plus the
synthetic labellers the pipeline uses when no human labels exist."""

from __future__ import annotations

import dataclasses
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data import Dataset
from robot_rl.data.labels import GOALS_FILE, PREFS_FILE, LabelStore
from robot_rl.errors import UserError
from robot_rl.rewards.classifier import ClassifierConfig, ObsArrays, train_classifier
from robot_rl.rewards.model_io import save_reward
from robot_rl.rewards.preference import PreferenceConfig, PreferenceModel, train_preference
from robot_rl.rewards.query import QueryBudget, choose_pairs
from robot_rl.rewards.segments import EpisodeCache, SegmentPairs, load_segments, sample_segments
from robot_rl.rewards.teachers import (
    RewardsFn,
    SuccessLabeller,
    Teacher,
    dense_step_rewards,
    label_goal_frames,
    label_pairs,
    teacher_config,
)
from robot_rl.types import ObsSpec, is_image_key


# ------------------------------------------------------------------------------ goal labels
def read_goal_image(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """An imported goal image as uint8 RGB of ``shape``; other sizes are resized with a warning."""
    import cv2  # heavy import, only needed when images were imported

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{path}: cannot read the image (missing file or not a PNG/JPG)")
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels != shape[2]:
        raise UserError(f"{path}: image has {channels} channel(s), expected {shape[2]} (RGB)")
    if img.dtype != np.uint8:
        raise UserError(f"{path}: image is {img.dtype}, expected 8-bit")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.shape[:2] != tuple(shape[:2]):
        warnings.warn(
            f"{path}: image is {img.shape[1]}x{img.shape[0]}, resized to {shape[1]}x{shape[0]} "
            "to match the dataset's camera",
            stacklevel=2,
        )
        img = cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return img


def goal_frames(dataset_root: str | Path, keys: tuple[str, ...]) -> tuple[ObsArrays, ObsArrays]:
    """(positives, negatives) frames of ``keys`` from labelled frames and imported goal images."""
    ds = Dataset(dataset_root)
    store = LabelStore(ds.root)
    goals = store.root / GOALS_FILE
    spec: ObsSpec = ds.meta.obs_spec
    frames: dict[int, list[list[np.ndarray]]] = {0: [], 1: []}  # label -> per-key frame lists
    by_episode = defaultdict(list)
    for lab in store.frame_labels():
        by_episode[lab.episode].append(lab)
    ids = set(ds.episode_ids)
    for ep_id in sorted(by_episode):
        if ep_id not in ids:
            raise UserError(f"{goals}: a label refers to episode {ep_id}, not in {ds.root}")
        ep = ds.load(ep_id)
        for lab in by_episode[ep_id]:
            if not 0 <= lab.frame <= ep.length:
                raise UserError(
                    f"{goals}: episode {ep_id} frame {lab.frame} is outside 0..{ep.length}"
                )
            frames[lab.label].append([ep.obs[k][lab.frame] for k in keys])
    images = store.image_labels()
    if images:
        if len(keys) != 1 or not is_image_key(keys[0]):
            raise UserError(
                f"{goals}: imported goal images carry pixels only; the classifier also uses "
                f"{[k for k in keys if not is_image_key(k)]} (set use_proprio=false, state_keys=[])"
            )
        for im in images:
            img = read_goal_image(store.root / im.file, spec[keys[0]].shape)
            frames[im.label].append([img])

    def stack(rows: list[list[np.ndarray]]) -> ObsArrays:
        if not rows:
            return {k: np.zeros((0, *spec[k].shape), np.dtype(spec[k].dtype)) for k in keys}
        return {k: np.stack([r[i] for r in rows]) for i, k in enumerate(keys)}

    return stack(frames[1]), stack(frames[0])


def _default_classifier_config(spec: ObsSpec) -> ClassifierConfig:
    """Pixels if the dataset has them, else a state-based success detector."""
    if any(is_image_key(k) for k in spec):
        return ClassifierConfig()
    return ClassifierConfig(image_keys=(), state_keys=tuple(sorted(spec)), augment=False)


# ------------------------------------------------------------------------------ preferences
def preference_pairs(
    dataset_root: str | Path, cfg: PreferenceConfig, cache: EpisodeCache | None = None
) -> SegmentPairs:
    """Answered preference pairs from labels/preferences.json as padded segment arrays."""
    cache = cache or EpisodeCache(dataset_root)
    answered = [p for p in LabelStore(cache.dataset.root).preferences() if p.preference is not None]
    keys = tuple(cfg.obs_keys)
    a = load_segments(cache, [p.a for p in answered], keys, cfg.segment_length)
    b = load_segments(cache, [p.b for p in answered], keys, cfg.segment_length)
    return SegmentPairs(a, b, np.array([p.preference for p in answered], np.float32))


# ------------------------------------------------------------------------------ train-reward
def train_reward(
    kind: str,
    dataset_root: str | Path,
    out_dir: str | Path,
    cfg: ClassifierConfig | PreferenceConfig | None = None,
    seed: int = 0,
    progress: bool = True,
    device: str = "cpu",
) -> dict[str, float]:
    """Train a reward model of ``kind`` on the dataset's labels and save it to ``out_dir``."""
    ds = Dataset(dataset_root)
    store = LabelStore(ds.root)
    spec = ds.meta.obs_spec
    prov: dict[str, Any] = {"dataset": str(ds.root.resolve()), "seed": seed, "task": ds.meta.task}
    if kind == "classifier":
        ccfg = cfg if cfg is not None else _default_classifier_config(spec)
        if not isinstance(ccfg, ClassifierConfig):
            raise UserError("train_reward: kind 'classifier' needs a ClassifierConfig")
        ccfg.validate()
        missing = [k for k in ccfg.obs_keys() if k not in spec]
        if missing:
            raise UserError(
                f"{ds.root / 'meta.json'}: no observation key(s) {missing} for the "
                f"classifier (the dataset has {sorted(spec)})"
            )
        pos, neg = goal_frames(ds.root, ccfg.obs_keys())
        n_pos, n_neg = len(next(iter(pos.values()))), len(next(iter(neg.values())))
        if n_pos == 0:
            raise UserError(
                f"{store.root / GOALS_FILE}: no positive goal labels; label success "
                "frames, import goal images, or run synthetic labelling first"
            )
        if n_neg == 0:
            raise UserError(f"{store.root / GOALS_FILE}: no negative labels (label 0)")
        model, metrics = train_classifier(
            ccfg, pos, neg, seed=seed, progress=progress, device=device
        )
        prov |= {"positives": n_pos, "negatives": n_neg}
        save_reward(out_dir, "classifier", model, ccfg, ds.meta.action_spec.dim, metrics, prov)
        return metrics
    if kind == "preference":
        pcfg = cfg if cfg is not None else default_preference_config(spec)
        if not isinstance(pcfg, PreferenceConfig):
            raise UserError("train_reward: kind 'preference' needs a PreferenceConfig")
        pairs = preference_pairs(ds.root, pcfg)
        if len(pairs) == 0:
            raise UserError(
                f"{store.root / PREFS_FILE}: no answered preference pairs; label "
                "some or run synthetic labelling first"
            )
        model_p, metrics = train_preference(
            pcfg, pairs, spec, ds.meta.action_spec.dim, seed=seed, progress=progress, device=device
        )
        prov |= {"pairs": len(pairs)}
        save_reward(out_dir, "preference", model_p, pcfg, ds.meta.action_spec.dim, metrics, prov)
        return metrics
    raise UserError(f"reward kind must be 'classifier' or 'preference', got {kind!r}")


def default_preference_config(spec: ObsSpec, **fields: Any) -> PreferenceConfig:
    """PreferenceConfig on state if the dataset has it (cheap, as in B-Pref), else on every
    observation key; ``fields`` override the rest."""
    keys = ("state",) if "state" in spec else tuple(sorted(spec))
    return PreferenceConfig(**{"obs_keys": keys, **fields})


# ------------------------------------------------------------------------------ synthetic labels
def synthetic_goal_labels(
    dataset_root: str | Path, n_pos: int = 200, n_neg: int = 600, noise: float = 0.0, seed: int = 0
) -> dict[str, int]:
    """Goal labels from the simulator's success flag (HIL-SERL: ~200 positives, 3x negatives)."""
    pos, neg = label_goal_frames(dataset_root, SuccessLabeller(noise, seed), n_pos, n_neg, seed)
    return {"positive": pos, "negative": neg}


def synthetic_preferences(
    dataset_root: str | Path,
    n_queries: int = 200,
    teacher: str = "oracle",
    method: str = "uniform",
    rounds: int = 4,
    cfg: PreferenceConfig | None = None,
    seed: int = 0,
    rewards_fn: RewardsFn = dense_step_rewards,
) -> dict[str, Any]:
    """Preference labels from a B-Pref teacher, asked in ``rounds`` (active methods retrain the
    ensemble between rounds to pick the next queries); written to labels/preferences.json."""
    cache = EpisodeCache(dataset_root)
    spec = cache.dataset.meta.obs_spec
    cfg = cfg or default_preference_config(spec)
    rng = np.random.default_rng(seed)
    sample = sample_segments(cache, 200, cfg.segment_length, rng)
    returns = np.array([float(np.sum(rewards_fn(cache[s.episode], s))) for s in sample])
    tcfg = teacher_config(teacher, returns)
    t = Teacher(tcfg, seed)
    store = LabelStore(cache.dataset.root)
    budget = QueryBudget(n_queries)
    per_round = -(-n_queries // max(1, rounds))
    model: PreferenceModel | None = None
    asked = answered = 0
    while budget.remaining > 0:
        pairs = choose_pairs(
            cache, per_round, cfg.segment_length, rng, method, model, budget=budget
        )
        labelled = label_pairs(cache, pairs, t, rewards_fn, by=f"teacher:{teacher}")
        store.add_preferences(labelled)
        asked += len(labelled)
        answered += sum(p.preference is not None for p in labelled)
        if method != "uniform" and budget.remaining > 0 and answered > 0:
            model, _ = train_preference(
                cfg,
                preference_pairs(dataset_root, cfg, cache),
                spec,
                cache.dataset.meta.action_spec.dim,
                seed=seed,
            )
    return {"asked": asked, "answered": answered, "teacher": dataclasses.asdict(tcfg)}


def synthetic_label(kind: str, dataset_root: str | Path, seed: int = 0, **kwargs: Any) -> dict:
    """Label a dataset without a human: goal frames (classifier) or preference pairs."""
    if kind == "classifier":
        return synthetic_goal_labels(dataset_root, seed=seed, **kwargs)
    if kind == "preference":
        return synthetic_preferences(dataset_root, seed=seed, **kwargs)
    raise UserError(f"reward kind must be 'classifier' or 'preference', got {kind!r}")
