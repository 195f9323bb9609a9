"""The goal-classifier reward kind (VICE/RAQ, SERL): labelled goal frames -> a success detector
whose reward scores the state a transition reached and whose firing ends the episode."""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.data import Dataset
from robot_rl.data.labels import GOALS_FILE, LabelStore
from robot_rl.errors import UserError
from robot_rl.networks.modes import eval_mode
from robot_rl.rewards.camera_check import check_goal_images
from robot_rl.rewards.classifier import (
    ClassifierConfig,
    ClassifierUpdater,
    GoalClassifier,
    ObsArrays,
    concat,
    predict_proba,
    train_classifier,
)
from robot_rl.rewards.scorer import ModelScorer
from robot_rl.rewards.teachers import SuccessLabeller, label_goal_frames
from robot_rl.rewards.updates import ClassifierUpdateConfig
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


def imported_positives(dataset_root: str | Path, key: str) -> np.ndarray:
    """The goal images imported as positives [N, H, W, 3], at the dataset's frame size."""
    ds = Dataset(dataset_root)
    store, shape = LabelStore(ds.root), ds.meta.obs_spec[key].shape
    images = [read_goal_image(store.root / im.file, shape) for im in store.image_labels()
              if im.label == 1]  # fmt: skip
    return np.stack(images) if images else np.zeros((0, *shape), np.uint8)


def has_imported_positives(dataset_root: str | Path) -> bool:
    return any(im.label == 1 for im in LabelStore(dataset_root).image_labels())


def synthetic_goal_labels(
    dataset_root: str | Path, n_pos: int = 200, n_neg: int = 600, noise: float = 0.0, seed: int = 0
) -> dict[str, int]:
    """Goal labels from the simulator's success flag (HIL-SERL: ~200 positives, 3x negatives).

    The frames and answers depend on the seed alone and are written at once, keyed by frame, so
    a killed run run again writes the same labels, never a second copy. Returns what this call
    answered and the frame labels stored in all (what the classifier will train on)."""
    pos, neg = label_goal_frames(dataset_root, SuccessLabeller(noise, seed), n_pos, n_neg, seed)
    stored = [lab.label for lab in LabelStore(dataset_root).frame_labels()]
    return {
        "positive": pos,
        "negative": neg,
        "stored_positive": sum(y == 1 for y in stored),
        "stored_negative": sum(y == 0 for y in stored),
    }


