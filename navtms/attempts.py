"""Registration attempts of a session, each kept apart: `attempts/NNN/` in the session folder.

    attempts/001/attempt.json        {status, message, source, started_utc, registration or null}
    attempts/001/fiducials_head.csv  the fiducials as collected (head-body frame, mm), if any
    attempts/001/head_points.csv     the head points as collected (head-body frame, mm), if any

An attempt is ACCEPTED (its registration is the session's, and its point files are copied to
the session's fiducials_head.csv / head_points.csv), REFUSED (FRE above the limit, too few
points: the session keeps its previous registration and files) or ABORTED (the operator
stopped, the source ended, an error). A refused or aborted attempt never replaces the accepted
registration or its files; every attempt's own files stay in its folder. Numbers are never
reused (the folder is made exclusively), files are written atomically (navcore.fileio).
"""
from __future__ import annotations

import datetime as _dt
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.fileio import to_jsonable, write_json
from navcore.points import NamedPoints, write_points

ATTEMPTS_DIR = "attempts"
ATTEMPT_FILE = "attempt.json"
FIDUCIALS_FILE, HEAD_POINTS_FILE = "fiducials_head.csv", "head_points.csv"
FORMAT_VERSION = 1


class AttemptStatus(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    ABORTED = "aborted"


def new_attempt(session_folder: Path) -> Path:
    """Make the next attempts/NNN folder (001, 002, ...; never one that exists) and return it."""
    root = Path(session_folder) / ATTEMPTS_DIR
    root.mkdir(exist_ok=True)
    n = max((int(p.name) for p in root.iterdir() if p.name.isdigit()), default=0) + 1
    while True:
        folder = root / f"{n:03d}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


def head_points_named(points: np.ndarray) -> NamedPoints:
    """Head points (N, 3) head mm as NamedPoints h1..hN (the session's CSV form)."""
    pts = np.asarray(points, float).reshape(-1, 3)
    return NamedPoints(tuple(f"h{i + 1}" for i in range(len(pts))), pts, "head")


def save_points(folder: Path, fiducials: Optional[NamedPoints], head_points: Optional[np.ndarray]) -> None:
    """The attempt's point files, as collected (head frame, mm); nothing for what is None/empty."""
    if fiducials is not None and len(fiducials.names):
        write_points(folder / FIDUCIALS_FILE, fiducials)
    if head_points is not None and len(np.asarray(head_points).reshape(-1, 3)):
        write_points(folder / HEAD_POINTS_FILE, head_points_named(head_points))


def finish_attempt(folder: Path, status: AttemptStatus, message: str = "", source: str = "",
                   registration: Optional[dict] = None) -> Path:
    """Write the attempt's attempt.json (atomically)."""
    return write_json(folder / ATTEMPT_FILE, {
        "status": AttemptStatus(status).value, "message": message, "source": source,
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "registration": None if registration is None else to_jsonable(registration)}, format_version=FORMAT_VERSION)


def promote(folder: Path, session_folder: Path) -> None:
    """Copy an ACCEPTED attempt's point files to the session's top level (atomically, via a
    temporary file and rename); a top-level file the attempt does not have is removed (the
    accepted registration did not use it; it stays in its own attempt folder). Files of a
    session made before attempts were kept are moved to attempts/000 first, so nothing is lost."""
    session_folder = Path(session_folder)
    for name in (FIDUCIALS_FILE, HEAD_POINTS_FILE):
        top = session_folder / name
        if top.exists() and not _held_by_an_attempt(top, session_folder):
            k, legacy = 0, session_folder / ATTEMPTS_DIR / "000"
            while (legacy / name).exists():
                k += 1
                legacy = session_folder / ATTEMPTS_DIR / f"000-{k}"
            legacy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(top, legacy / name)
    for name in (FIDUCIALS_FILE, HEAD_POINTS_FILE):
        src, top = folder / name, session_folder / name
        if src.exists():
            tmp = top.with_name(f".{name}.tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(top)
        elif top.exists():
            top.unlink()


def _held_by_an_attempt(path: Path, session_folder: Path) -> bool:
    data = path.read_bytes()
    return any(p.read_bytes() == data for p in (session_folder / ATTEMPTS_DIR).glob(f"*/{path.name}"))
