"""Named point sets (fiducials, head points) and their files.

A `NamedPoints` holds ordered, unique names, each with one (3,) position in mm, written in
the frame named by `frame` (e.g. "mri", "tracker", "head"). Files:

- CSV with the header `name,x_mm,y_mm,z_mm` (an optional `#` comment line may precede it).
- 3D Slicer markups `.mrk.json`: `markups[*].controlPoints[*].label / position`, with the
  markup's `coordinateSystem` ("RAS" or "LPS"; LPS is turned into RAS by negating x and y).
  navtms always writes RAS.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from navcore.errors import GeometryError, InputFileError
from navcore.fileio import atomic_write_text, parse_json_text

CSV_HEADER = ("name", "x_mm", "y_mm", "z_mm")
SLICER_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
                 "Markups/Resources/Schema/markups-schema-v1.0.3.json#")


@dataclass(frozen=True)
class NamedPoints:
    """Ordered named points.

    names: unique point names, in order.
    positions: (N, 3) float64, mm, in frame `frame`.
    frame: name of the frame the positions are written in ("mri", "tracker", ...).
    """

    names: tuple[str, ...]
    positions: np.ndarray
    frame: str = "unknown"

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        pos = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3) if len(names) else np.zeros((0, 3))
        if pos.shape != (len(names), 3):
            raise GeometryError(f"{len(names)} point names but positions of shape {pos.shape}")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise GeometryError(f"duplicate point names: {', '.join(dup)}")
        if not np.all(np.isfinite(pos)):
            bad = [names[i] for i in np.nonzero(~np.all(np.isfinite(pos), axis=1))[0]]
            raise GeometryError(f"points {', '.join(bad)} hold NaN or infinite coordinates")
        pos = pos.copy()
        pos.setflags(write=False)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "positions", pos)

    @classmethod
    def from_dict(cls, points: Mapping[str, Iterable[float]], frame: str = "unknown") -> "NamedPoints":
        """From {name: (x, y, z) mm}, keeping the mapping's order."""
        names = list(points)
        pos = np.array([np.asarray(points[n], dtype=np.float64).reshape(3) for n in names]).reshape(-1, 3)
        return cls(tuple(names), pos, frame)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> np.ndarray:
        """Position (3,) mm of the point called `name` (KeyError when absent)."""
        return self.positions[self.names.index(name)]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {n: self.positions[i].copy() for i, n in enumerate(self.names)}

    def subset(self, names: Iterable[str]) -> "NamedPoints":
        """The points called `names`, in that order (KeyError when one is absent)."""
        names = list(names)
        return NamedPoints(tuple(names), np.array([self[n] for n in names]).reshape(-1, 3), self.frame)

    def transformed(self, T_new_from_frame: np.ndarray, new_frame: str) -> "NamedPoints":
        """The same points mapped by a 4x4 `T_new_from_frame` into frame `new_frame`."""
        from navcore.transforms import apply

        return NamedPoints(self.names, apply(T_new_from_frame, self.positions), new_frame)


