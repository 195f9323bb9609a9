"""``python -m robot_rl.labeling DATASET [--mode goals|preferences]``: run the labeling app."""

from __future__ import annotations

import argparse
import sys

from robot_rl.errors import UserError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until Ctrl-C; a UserError prints one line and exits 2."""
    p = argparse.ArgumentParser(prog="python -m robot_rl.labeling", description=__doc__)
    p.add_argument("dataset", help="dataset directory (with meta.json and episodes/)")
    p.add_argument("--mode", choices=("goals", "preferences"), default="goals")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--labeller", default="human", help="recorded as 'by' with every label")
    p.add_argument("--pairs-file", default=None, help="JSON queue of segment pairs to ask")
    p.add_argument("--segment-length", type=int, default=25)
    p.add_argument("--num-pairs", type=int, default=100)
    p.add_argument(
        "--goals-from",
        default=None,
        help="the folder outside the dataset to import goal images from",
    )
    p.add_argument("--no-browser", action="store_true")
    args = p.parse_args(argv)
    from robot_rl.labeling.server import serve

    try:
        serve(
            args.dataset,
            mode=args.mode,
            host=args.host,
            port=args.port,
            open_browser=not args.no_browser,
            labeller=args.labeller,
            pairs_file=args.pairs_file,
            segment_length=args.segment_length,
            num_pairs=args.num_pairs,
            goals_from=args.goals_from,
        )
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