# ------------------------------------------------------------------------------ the kind
class ClassifierReward(ModelScorer):
    """A goal classifier as a reward: scores ``next_obs`` (the state the transition reached)."""

    default_name = "classifier"

    @torch.no_grad()
    def reward(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, next_obs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return self.model.score(next_obs).float()

    @torch.no_grad()
    def reward_and_done(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor, next_obs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass: the reward and the classifier's own success."""
        with eval_mode(self.model):
            return self.model.score_and_success(next_obs)


class ClassifierOnline:
    """Policy-visited states become negatives (VICE); every update first asks the labeller about
    the highest-scoring visited states (RAQ; in simulation it reads the success flag), and the
    frames it confirms as successes join the positives instead of the negatives. An update that
    makes the classifier forget success is undone (``min_positive_rate``), judged on positives
    it does not train on: a fifth of the labelled ones and every second RAQ-confirmed success
    (the visited successes, which look unlike the labelled frames when it matters)."""

    HOLD_OUT_EVERY = 2  # RAQ-confirmed successes: every second one checks, the rest train

    def __init__(self, updater: ClassifierUpdater, cfg: ClassifierUpdateConfig):
        self.updater, self.cfg = updater, cfg
        updater.hard_share = cfg.hard_negatives
        self._candidates: list[dict[str, np.ndarray]] = []  # visited frames since last update
        self._episodes = 0
        self.check = self._hold_out_labelled(updater)

    @staticmethod
    def _hold_out_labelled(up: ClassifierUpdater) -> dict[str, np.ndarray]:
        """Every fifth labelled positive leaves training for the check set (all stay when there
        are fewer than five)."""
        n = len(next(iter(up.positives.values())))
        held = np.arange(4, n, 5)
        train = np.setdiff1d(np.arange(n), held)
        check = {k: v[held] for k, v in up.positives.items()}
        up.positives = {k: v[train] for k, v in up.positives.items()}
        return check

    def observe_episode(self, episode: Any) -> None:
        visited = {k: episode.obs[k][1:] for k in self.updater.model.obs_keys}
        success = np.asarray(episode.success, bool)
        self._episodes += 1
        self._candidates.append(
            {**visited, "success": success, "episode": np.full(len(success), self._episodes)}
        )

    def update(self) -> dict[str, Any] | None:
        metrics: dict[str, Any] = {}
        cands = self._take_candidates()
        if cands is not None:
            asked = np.zeros(0, int)
            if self.cfg.max_queries > 0:
                self.updater.cfg.query_budget = self.cfg.max_queries
                q = self.updater.query(
                    cands, lambda c: c["success"], self.cfg.queries_per_update,
                    hold_out_every=self.HOLD_OUT_EVERY,
                    # hard negatives: the confirmed failures should be different exploits
                    groups=cands["episode"] if self.cfg.hard_negatives > 0 else None,
                )  # fmt: skip
                asked = q["asked_idx"]
                if q["held_out"] is not None:
                    self.check = concat(self.check, q["held_out"])
                metrics["classifier/queries"] = float(self.updater.queries_used)
                metrics["classifier/query_positive"] = float(q["positive"])
            keep = np.setdiff1d(np.arange(len(cands["success"])), asked)
            self.updater.add_negatives({k: cands[k][keep] for k in self.updater.model.obs_keys})
        metrics.update(self._guarded_update())
        if cands is not None and cands["success"].any():  # simulator-judged: a diagnostic only
            hits = self.success_of({k: v[cands["success"]] for k, v in cands.items()})
            metrics["classifier/visited_success_tpr"] = float(hits.mean())
        return metrics

    def _take_candidates(self) -> dict[str, np.ndarray] | None:
        if not self._candidates:
            return None
        c = self._candidates
        self._candidates = []
        return {k: np.concatenate([x[k] for x in c]) for k in c[0]}

    def _guarded_update(self) -> dict[str, Any]:
        """The classifier's gradient steps, undone when they drop the share of known positives
        scored as success below ``min_positive_rate`` (and below what it was)."""
        up, floor = self.updater, self.cfg.min_positive_rate
        before = self.positive_rate()
        saved = copy.deepcopy((up.model.state_dict(), up.opt.state_dict()))
        metrics: dict[str, Any] = dict(up.update(self.cfg.steps))
        up.model.eval()
        after = self.positive_rate()
        rolled_back = floor > 0 and after < min(floor, before)
        if rolled_back:
            up.model.load_state_dict(saved[0])
            up.opt.load_state_dict(saved[1])
            print(
                f"[classifier] an online update dropped the known positives scored as success "
                f"from {before:.2f} to {after:.2f} (< classifier.min_positive_rate={floor}): "
                "undone"
            )
        metrics["classifier/positive_rate"] = before if rolled_back else after
        metrics["classifier/rolled_back"] = float(rolled_back)
        return metrics

    def success_of(self, frames: dict[str, np.ndarray], cap: int = 512) -> np.ndarray:
        """Whether the classifier calls each of (at most ``cap``, evenly spaced) frames a
        success."""
        n = len(next(iter(frames.values())))
        idx = np.linspace(0, n - 1, min(n, cap)).astype(int) if n else np.zeros(0, int)
        model = self.updater.model
        probs = predict_proba(model, {k: frames[k][idx] for k in model.obs_keys})
        return probs >= float(model.threshold)

    def positive_rate(self) -> float:
        """Share of the held-out positives (labelled and RAQ-confirmed) scored as success; 1.0
        without any."""
        if len(next(iter(self.check.values()))) == 0:
            return 1.0
        return float(self.success_of(self.check).mean())

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.updater.state_dict(),
            "candidates": list(self._candidates),
            "check": self.check,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updater.load_state_dict(state)
        self._candidates = list(state.get("candidates", []))
        self.check = state.get("check", self.check)


class ClassifierKind:
    name = "classifier"
    config: type = ClassifierConfig
    label_mode = "goals"
    terminates_episodes = True
    up_to_constant = False
    # Binary reward 1[p > threshold], like the simulator's sparse one (SERL). A probability
    # reward is positive on every step, so with termination at success an agent learns to
    # avoid finishing (measured: 0.85 -> 0.0 success within 1k fine-tuning steps).
    sparse_fields: dict[str, Any] = {"reward_type": "binary"}

    def build(self, obs_spec: ObsSpec, action_dim: int, cfg: Any) -> GoalClassifier:
        return GoalClassifier(obs_spec, cfg)

    def scorer(self, model: Any, name: str) -> ClassifierReward:
        return ClassifierReward(model, name)

    def threshold(self, model: Any) -> float | None:
        return float(model.threshold)

    def default_config(self, obs_spec: ObsSpec, **fields: Any) -> ClassifierConfig:
        """Pixels if the dataset has them, else a state-based success detector."""
        if any(is_image_key(k) for k in obs_spec):
            return ClassifierConfig(**fields)
        return ClassifierConfig(
            **{"image_keys": (), "state_keys": tuple(sorted(obs_spec)), "augment": False, **fields}
        )

    def train(
        self, ds: Dataset, cfg: Any, seed: int, progress: bool, device: str
    ) -> tuple[GoalClassifier, ClassifierConfig, dict[str, float], dict[str, Any]]:
        store, spec = LabelStore(ds.root), ds.meta.obs_spec
        ccfg = cfg if cfg is not None else self.default_config(spec)
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
        check: dict[str, float] = {}
        if has_imported_positives(ds.root):  # pixels only (goal_frames checked the keys)
            images = imported_positives(ds.root, ccfg.obs_keys()[0])
            check = check_goal_images(ds, ccfg.obs_keys()[0], images, str(store.goal_images_dir))
        model, metrics = train_classifier(
            ccfg, pos, neg, seed=seed, progress=progress, device=device, imported=bool(check)
        )
        return model, ccfg, metrics | check, {"positives": n_pos, "negatives": n_neg}

    def synthetic_labels(self, dataset_root: str | Path, seed: int, **kwargs: Any) -> dict:
        return synthetic_goal_labels(dataset_root, seed=seed, **kwargs)

    def online(
        self,
        model: Any,
        model_cfg: Any,
        doc: dict[str, Any],
        update_cfg: ClassifierUpdateConfig,
        seed: int,
    ) -> ClassifierOnline:
        root = doc["provenance"]["dataset"]
        pos, neg = goal_frames(root, model.obs_keys)
        model.train()
        imported = has_imported_positives(root)
        return ClassifierOnline(
            ClassifierUpdater(model, model_cfg, pos, neg, seed, imported), update_cfg
        )
