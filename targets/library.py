"""Target library: named cortical targets with the paper each comes from.

The shipped library (targets/data/targets.json) holds left-hemisphere MNI152 coordinates
(mm, frame `mni`); every entry also gets an x-mirrored right-hemisphere twin named
`<name>-right` (a mirror, not a separately published coordinate). Users add their own targets,
in MNI (`mni_mm`) or in subject MRI coordinates (`mri_mm`, frame `mri`), in a user library file:

    {"format_version": 1,
     "targets": [{"name": "my-site", "mni_mm": [-40, 30, 40], "source": {"authors": "..."}}]}

The default user file is $NAVTMS_USER_TARGETS, else ~/.config/navtms/targets.json (optional).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError, PlanError
from navcore.fileio import read_json, write_json

BUILTIN_PATH = Path(__file__).resolve().parent / "data" / "targets.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class LibraryTarget:
    """One named target.

    name: unique name (letters, digits, '-', '_', '.').
    position_mm: (3,) float64 mm in frame `space`.
    space: "mni" (MNI152 mm) or "mri" (the subject's scanner RAS+ mm).
    hemisphere: "left", "right", "midline" or "" when unknown.
    description: one line.
    source: dict with authors, year, title, journal, doi (whatever is known).
    verified: "yes", "partly" or "no": whether the coordinate was checked against its primary source.
    verification: how it was checked, or why it could not be.
    origin: "builtin", "mirror" or the user file it came from.
    """

    name: str
    position_mm: np.ndarray
    space: str
    hemisphere: str = ""
    description: str = ""
    source: dict = field(default_factory=dict)
    verified: str = "no"
    verification: str = ""
    origin: str = "builtin"

    def citation(self) -> str:
        """Short citation: 'authors (year), journal, doi:...'."""
        s = self.source or {}
        who = str(s.get("authors", "")).strip()
        if s.get("year"):
            who = f"{who} ({s['year']})".strip()
        parts = [p for p in (who, str(s.get("journal", "")), f"doi:{s['doi']}" if s.get("doi") else "") if p]
        return ", ".join(parts) if parts else "no source given"


def _parse_entry(path: Path, e, index: int, origin: str) -> LibraryTarget:
    if not isinstance(e, dict):
        raise InputFileError(path, f"target entry {index} is not a JSON object")
    name = e.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputFileError(path, f"target entry {index} has no valid 'name' (letters, digits, '-', '_', '.')")
    has_mni, has_mri = "mni_mm" in e, "mri_mm" in e
    if has_mni == has_mri:
        raise InputFileError(path, f"target '{name}' must give exactly one of 'mni_mm' or 'mri_mm'")
    key = "mni_mm" if has_mni else "mri_mm"
    try:
        pos = np.asarray(e[key], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer like 10**400
        pos = np.zeros(0)
    if pos.shape != (3,) or not np.all(np.isfinite(pos)):
        raise InputFileError(path, f"target '{name}' has '{key}' that is not three finite numbers")
    src = e.get("source", {})
    if not isinstance(src, dict):
        raise InputFileError(path, f"target '{name}' has a 'source' that is not a JSON object")
    return LibraryTarget(name=name, position_mm=pos, space="mni" if has_mni else "mri",
                         hemisphere=str(e.get("hemisphere", "")), description=str(e.get("description", "")),
                         source=dict(src), verified=str(e.get("verified", "no")),
                         verification=str(e.get("verification", "")), origin=origin)


def read_library_file(path: str | Path, origin: str | None = None) -> list[LibraryTarget]:
    """Targets of one library file (shipped or user), in file order. Raises InputFileError."""
    path = Path(path)
    obj = read_json(path, what="target library")
    entries = obj.get("targets")
    if not isinstance(entries, list):
        raise InputFileError(path, "the target library has no 'targets' list")
    out = [_parse_entry(path, e, i, origin or str(path)) for i, e in enumerate(entries)]
    names = [t.name for t in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputFileError(path, f"the target library names {', '.join(dup)} more than once")
    return out


def mirrored(t: LibraryTarget) -> LibraryTarget:
    """The right-hemisphere twin of a left MNI target (x negated), named `<name>-right`."""
    p = t.position_mm.copy()
    p[0] = -p[0]
    return LibraryTarget(name=f"{t.name}-right", position_mm=p, space=t.space, hemisphere="right",
                         description=f"Right-hemisphere mirror (x -> -x) of '{t.name}': {t.description}",
                         source=t.source, verified=t.verified,
                         verification=f"Mirror of '{t.name}', not a separately published coordinate. {t.verification}",
                         origin="mirror")


def default_user_library_path() -> Path:
    env = os.environ.get("NAVTMS_USER_TARGETS")
    return Path(env) if env else Path.home() / ".config" / "navtms" / "targets.json"


def load_library(user_path: str | Path | None = None, include_default_user: bool = True) -> dict[str, LibraryTarget]:
    """All targets by name: the shipped ones, their right mirrors, then user targets.

    user_path: a user library file (must exist when given). Otherwise the default user file is
    read when it exists and `include_default_user` is true. A user target may not reuse a
    shipped name (PlanError), so a plan's target name always means one thing."""
    lib: dict[str, LibraryTarget] = {}
    for t in read_library_file(BUILTIN_PATH, origin="builtin"):
        lib[t.name] = t
        if t.space == "mni" and t.hemisphere == "left":
            m = mirrored(t)
            lib[m.name] = m
    if user_path is None and include_default_user:
        p = default_user_library_path()
        user_path = p if p.exists() else None
    if user_path is not None:
        for t in read_library_file(user_path):
            if t.name in lib:
                raise PlanError(f"{user_path}: user target '{t.name}' reuses a built-in target name; rename it")
            lib[t.name] = t
    return lib


def get_target(name: str, library: dict[str, LibraryTarget] | None = None) -> LibraryTarget:
    """The target called `name`; PlanError naming close matches when it is unknown."""
    lib = load_library() if library is None else library
    if name in lib:
        return lib[name]
    import difflib

    close = difflib.get_close_matches(name, list(lib), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run 'navtms targets' to list them"
    raise PlanError(f"unknown target '{name}'{hint}")


def write_user_library(path: str | Path, targets: list[LibraryTarget]) -> Path:
    """Write targets as a user library file (atomic)."""
    entries = []
    for t in targets:
        e = {"name": t.name, f"{t.space}_mm": t.position_mm, "hemisphere": t.hemisphere,
             "description": t.description, "source": t.source, "verified": t.verified,
             "verification": t.verification}
        entries.append(e)
    return write_json(path, {"targets": entries})
