"""`navtms targets`: list the target library with the source of every entry."""
from __future__ import annotations

import json
from pathlib import Path

NAME = "targets"
HELP = "list the target library (MNI coordinates and their sources)"


def add_arguments(p) -> None:
    p.add_argument("--user-targets", type=Path, help="also list this user target library JSON")
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args) -> int:
    from targets.library import load_library

    lib = load_library(args.user_targets) if args.user_targets else load_library()
    if args.json:
        print(json.dumps([{"name": t.name, "space": t.space, "position_mm": t.position_mm.tolist(),
                           "hemisphere": t.hemisphere, "source": t.source, "verified": t.verified,
                           "origin": t.origin} for t in lib.values()], indent=2))
        return 0
    print(f"{'name':28s} {'space':5s} {'x':>6s} {'y':>6s} {'z':>6s}  verified  source")
    for t in lib.values():
        x, y, z = t.position_mm
        print(f"{t.name:28s} {t.space:5s} {x:6.0f} {y:6.0f} {z:6.0f}  {t.verified:8s}  {t.citation()}")
    return 0
