"""One self-contained HTML report per pipeline run: plots and videos embedded, no CDN, opens
offline. Learning curves, the reward model's ROC and calibration on policy-visited states (where
the simulator knows the truth), learned reward against success, success before and after
fine-tuning, videos of both policies, and the config."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.format import atomic_write

STAGE_ORDER = ["collect", "label", "train_reward", "relabel", "pretrain", "finetune", "evaluate"]


def _fig_to_img(fig: Any, alt: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _video(path: Path, caption: str) -> str:
    if not path.exists():
        return f"<p><em>no video: {html.escape(str(path))}</em></p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><video controls loop autoplay muted playsinline width="320" '
        f'src="data:video/mp4;base64,{data}"></video>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _curves(root: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.training.logger import read_csv

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for run in sorted(root.glob("pretrain-*")) + sorted(root.glob("finetune-*")):
        ax = axes[0] if run.name.startswith("pretrain") else axes[1]
        if (run / "eval.csv").exists():
            ev = read_csv(run / "eval.csv")
            ax.plot(ev["step"], ev["eval/success_rate"], "o-", label=f"{run.name} (eval)")
        if (run / "train.csv").exists() and ax is axes[1]:
            tr = read_csv(run / "train.csv")
            if "train/success_rate" in tr:
                ax.plot(tr["step"], tr["train/success_rate"], alpha=0.6, label="training episodes")
    for ax, title, xl in (
        (axes[0], "offline pre-training", "gradient steps"),
        (axes[1], "online fine-tuning", "env steps"),
    ):
        ax.set(title=title, xlabel=xl, ylabel="success rate (simulator)", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _fig_to_img(fig, "learning curves")


def _reward_plots(root: Path, reward_ckpt: Path) -> str:
    """ROC, calibration and reward-vs-success on the online episodes (policy-visited states)."""
    import matplotlib.pyplot as plt
    import torch

    from robot_rl.data import Dataset
    from robot_rl.rewards.metrics import auroc, expected_calibration_error
    from robot_rl.rewards.model_io import load_reward

    episodes = next(iter(sorted(root.glob("finetune-*/episodes"))), None)
    if episodes is None or not (reward_ckpt / "config.json").exists():
        return "<p><em>no online episodes or reward model to evaluate</em></p>"
    rm = load_reward(reward_ckpt)
    ds = Dataset(episodes)
    scores, truth = [], []
    with torch.no_grad():
        for i in ds.episode_ids[-200:]:
            ep = ds.load(i)
            nxt = {k: torch.as_tensor(ep.obs[k][1:]) for k in rm.obs_keys}
            obs = {k: torch.as_tensor(ep.obs[k][:-1]) for k in rm.obs_keys}
            scores.append(rm.reward(obs, torch.as_tensor(ep.action), nxt).numpy())
            truth.append(ep.success)
    s, y = np.concatenate(scores), np.concatenate(truth).astype(bool)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    order = np.argsort(-s)
    tpr = np.concatenate([[0], np.cumsum(y[order]) / max(y.sum(), 1)])
    fpr = np.concatenate([[0], np.cumsum(~y[order]) / max((~y).sum(), 1)])
    axes[0].plot(fpr, tpr)
    axes[0].plot([0, 1], [0, 1], "k--", alpha=0.3)
    axes[0].set(
        title=f"ROC on visited states (AUROC {auroc(s, y):.3f})",
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    p = np.clip(s, 0, 1)
    bins = np.linspace(0, 1, 11)
    idx = np.minimum(np.digitize(p, bins) - 1, 9)
    freq = [y[idx == b].mean() if (idx == b).any() else np.nan for b in range(10)]
    axes[1].plot(bins[:-1] + 0.05, freq, "o-")
    axes[1].plot([0, 1], [0, 1], "k--", alpha=0.3)
    axes[1].set(
        title=f"calibration (ECE {expected_calibration_error(p, y):.3f})",
        xlabel="predicted success probability",
        ylabel="observed success frequency",
    )
    axes[2].hist(
        [s[~y], s[y]],
        bins=30,
        label=["simulator: not success", "simulator: success"],
        stacked=False,
        alpha=0.7,
    )
    axes[2].set(
        title="learned reward vs simulator success", xlabel="learned reward", ylabel="steps"
    )
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _fig_to_img(fig, "reward model quality")


def reward_training_metrics(reward_ckpt: Path) -> str:
    """The reward model's training figures (held-out accuracy; for a synthetic teacher, the
    step-level agreement with its per-step reward) as a table; empty when there are none."""
    from robot_rl.errors import UserError
    from robot_rl.rewards.model_io import read_reward_config

    try:
        metrics = read_reward_config(reward_ckpt).get("metrics") or {}
    except UserError:  # reward=env (none) or a damaged file: the rest of the report still shows
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td></tr>"
        for k, v in sorted(metrics.items())
        if isinstance(v, int | float) and not k.endswith("_first")
    )
    if not rows:
        return ""
    return f"<h3>Training figures</h3><table><tr><th>metric</th><th>value</th></tr>{rows}</table>"


def online_classifier_summary(run: Path) -> str:
    """What the classifier did while it kept learning online (VICE/RAQ), from train.csv: a
    run where it forgot success says so here, not only in a benchmark."""
    from robot_rl.training.logger import read_csv

    path = run / "train.csv"
    cols = read_csv(path) if path.exists() else {}
    rate = [v for v in cols.get("classifier/positive_rate", []) if np.isfinite(v)]
    if not rate:
        return ""
    undone = int(np.nansum(cols.get("classifier/rolled_back", [])))
    tpr = [v for v in cols.get("classifier/visited_success_tpr", []) if np.isfinite(v)]
    last_tpr = f"{tpr[-1]:.2f}" if tpr else "n/a (no visited success yet)"
    forgot = bool(tpr) and tpr[-1] < 0.9
    warn = (
        "<p><b>Warning: the classifier no longer calls most visited successes a success "
        "(simulator-judged); its reward undercounts success.</b></p>"
        if forgot
        else ""
    )
    return (
        f"<h3>Online classifier updates</h3>{warn}<table>"
        f"<tr><td>held-out positives scored as success (lowest / last)</td>"
        f"<td>{min(rate):.2f} / {rate[-1]:.2f}</td></tr>"
        f"<tr><td>updates undone (they forgot success)</td><td>{undone}</td></tr>"
        f"<tr><td>visited successes scored as success, last (simulator-judged)</td>"
        f"<td>{last_tpr}</td></tr></table>"
    )


def write_report(root: Path, cfg: Any, stages: dict[str, Any]) -> Path:
    root = Path(root)
    ev = stages.get("evaluate", {}).get("result") or {}
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{s.get('seconds', 0):.0f} s</td></tr>"
        for name, s in sorted(
            stages.items(),
            key=lambda kv: STAGE_ORDER.index(kv[0]) if kv[0] in STAGE_ORDER else len(STAGE_ORDER),
        )
    )
    succ = "".join(
        f"<tr><td>{k}</td><td>{v.get('eval/success_rate', float('nan')):.2f}</td>"
        f"<td>{v.get('eval/return', float('nan')):.2f}</td></tr>"
        for k, v in ev.items()
    )
    reward_ckpt = root / f"reward-{cfg.reward}"
    reward_html = (
        _reward_plots(root, reward_ckpt)
        if cfg.reward != "env"
        else "<p>The simulator's reward was used (reward=env).</p>"
    )
    pre = next(iter(sorted(root.glob("pretrain-*"))), root)
    ft = next(iter(sorted(root.glob("finetune-*"))), root)
    cfg_json = html.escape(json.dumps(dataclasses.asdict(cfg), indent=1))
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>robot_rl report: {html.escape(cfg.task)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px}}
img{{max-width:100%}}figure{{display:inline-block;margin:0 1em 1em 0}}
pre{{background:#f4f4f4;padding:1em;overflow:auto;font-size:12px}}</style></head><body>
<h1>robot_rl pipeline: {html.escape(cfg.task)}</h1>
<p>reward: <b>{html.escape(cfg.reward)}</b>, pre-training: <b>{html.escape(cfg.pretrain_agent)}</b>,
fine-tuning: <b>{html.escape(cfg.finetune_method)}</b>, seed {cfg.seed}.</p>
<h2>Success (simulator ground truth)</h2>
<table><tr><th>policy</th><th>success rate</th><th>return</th></tr>{succ}</table>
<h2>Learning curves</h2>{_curves(root)}
<h2>Reward model</h2>{reward_html}{reward_training_metrics(reward_ckpt)}
{online_classifier_summary(ft)}
<h2>Videos</h2>{_video(pre / "videos" / "evaluate.mp4", "pre-trained policy")}
{_video(ft / "videos" / "evaluate.mp4", "fine-tuned policy")}
<h2>Stages</h2><table><tr><th>stage</th><th>wall-clock</th></tr>{rows}</table>
<h2>Config</h2><pre>{cfg_json}</pre></body></html>"""
    out = root / "report.html"
    atomic_write(out, lambda f: f.write(doc), mode="w")
    print(f"[pipeline] report: {out}")
    return out
