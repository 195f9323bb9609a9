"""`robot-rl dataset check DIR | export-minari DIR ID | import-minari ID DIR`."""

from __future__ import annotations

import argparse
import sys

from robot_rl.errors import UserError


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="robot-rl dataset", description="dataset tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="list every problem in a dataset (file, key, what)")
    c.add_argument("dir")
    c.add_argument("--json", action="store_true", help="print problems as JSON lines")
    i = sub.add_parser("info", help="episodes, steps, success rate, reward columns")
    i.add_argument("dir")
    e = sub.add_parser("export-minari", help="write a local Minari dataset (no hub)")
    e.add_argument("dir")
    e.add_argument("dataset_id", help="Minari id, e.g. robot_rl/push/expert-v0")
    e.add_argument("--minari-root", default=None, help="default: MINARI_DATASETS_PATH")
    m = sub.add_parser("import-minari", help="convert a local Minari dataset to our format")
    m.add_argument("dataset_id")
    m.add_argument("dir")
    m.add_argument("--minari-root", default=None)
    m.add_argument("--task", default=None, help="default: gym:<the recorded env id>")
    m.add_argument("--control-freq", type=float, default=None, help="Hz, for videos and plots")
    m.add_argument(
        "--sparse01", action="store_true", help="shift a -1/0 sparse reward (Fetch's) to 0/1"
    )
    args = p.parse_args(argv)
    try:
        if args.cmd == "check":
            sys.exit(check(args.dir, args.json))
        elif args.cmd == "info":
            info(args.dir)
        elif args.cmd == "export-minari":
            from robot_rl.data.minari_io import export_minari

            export_minari(args.dir, args.dataset_id, args.minari_root)
            print(f"exported {args.dir} -> minari dataset {args.dataset_id}")
        else:
            from robot_rl.data.minari_io import import_minari

            import_minari(
                args.dataset_id, args.dir, args.minari_root, args.task, args.control_freq,
                args.sparse01,
            )  # fmt: skip
            print(f"imported minari dataset {args.dataset_id} -> {args.dir}")
            info(args.dir)
    except UserError as err:
        print(f"robot-rl: error: {err}", file=sys.stderr)
        sys.exit(2)


def check(root: str, as_json: bool = False) -> int:
    import json

    from robot_rl.data import check_dataset
    from robot_rl.envs.tasks import list_tasks

    problems = check_dataset(root, tasks=list_tasks())
    for pr in problems:
        print(json.dumps(pr.__dict__) if as_json else f"- {pr}")
    if not as_json:
        print(f"{root}: {len(problems)} problem(s)" if problems else f"{root}: OK, no problems")
    return 1 if problems else 0


def info(root: str) -> None:
    import numpy as np

    from robot_rl.data import Dataset

    ds = Dataset(root)
    lengths, success, returns = [], [], []
    for i in ds.episode_ids:
        a = ds.load_arrays(i)
        lengths.append(len(a["action"]))
        success.append(bool(a["success"].any()))
        returns.append(float(a["reward.env"].sum()) if "reward.env" in a else float("nan"))
    spec = ", ".join(f"{k} {tuple(v.shape)} {v.dtype}" for k, v in sorted(ds.meta.obs_spec.items()))
    print(f"{root}: task {ds.meta.task}, {len(lengths)} episodes, {sum(lengths)} steps")
    print(f"  observations: {spec}; actions: {ds.meta.action_spec.dim}")
    if lengths:
        print(
            f"  success rate {np.mean(success):.2f}, mean return {np.nanmean(returns):.2f}, "
            f"mean length {np.mean(lengths):.1f}"
        )
    print(f"  reward columns: {', '.join(ds.reward_keys)}")
    prov = ds.meta.provenance
    if "success" in prov:
        print(f"  success: {prov['success']}")
    if prov.get("reward_convention"):
        print(f"  reward.env: {_convention(prov)}")


def _convention(prov: dict) -> str:
    conv, shift = prov["reward_convention"], float(prov.get("reward_shift", 0.0))
    if conv == "-1/0" and shift == 1.0:
        return "0/1 sparse (recorded as -1/0, shifted +1 on import with --sparse01)"
    if conv == "-1/0":
        return (
            "-1/0 sparse (Fetch's); re-import with --sparse01 for 0/1, or pass fail_reward=-1 "
            "to pretrain/finetune (Cal-QL's fail-forever returns)"
        )
    return f"{conv} (as recorded)"
