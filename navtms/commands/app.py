"""`navtms app [SESSION_OR_PLAN]`: the desktop workbench (Plan, Calibrate, Register, Navigate, Review)."""
from __future__ import annotations

import sys
from pathlib import Path

from navcore.errors import InputFileError

NAME = "app"
HELP = "open the desktop workbench (optionally on a plan folder, a session folder or a T1 MRI)"


def add_arguments(p) -> None:
    p.add_argument("path", nargs="?", type=Path, metavar="SESSION_OR_PLAN",
                   help="a session folder, a plan folder, or a T1 MRI to start a new plan on")


def run(args) -> int:
    from navtms.app.main import display_problem

    if args.path is not None and not args.path.exists():
        raise InputFileError(args.path, "does not exist")
    problem = display_problem()
    if problem:
        print(f"navtms app: {problem}.", file=sys.stderr)
        return 2
    from navtms.app.main import run_app

    return run_app(args.path)
