"""Goal classifiers (success detectors) and their training: offline on labelled frames, and online
with policy-visited states as extra negatives (VICE / RAQ)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.errors import UserError
from robot_rl.networks.encoders import ObsEncoder, random_shift
from robot_rl.networks.mlp import MLP
from robot_rl.networks.modes import eval_mode
from robot_rl.rewards.losses import balanced_bce, gradient_penalty, mixup, sample_mixup
from robot_rl.rewards.metrics import best_threshold, classification_metrics
from robot_rl.types import PROPRIO, ArraySpec, ObsSpec, is_image_key

ObsArrays = dict[str, np.ndarray]  # key -> [N, ...] frames
REWARD_TYPES = ("prob", "logit", "binary")


@dataclass
class ClassifierConfig:
    """Goal classifier settings (defaults from SERL/HIL-SERL and VICE-RAQ where they exist)."""

    image_keys: tuple[str, ...] = ("pixels",)
    use_proprio: bool = False  # off by default: robot pose alone can be a shortcut to "success"
    state_keys: tuple[str, ...] = ()  # vector keys, for a state-based success detector
    lr: float = 3e-4
    weight_decay: float = 0.0
    batch_size: int = 64  # half positives, half negatives
    steps: int = 500  # ~0.5 s each at batch 64 on 2 CPU cores (32-channel encoder)
    label_smoothing: float = 0.2  # VICE-RAQ
    mixup_alpha: float = 0.2  # lam ~ Beta(alpha, alpha); 0 disables
    augment: bool = True  # random shift (DrQ) + per-sample colour jitter on image keys
    shift_pad: int = 4
    color_jitter: float = 0.2  # max relative change of brightness/contrast/saturation
    # With imported goal images (a user's own camera) every frame of a batch, positive or
    # negative, also gets a random resized crop (area x[1 - s, 1 + s], aspect exp(+-s), up to
    # 20*s degrees rotation) and colour jitter of at least s. Off by default: measured
    # (bench_classifier --parts camera), 0.3 does not rescue a camera moved 20 degrees (AUROC
    # on task-camera frames: zone 0.61 -> 0.62, drawer 0.64 -> 0.04, drawer dark 0.92 -> 0.65);
    # the train-time camera-mismatch warning is what tells a user. 0 disables.
    imported_augment: float = 0.0
    grad_penalty: float = 0.0  # weight of the input-gradient penalty
    reward_type: str = "prob"  # "prob" p(success|s) | "logit" log-odds (VICE) | "binary" 1[p > t]
    threshold: float = 0.5  # replaced by the one chosen on held-out data after training
    holdout_fraction: float = 0.2
    channels: int = 32
    feature_dim: int = 50
    hidden_dims: tuple[int, ...] = (256, 256)
    visited_capacity: int = 20000  # bounded buffer of policy-visited negatives (online)
    query_budget: int = 75  # RAQ labeller queries allowed over a run

    def obs_keys(self) -> tuple[str, ...]:
        keys = [*self.image_keys, *([PROPRIO] if self.use_proprio else []), *self.state_keys]
        return tuple(sorted(set(keys)))

    def validate(self) -> None:
        if self.reward_type not in REWARD_TYPES:
            raise UserError(f"classifier config: field 'reward_type' must be one of {REWARD_TYPES}")
        if not self.obs_keys():
            raise UserError("classifier config: no observation keys (image_keys, state_keys)")
        if self.batch_size < 2 or self.steps < 0 or self.lr <= 0:
            raise UserError("classifier config: need batch_size >= 2, steps >= 0, lr > 0")
        if not 0.0 <= self.label_smoothing < 1.0 or not 0.0 <= self.holdout_fraction < 1.0:
            raise UserError("classifier config: label_smoothing and holdout_fraction in [0, 1)")
        if not 0.0 <= self.imported_augment < 1.0:
            raise UserError(
                f"classifier config: field 'imported_augment' must be in [0, 1) (0 disables), "
                f"got {self.imported_augment}"
            )


class GoalClassifier(nn.Module):
    """Success detector (VICE, Fu et al. 2018; SERL): logit = MLP(ObsEncoder(s)); BCE D+ vs D-."""

    threshold: torch.Tensor  # buffer: saved with the weights

    def __init__(self, obs_spec: ObsSpec, cfg: ClassifierConfig):
        super().__init__()
        cfg.validate()
        missing = [k for k in cfg.obs_keys() if k not in obs_spec]
        if missing:
            raise UserError(
                f"classifier needs observation key(s) {missing}, the data has {sorted(obs_spec)}"
            )
        self.obs_keys = cfg.obs_keys()
        self.obs_spec: ObsSpec = {k: obs_spec[k] for k in self.obs_keys}
        self.reward_type = cfg.reward_type
        self.encoder = ObsEncoder(self.obs_spec, cfg.channels, cfg.feature_dim)
        self.head = MLP(self.encoder.out_dim, cfg.hidden_dims, 1)
        self.register_buffer("threshold", torch.tensor(float(cfg.threshold)))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Success logits [B]."""
        return self.head(self.encoder({k: obs[k] for k in self.obs_keys})).squeeze(-1)

    def score(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The reward of reaching ``obs`` [B], by ``reward_type``."""
        return self.score_and_success(obs)[0]

    def score_and_success(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(reward [B], p(success) > threshold [B]) from one forward pass."""
        logits = self(obs)
        p = torch.sigmoid(logits)
        success = p > self.threshold
        if self.reward_type == "logit":
            return logits, success
        return (success.float() if self.reward_type == "binary" else p), success


# ------------------------------------------------------------------------------ augmentation
_LUMA = torch.tensor([0.299, 0.587, 0.114])


def color_jitter(pixels: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-sample brightness, contrast and saturation jitter on uint8 [B, H, W, 3].

    torchvision.transforms.v2.ColorJitter draws one factor per call, so a whole batch would
    share one jitter; this draws factors in [1 - s, 1 + s] per image with the same formulas.
    """
    b = pixels.shape[0]
    x = pixels.float() / 255.0  # [B, H, W, C]
    f = 1.0 + (torch.rand(3, b, 1, 1, 1, device=x.device) * 2 - 1) * strength  # [3, B, 1, 1, 1]
    x = (x * f[0]).clamp(0, 1)  # brightness
    gray = (x * _LUMA.to(x.device)).sum(-1, keepdim=True)  # [B, H, W, 1]
    x = (x - gray.mean((1, 2, 3), keepdim=True)) * f[1] + gray.mean((1, 2, 3), keepdim=True)
    x = x.clamp(0, 1)  # contrast around the mean grey level
    gray = (x * _LUMA.to(x.device)).sum(-1, keepdim=True)
    x = ((x - gray) * f[2] + gray).clamp(0, 1)  # saturation
    return (x * 255.0).round().to(torch.uint8)


def random_resized_crop(pixels: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-sample random resized crop on uint8 [B, H, W, 3]: area x[1 - s, 1 + s] of the frame
    (above 1 zooms out, black beyond the edge), aspect exp(+-s) (s = 0.3: about 3:4..4:3), up to
    20*s degrees of rotation, a random place; resampled to [H, W] by one `grid_sample`."""
    b = pixels.shape[0]
    x = pixels.permute(0, 3, 1, 2).float()  # [B, C, H, W]
    u = torch.rand(5, b, device=x.device) * 2 - 1  # [5, B] in [-1, 1]
    area = 1.0 + u[0] * strength
    aspect = torch.exp(u[1] * strength)
    sx, sy = torch.sqrt(area * aspect), torch.sqrt(area / aspect)  # [B] crop size / frame size
    angle = u[2] * math.radians(20.0 * strength)
    tx = u[3] * (1 - sx).clamp(min=0.0)  # the crop stays inside the frame when it is smaller
    ty = u[4] * (1 - sy).clamp(min=0.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([sx * cos, -sy * sin, tx], -1), torch.stack([sx * sin, sy * cos, ty], -1)], 1
    )  # [B, 2, 3]: output grid -> input coordinates
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)  # [B, H, W, C]