# ----------------------------------------------------------------------------- reading
def read_points(path: str | Path, frame: str = "unknown") -> NamedPoints:
    """Read a CSV (`name,x_mm,y_mm,z_mm`) or Slicer `.mrk.json` point file (by extension).
    Positions are mm in frame `frame` (RAS for markups). Raises InputFileError."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "the point file does not exist")
    if path.is_dir():
        raise InputFileError(path, "the point file is a folder, not a file")
    name = path.name.lower()
    if name.endswith(".json"):
        return read_markups_json(path, frame)
    if name.endswith(".csv") or name.endswith(".txt"):
        return read_points_csv(path, frame)
    raise InputFileError(path, "has an unknown point file type; use .csv (name,x_mm,y_mm,z_mm) or Slicer .mrk.json")


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise InputFileError(path, f"the {what} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"the {what} cannot be read as UTF-8 text ({e.__class__.__name__})") from e


def _finish(path: Path, names: list[str], rows: list[list[float]], frame: str) -> NamedPoints:
    if not names:
        raise InputFileError(path, "the point file holds no points")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputFileError(path, f"the point name '{n}' appears more than once")
        seen.add(n)
    return NamedPoints(tuple(names), np.array(rows, dtype=np.float64), frame)


def _number(path: Path, where: str, value) -> float:
    if isinstance(value, bool):
        raise InputFileError(path, f"{where} is not a number ({value!r})")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputFileError(path, f"{where} is not a number ({value!r})") from None
    if not math.isfinite(v):
        raise InputFileError(path, f"{where} is NaN or infinite")
    return v


def read_points_csv(path: str | Path, frame: str = "unknown") -> NamedPoints:
    """Read a CSV with the header `name,x_mm,y_mm,z_mm` (extra columns ignored, `#` lines skipped;
    when `frame` is "unknown" a `# frame: NAME` comment line sets it)."""
    path = Path(path)
    text = _read_text(path, "point file")
    if frame == "unknown":  # a '# frame: NAME' comment (as written by write_points_csv) names it
        for ln in text.splitlines():
            if ln.lstrip().startswith("#") and ln.lstrip("# \t").lower().startswith("frame:"):
                frame = ln.split(":", 1)[1].strip() or frame
                break
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputFileError(path, "the point file is empty")
    try:
        return _points_from_csv_rows(path, list(csv.reader(io.StringIO("\n".join(lines)))), frame)
    except csv.Error as e:  # e.g. a field over the csv module's size limit
        raise InputFileError(path, f"the point file is not CSV navtms can read ({e})") from None


def _points_from_csv_rows(path: Path, rows_in: list[list[str]], frame: str) -> NamedPoints:
    reader = iter(rows_in)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in CSV_HEADER if c not in header]
    if missing:
        raise InputFileError(path, f"the CSV header lacks the column(s) {', '.join(missing)} "
                                   f"(expected {','.join(CSV_HEADER)})")
    idx = [header.index(c) for c in CSV_HEADER]
    names: list[str] = []
    rows: list[list[float]] = []
    for lineno, row in enumerate(reader, start=2):
        if len(row) < len(header):
            raise InputFileError(path, f"row {lineno} has {len(row)} fields, expected {len(header)}")
        name = row[idx[0]].strip()
        if not name:
            raise InputFileError(path, f"row {lineno} has an empty name")
        names.append(name)
        rows.append([_number(path, f"{c} of '{name}' (row {lineno})", row[i]) for c, i in zip(CSV_HEADER[1:], idx[1:])])
    return _finish(path, names, rows, frame)


def read_markups_json(path: str | Path, frame: str = "mri") -> NamedPoints:
    """Read a 3D Slicer markups file (.mrk.json): every control point of every markup, by
    `label`, converted to RAS mm ("LPS" coordinateSystem: x and y negated)."""
    path = Path(path)
    text = _read_text(path, "markups file")
    if not text.strip():
        raise InputFileError(path, "the markups file is empty")
    obj = parse_json_text(path, text, "markups file")
    markups = obj.get("markups") if isinstance(obj, dict) else None
    if not isinstance(markups, list) or not markups:
        raise InputFileError(path, "the markups file has no 'markups' list")
    names: list[str] = []
    rows: list[list[float]] = []
    for m in markups:
        if not isinstance(m, dict):
            raise InputFileError(path, "a markup entry is not a JSON object")
        cs = str(m.get("coordinateSystem", "LPS")).upper()
        if cs not in ("LPS", "RAS"):
            raise InputFileError(path, f"coordinateSystem '{cs}' is not LPS or RAS")
        sign = np.array([-1.0, -1.0, 1.0]) if cs == "LPS" else np.ones(3)
        cps = m.get("controlPoints", [])
        if not isinstance(cps, list):
            raise InputFileError(path, "'controlPoints' is not a list")
        for k, cp in enumerate(cps):
            if not isinstance(cp, dict):
                raise InputFileError(path, f"control point {k} is not a JSON object")
            label = str(cp.get("label", "")).strip()
            if not label:
                raise InputFileError(path, f"control point {k} has no label")
            pos = cp.get("position")
            if not isinstance(pos, list) or len(pos) != 3:
                raise InputFileError(path, f"control point '{label}' has no 3-number 'position'")
            xyz = [_number(path, f"position of '{label}'", v) for v in pos]
            names.append(label)
            rows.append(list(np.asarray(xyz) * sign))
    return _finish(path, names, rows, frame)


# ----------------------------------------------------------------------------- writing
def write_points(path: str | Path, points: NamedPoints) -> Path:
    """Write CSV or `.mrk.json` (by extension), atomically."""
    path = Path(path)
    if path.name.lower().endswith(".json"):
        return write_markups_json(path, points)
    return write_points_csv(path, points)


def write_points_csv(path: str | Path, points: NamedPoints) -> Path:
    """CSV `name,x_mm,y_mm,z_mm` with a `# frame: NAME` comment first; atomic."""
    buf = io.StringIO()
    buf.write(f"# frame: {points.frame}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for n, p in zip(points.names, points.positions):
        w.writerow([n] + [repr(float(v)) for v in p])
    return atomic_write_text(path, buf.getvalue())


def write_markups_json(path: str | Path, points: NamedPoints) -> Path:
    """Slicer fiducial markups file in RAS (readable by 3D Slicer 4.11+); atomic."""
    cps = [{"id": str(i + 1), "label": n, "position": [float(v) for v in p],
            "positionStatus": "defined", "selected": True, "locked": False, "visibility": True}
           for i, (n, p) in enumerate(zip(points.names, points.positions))]
    obj = {"@schema": SLICER_SCHEMA,
           "markups": [{"type": "Fiducial", "coordinateSystem": "RAS", "coordinateUnits": "mm",
                        "controlPoints": cps}]}
    return atomic_write_text(path, json.dumps(obj, indent=2) + "\n")
