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
import re
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


#: A coordinate list that starts with a minus sign, e.g. "-38,44,26" or "-38.5 44 26".
_NEGATIVE_COORDS = re.compile(r"^-\d[\d.eE+-]*([,\s]+[-+]?[\d.eE+-]+)+$")


def join_negative_values(argv: list[str]) -> list[str]:
    """`--option -38,44,26` -> `--option=-38,44,26`: argparse takes a value that starts with '-'
    for an option (it only knows plain negative numbers), so coordinates with a negative first
    value would need the `--option=` spelling; this joins them for the user."""
    out: list[str] = []
    for tok in argv:
        prev = out[-1] if out else ""
        if (_NEGATIVE_COORDS.match(tok) and prev.startswith("--") and "=" not in prev and len(prev) > 2):
            out[-1] = f"{prev}={tok}"
        else:
            out.append(tok)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_values(list(sys.argv[1:] if argv is None else argv)))
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