def augment_obs(
    obs: dict[str, torch.Tensor], cfg: ClassifierConfig, imported: bool = False
) -> dict[str, torch.Tensor]:
    """Random shift + colour jitter on the image keys; vector keys pass through. With
    ``imported`` goal images, also ``cfg.imported_augment``'s crops and stronger jitter."""
    out = dict(obs)
    strong = cfg.imported_augment if imported else 0.0
    jitter = max(cfg.color_jitter, strong)
    for k, v in obs.items():
        if is_image_key(k):
            v = random_resized_crop(v, strong) if strong > 0 else v
            v = random_shift(v, cfg.shift_pad) if cfg.shift_pad > 0 else v
            out[k] = color_jitter(v, jitter) if jitter > 0 else v
    return out


# ------------------------------------------------------------------------------ data helpers
def obs_spec_of(frames: ObsArrays) -> ObsSpec:
    return {
        k: ArraySpec(tuple(int(d) for d in v.shape[1:]), v.dtype.name) for k, v in frames.items()
    }


def num_frames(frames: ObsArrays) -> int:
    return int(next(iter(frames.values())).shape[0]) if frames else 0


def take(frames: ObsArrays, idx: np.ndarray) -> ObsArrays:
    return {k: v[idx] for k, v in frames.items()}


