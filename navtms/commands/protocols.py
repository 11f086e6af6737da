"""`navtms protocols [NAME] [--check NAME|FILE] [--add FILE --library CLINIC.json] [--json]`:
the protocol library (standard protocols with their sources, and the clinic's own).

Without arguments: one line per protocol. NAME: the whole record with its sources (an
unverified figure is marked). --check: the safety check of a library protocol or file.
--add: add a protocol file to the clinic library (a name in use is refused)."""
from __future__ import annotations

import json

NAME = "protocols"
HELP = "list the treatment protocol library with sources, show or safety-check one, add a clinic protocol"


def add_arguments(p) -> None:
    p.add_argument("name", nargs="?", help="show this protocol in full")
    p.add_argument("--library", help="the clinic's protocol library file (JSON)")
    p.add_argument("--check", metavar="NAME|FILE", help="check a protocol against the safety tables")
    p.add_argument("--add", metavar="FILE", help="add this protocol file to --library")
    p.add_argument("--json", action="store_true", help="print JSON")


def _show(p) -> None:
    print(f"{p.name}: {p.title}")
    print(f"  {p.describe()}")
    print(f"  target {p.target.name} ({p.target.space}: {p.target.derivation}); coil {p.coil.model}, {p.coil.orientation}")
    print(f"  {p.pulses_per_course} pulses in {p.schedule.sessions} sessions")
    for s in p.sources:
        print(f"  source: {s.citation}")
        print(f"          gives: {s.gives}{'' if s.verified else '  [UNVERIFIED: recalled, check the paper]'}")
    if p.notes:
        print(f"  notes: {p.notes}")


def run(args) -> int:
    from navcore.errors import NavtmsError
    from navcore.fileio import read_json
    from therapy.library import add_protocol, all_protocols, find_protocol
    from therapy.protocol import protocol_from_json
    from therapy.safety import TABLE_VERIFIED, check

    if args.add:
        if not args.library:
            raise NavtmsError("--add needs --library (the clinic library file to add to)")
        p = protocol_from_json(read_json(args.add, what="protocol file"), args.add)
        path = add_protocol(args.library, p)
        print(f"added '{p.name}' to {path}")
        return 0
    if args.check:
        p = find_protocol(args.check, args.library)
        rep = check(p)
        if args.json:
            print(json.dumps(rep.to_json(), indent=2))
            return 0
        print(f"{p.name}: {'within' if rep.ok else 'OUTSIDE'} the safety tables")
        for f in rep.findings:
            mark = "ok  " if f.ok else "FAIL"
            print(f"  {mark} {f.rule}: {f.text}  [{f.citation}{'' if f.verified else '; UNVERIFIED'}]")
        if not TABLE_VERIFIED:
            print("  note: the train-duration table values were written from memory of Rossi et al. 2009 Table 3 "
                  "and are not verified against the printed table")
        return 0 if rep.ok else 1
    lib = all_protocols(args.library)
    if args.name:
        p = find_protocol(args.name, args.library)
        if args.json:
            print(json.dumps(p.to_json(), indent=2))
        else:
            _show(p)
        return 0
    if args.json:
        print(json.dumps({n: p.to_json() for n, p in lib.items()}, indent=2))
        return 0
    for p in lib.values():
        first = p.sources[0].citation.split(")")[0] + ")" if p.sources else "no source"
        print(f"{p.name:24s} {p.describe()}")
        print(f"{'':24s} {first}{'' if all(s.verified for s in p.sources) else '  (some figures unverified)'}")
    return 0
