"""`navtms bench NAME [--json]`: speed and accuracy figures (benchmarks live in navtms/benches/)."""
from __future__ import annotations

import importlib
import json
import pkgutil

from navcore.errors import NavtmsError

NAME = "bench"
HELP = "measure speed and accuracy (tracking, loop, ...) and print the figures"


def _benches() -> dict:
    import navtms.benches as pkg

    out = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"navtms.benches.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            out[mod.NAME] = mod
    return out


def add_arguments(p) -> None:
    names = sorted(_benches())
    p.add_argument("name", choices=names, help="which benchmark: " + ", ".join(names))
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run; figures are noisier)")


def run(args) -> int:
    mod = _benches().get(args.name)
    if mod is None:
        raise NavtmsError(f"unknown benchmark {args.name!r}")
    result = mod.run(json_out=args.json, quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0