def concat(a: ObsArrays, b: ObsArrays) -> ObsArrays:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


@torch.no_grad()
def predict_proba(model: GoalClassifier, frames: ObsArrays, batch_size: int = 256) -> np.ndarray:
    """p(success) [N] for frames, in batches, without gradients."""
    dev, keys = model.threshold.device, model.obs_keys
    out = []
    with eval_mode(model):
        for i in range(0, num_frames(frames), batch_size):
            obs = {k: torch.as_tensor(frames[k][i : i + batch_size], device=dev) for k in keys}
            out.append(torch.sigmoid(model(obs)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


# ------------------------------------------------------------------------------ training
class ClassifierUpdater:
    """Balanced-batch classifier training; online it also takes policy-visited negatives (VICE)
    and asks a labeller about the highest-scoring visited states (RAQ, Singh et al. 2019)."""

    def __init__(
        self,
        model: GoalClassifier,
        cfg: ClassifierConfig,
        positives: ObsArrays,
        negatives: ObsArrays,
        seed: int = 0,
        imported: bool = False,
    ):
        self.model, self.cfg = model, cfg
        self.imported = imported  # positives include imported goal images: stronger augmentation
        keys = model.obs_keys
        for name, frames in (("positives", positives), ("negatives", negatives)):
            if num_frames(frames) == 0:
                raise UserError(f"classifier training needs at least one of the {name}")
            missing = [k for k in keys if k not in frames]
            if missing:
                raise UserError(f"classifier {name} lack observation key(s) {missing}")
        self.positives = {k: positives[k] for k in keys}
        self.negatives = {k: negatives[k] for k in keys}
        self.visited = {
            k: np.zeros((cfg.visited_capacity, *s.shape), np.dtype(s.dtype))
            for k, s in model.obs_spec.items()
        }
        # Labeller-confirmed failures among the highest-scoring visited frames: the states the
        # policy exploits. ``hard_share`` of each batch's negatives come from them (0 = none).
        self.hard: ObsArrays | None = None
        self.hard_share = 0.0
        self.n_visited = 0  # filled slots of the ring buffer
        self._next = 0  # next slot to overwrite (oldest first)
        self.queries_used = 0
        self.rng = np.random.default_rng(seed)
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def add_negatives(self, obs_batch: ObsArrays) -> None:
        """Add policy-visited frames [N, ...] as negatives; the oldest are dropped past capacity."""
        n, cap = num_frames(obs_batch), self.cfg.visited_capacity
        if n == 0 or cap == 0:
            return
        idx = (self._next + np.arange(min(n, cap))) % cap
        for k in self.visited:
            self.visited[k][idx] = obs_batch[k][-cap:]
        self._next = int((idx[-1] + 1) % cap)
        self.n_visited = min(cap, self.n_visited + n)

    def state_dict(self) -> dict:
        """Everything a resumed online run needs (model, optimiser, data, buffer, rng)."""
        return {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "positives": self.positives,
            "negatives": self.negatives,
            "visited": self.visited,
            "n_visited": self.n_visited,
            "next": self._next,
            "queries_used": self.queries_used,
            "rng": self.rng.bit_generator.state,
            "hard": self.hard,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.positives, self.negatives = state["positives"], state["negatives"]
        self.visited, self.n_visited, self._next = (
            state["visited"],
            state["n_visited"],
            state["next"],
        )
        self.queries_used = state["queries_used"]
        self.rng.bit_generator.state = state["rng"]
        self.hard = state.get("hard")  # absent in checkpoints from before hard negatives

    def add_positives(self, obs_batch: ObsArrays) -> None:
        self.positives = concat(self.positives, {k: obs_batch[k] for k in self.positives})

    def _batch(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        half = self.cfg.batch_size // 2
        n_pos, n_neg = num_frames(self.positives), num_frames(self.negatives)
        pi = self.rng.integers(0, n_pos, half)
        hard = self.hard
        n_hard = round(half * self.hard_share) if hard is not None else 0
        # the rest: original + visited, uniformly
        ni = self.rng.integers(0, n_neg + self.n_visited, half - n_hard)
        from_data, from_visited = ni[ni < n_neg], ni[ni >= n_neg] - n_neg
        dev = self.model.threshold.device
        parts = [(self.positives, pi), (self.negatives, from_data), (self.visited, from_visited)]
        if hard is not None and n_hard:
            parts.append((hard, self.rng.integers(0, num_frames(hard), n_hard)))
        obs = {
            k: torch.as_tensor(np.concatenate([src[k][i] for src, i in parts]), device=dev)
            for k in self.positives
        }
        y = torch.cat([torch.ones(half), torch.zeros(half)]).to(dev)
        return obs, y

    def update(self, n_steps: int = 1) -> dict[str, torch.Tensor]:
        """``n_steps`` gradient steps on balanced batches; metrics of the last one (detached)."""
        cfg, model = self.cfg, self.model
        model.train()
        metrics: dict[str, torch.Tensor] = {}
        for _ in range(n_steps):
            obs, y = self._batch()
            if cfg.augment:
                obs = augment_obs(obs, cfg, self.imported)
            target = y
            if cfg.mixup_alpha > 0:
                lam, perm = sample_mixup(len(y), cfg.mixup_alpha, self.rng)
                obs, target = mixup(obs, y, lam.to(y.device), perm.to(y.device))
            if cfg.grad_penalty > 0:
                obs = {k: v.float().requires_grad_(True) for k, v in obs.items()}
            logits = model(obs)
            loss = balanced_bce(logits, target, cfg.label_smoothing)
            metrics = {"classifier/bce": loss.detach()}
            if cfg.grad_penalty > 0:
                gp = gradient_penalty(logits, list(obs.values()))
                loss = loss + cfg.grad_penalty * gp
                metrics["classifier/grad_penalty"] = gp.detach()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            p = torch.sigmoid(logits.detach())
            metrics["classifier/loss"] = loss.detach()
            metrics["classifier/pos_prob"] = p[y > 0.5].mean()
            metrics["classifier/neg_prob"] = p[y < 0.5].mean()
        return metrics

    def query(
        self,
        candidates: ObsArrays,
        labeller: Callable[[ObsArrays], np.ndarray],
        max_queries: int = 1,
        hold_out_every: int = 0,
        groups: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """RAQ: ask ``labeller`` about the highest-scoring candidates, within the query budget.

        ``candidates`` may hold extra keys (e.g. "success") that only the labeller reads; it
        returns bool labels [k] and each frame joins the positives or the negatives. The result
        also names the candidates asked (``asked_idx``), so the caller can keep them out of the
        visited negatives. With ``hold_out_every=n`` every n-th confirmed positive is returned
        (``held_out``) instead of trained on: a check that the classifier still knows success.
        With ``groups`` (e.g. each frame's episode) the best frame of each group is asked first,
        so the questions cover different states instead of neighbouring frames of one.
        """
        k = min(max_queries, self.cfg.query_budget - self.queries_used, num_frames(candidates))
        if k <= 0:
            return {"asked": 0, "positive": 0, "asked_idx": np.zeros(0, int), "held_out": None}
        probs = predict_proba(self.model, {k2: candidates[k2] for k2 in self.model.obs_keys})
        top = _best_first(probs, groups)[:k]
        labels = np.asarray(labeller(take(candidates, top))).astype(bool).reshape(-1)
        if labels.shape != (k,):
            raise ValueError(f"labeller returned {labels.shape} labels for {k} frames")
        chosen = {key: candidates[key][top] for key in self.model.obs_keys}
        pos = np.flatnonzero(labels)
        held = pos[hold_out_every - 1 :: hold_out_every] if hold_out_every > 0 else pos[:0]
        if len(held) < len(pos):
            self.add_positives(take(chosen, np.setdiff1d(pos, held)))
        if (~labels).any():
            failed = take(chosen, np.flatnonzero(~labels))
            self.negatives = concat(self.negatives, failed)
            self.hard = failed if self.hard is None else concat(self.hard, failed)
        self.queries_used += k
        return {
            "asked": k,
            "positive": int(labels.sum()),
            "asked_idx": top,
            "held_out": take(chosen, held) if len(held) else None,
        }


def _best_first(probs: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Indices by falling score; with ``groups``, each group's best frame before any second."""
    order = np.argsort(-probs, kind="stable")
    if groups is None:
        return order
    _, first = np.unique(groups[order], return_index=True)
    lead = np.zeros(len(order), bool)
    lead[first] = True
    return np.concatenate([order[lead], order[~lead]])


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) indices; the training side always keeps at least one frame."""
    perm = rng.permutation(n)
    n_hold = min(int(n * fraction), n - 1)
    return perm[n_hold:], perm[:n_hold]


def train_classifier(
    cfg: ClassifierConfig,
    positives: ObsArrays,
    negatives: ObsArrays,
    holdout_fraction: float | None = None,
    seed: int = 0,
    progress: bool = False,
    device: str | torch.device = "cpu",
    imported: bool = False,
) -> tuple[GoalClassifier, dict[str, float]]:
    """Train on balanced batches; pick the threshold maximising held-out balanced accuracy.
    ``imported``: the positives include imported goal images (``cfg.imported_augment``).

    Held-out metrics (accuracy, balanced accuracy, AUROC, ECE) are measured on the same frames
    that chose the threshold, so the thresholded accuracies are optimistic; AUROC and ECE are not
    affected. With no held-out frame of one class, the threshold stays ``cfg.threshold``.
    """
    cfg.validate()
    if num_frames(positives) == 0:
        raise UserError("no positive (goal) frames to train the classifier on")
    if num_frames(negatives) == 0:
        raise UserError("no negative frames to train the classifier on")
    frac = cfg.holdout_fraction if holdout_fraction is None else holdout_fraction
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    p_tr, p_ho = _split(num_frames(positives), frac, rng)
    n_tr, n_ho = _split(num_frames(negatives), frac, rng)
    model = GoalClassifier(obs_spec_of(positives), cfg).to(device)
    updater = ClassifierUpdater(
        model, cfg, take(positives, p_tr), take(negatives, n_tr), seed, imported
    )
    first = last = None
    chunk = max(1, cfg.steps // 10)
    done = 0
    while done < cfg.steps:
        m = updater.update(min(chunk, cfg.steps - done))
        done += min(chunk, cfg.steps - done)
        first = float(m["classifier/bce"]) if first is None else first
        last = float(m["classifier/bce"])
        if progress:
            print(f"classifier step {done}/{cfg.steps} bce {last:.4f}", file=sys.stderr)
    metrics: dict[str, float] = {
        "train/bce_first": float("nan") if first is None else first,
        "train/bce_last": float("nan") if last is None else last,
        "train/n_pos": float(len(p_tr)),
        "train/n_neg": float(len(n_tr)),
    }
    hold = concat(take(positives, p_ho), take(negatives, n_ho))
    labels = np.concatenate([np.ones(len(p_ho), bool), np.zeros(len(n_ho), bool)])
    threshold = cfg.threshold
    if len(labels):
        probs = predict_proba(model, hold)
        if len(p_ho) and len(n_ho):
            threshold = best_threshold(probs, labels)
        metrics |= {
            f"holdout/{k}": float(v)
            for k, v in classification_metrics(probs, labels, threshold).items()
        }
        metrics["holdout/accuracy_at_0.5"] = float(((probs > 0.5) == labels).mean())
    model.threshold.fill_(threshold)
    metrics["threshold"] = float(model.threshold)  # as stored (float32)
    return model, metrics


def evaluate_classifier(
    model: GoalClassifier, positives: ObsArrays, negatives: ObsArrays
) -> dict[str, float]:
    """accuracy / balanced accuracy / AUROC / ECE on labelled frames at the model's threshold."""
    keys = model.obs_keys
    frames = concat({k: positives[k] for k in keys}, {k: negatives[k] for k in keys})
    n_pos, n_neg = num_frames(positives), num_frames(negatives)
    labels = np.concatenate([np.ones(n_pos, bool), np.zeros(n_neg, bool)])
    m = classification_metrics(predict_proba(model, frames), labels, float(model.threshold))
    return {k: float(v) for k, v in m.items()}
