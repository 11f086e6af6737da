"""The `navtms` command.

Each subcommand is a module in navtms/commands/ that defines
    NAME: str            the subcommand name (e.g. "register")
    HELP: str            one line for `navtms --help`
    add_arguments(parser)  adds its options to an argparse parser
    run(args) -> int     does the work, returns the exit code
Modules are discovered, so adding a command touches no shared file. Library errors
(navcore.errors.NavtmsError) become one sentence on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from navcore.errors import NavtmsError

EXIT_BAD_INPUT = 2


def _command_modules():
    import navtms.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"navtms.commands.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


def build_parser() -> argparse.ArgumentParser:
    from navtms import __version__

    parser = argparse.ArgumentParser(
        prog="navtms",
        description="Open neuronavigation and coil targeting for transcranial magnetic stimulation.")
    parser.add_argument("--version", action="version", version=f"navtms {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args._run(args) or 0)
    except NavtmsError as e:
        print(f"navtms {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"navtms {args.command}: interrupted", file=sys.stderr)
        return 130
