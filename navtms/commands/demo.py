"""`navtms demo [--headless] [--out DIR]`: plan, register and navigate a recorded session on the
embedded sample data, writing a report folder (see navtms/demo.py)."""
from __future__ import annotations

from pathlib import Path

NAME = "demo"
HELP = "run a whole navigated session on the embedded sample data and write a report"


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, default=None,
                   help="report folder to create (default: ./navtms-demo-DATE-TIME; never overwritten)")
    p.add_argument("--headless", action="store_true",
                   help="no viewer window (also the default when there is no display)")


def run(args) -> int:
    from navtms.demo import run_demo
    from viewer.display import has_display

    headless = args.headless or not has_display()
    if not args.headless and headless:
        print("no display found: running headless (the report still has viewer snapshots)")
    run_demo(args.out, headless=headless)
    return 0
