"""The protocol library: the standard protocols shipped with navtms (therapy/data/protocols.json,
each with its published sources) and a clinic's own library file (same format, format_version 1:
{"format_version": 1, "protocols": [Protocol.to_json(), ...]}), which a clinic extends with
`add_protocol`. A clinic protocol may not take the name of a standard one (names are how
session records refer to protocols)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from navcore.errors import InputFileError, NavtmsError
from navcore.fileio import read_json, write_json
from therapy.protocol import FORMAT_VERSION, Protocol, protocol_from_json

STANDARD_FILE = Path(__file__).resolve().parent / "data" / "protocols.json"


def read_library(path: str | Path) -> list[Protocol]:
    """The protocols of a library file, in file order (InputFileError when malformed or when a
    name repeats)."""
    path = Path(path)
    obj = read_json(path, what="protocol library", supported_versions=(FORMAT_VERSION,))
    items = obj.get("protocols")
    if not isinstance(items, list):
        raise InputFileError(path, "the protocol library has no 'protocols' list")
    out = [protocol_from_json(x, path) for x in items]
    seen = set()
    for p in out:
        if p.name in seen:
            raise InputFileError(path, f"the protocol library names '{p.name}' twice")
        seen.add(p.name)
    return out


def standard_protocols() -> list[Protocol]:
    return read_library(STANDARD_FILE)


def all_protocols(clinic_library: Optional[str | Path] = None) -> dict[str, Protocol]:
    """Name -> protocol: the standard library, then the clinic's (when given and present)."""
    out = {p.name: p for p in standard_protocols()}
    if clinic_library is not None and Path(clinic_library).exists():
        for p in read_library(clinic_library):
            if p.name in out:
                raise InputFileError(clinic_library, f"the clinic protocol '{p.name}' has the name of a standard protocol")
            out[p.name] = p
    return out


def find_protocol(name_or_file: str, clinic_library: Optional[str | Path] = None) -> Protocol:
    """A protocol by library name, or read from a protocol JSON file (format_version 1)."""
    lib = all_protocols(clinic_library)
    if name_or_file in lib:
        return lib[name_or_file]
    path = Path(name_or_file)
    if path.suffix == ".json" or path.exists():
        obj = read_json(path, what="protocol file", supported_versions=(FORMAT_VERSION,))
        return protocol_from_json(obj, path)
    raise NavtmsError(f"no protocol named '{name_or_file}' (the library has {', '.join(sorted(lib))}) "
                      "and no such protocol file")


def add_protocol(clinic_library: str | Path, protocol: Protocol) -> Path:
    """Append a protocol to the clinic library file (created when missing), atomically; a name
    already in use (standard or clinic) is refused and the file left as it was."""
    path = Path(clinic_library)
    existing = read_library(path) if path.exists() else []
    if protocol.name in {p.name for p in standard_protocols()} | {p.name for p in existing}:
        raise NavtmsError(f"{path}: a protocol named '{protocol.name}' exists already; choose another name")
    body = {"protocols": [p.to_json() for p in existing] + [protocol.to_json()]}
    return write_json(path, body, format_version=FORMAT_VERSION)
