"""Named point sets (fiducials, head points) and their files.

A `NamedPoints` holds ordered, unique names, each with one (3,) position in mm, written in
the frame named by `frame` (e.g. "mri", "tracker", "head"). Files:

- CSV with the header `name,x_mm,y_mm,z_mm` (an optional `#` comment line may precede it).
  Head-point CSVs without names are read too: a header `x,y,z` (or `x_mm,...`) or no header
  at all (three numbers a row); the points are then called p1, p2, ...
- 3D Slicer markups `.mrk.json`: `markups[*].controlPoints[*].label / position`, with the
  markup's `coordinateSystem` ("RAS" or "LPS"; LPS is turned into RAS by negating x and y).
  Control points whose `positionStatus` is "undefined" or "missing" (placed in the list but
  never positioned; Slicer writes them at 0,0,0) are skipped and named in `NamedPoints.notes`.
  navtms always writes RAS.
- 3D Slicer's older fiducial CSV `.fcsv` (`# CoordinateSystem = LPS|RAS|0|1`, columns
  id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,...).

Names match case-insensitively and through the usual aliases of the anatomical fiducials
(`canonical_name`: Nasion/nas/nz -> nasion; LPA/left/l/al/left ear -> lpa; RPA/right/... -> rpa),
the same way everywhere: `NamedPoints` lookups and the paired-point fit.
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

#: Aliases of the anatomical fiducials (compared after `_key`: lower case, no spaces, '_' or '-').
FIDUCIAL_ALIASES = {
    "nasion": ("nasion", "nas", "nz", "n", "na"),
    "lpa": ("lpa", "left", "l", "al", "leftear", "lear", "leftpreauricular", "lpreauricular", "lefttragus", "lt",
            "t9"),
    "rpa": ("rpa", "right", "r", "ar", "rightear", "rear", "rightpreauricular", "rpreauricular", "righttragus", "rt",
            "t10"),
    "inion": ("inion", "in", "iz"),
}
_ALIAS = {a: canon for canon, names in FIDUCIAL_ALIASES.items() for a in names}


def _key(name: str) -> str:
    return "".join(ch for ch in str(name).strip().lower() if ch not in " _-.")


def canonical_name(name: str) -> str:
    """The key a point name is matched by: the fiducial it is an alias of ("Nasion", "NAS", "nz" ->
    "nasion"; "LPA", "left", "Left ear" -> "lpa"; "RPA", "right" -> "rpa"), else the name in lower
    case without spaces, '_', '-' or '.'."""
    k = _key(name)
    return _ALIAS.get(k, k)
SLICER_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
                 "Markups/Resources/Schema/markups-schema-v1.0.3.json#")


@dataclass(frozen=True)
class NamedPoints:
    """Ordered named points.

    names: unique point names, in order.
    positions: (N, 3) float64, mm, in frame `frame`.
    frame: name of the frame the positions are written in ("mri", "tracker", ...).
    notes: sentences about what reading the file skipped (e.g. unplaced Slicer points).
    Lookups (`in`, `[]`, `subset`) accept any alias of a name (see `canonical_name`).
    """

    names: tuple[str, ...]
    positions: np.ndarray
    frame: str = "unknown"
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        pos = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3) if len(names) else np.zeros((0, 3))
        if pos.shape != (len(names), 3):
            raise GeometryError(f"{len(names)} point names but positions of shape {pos.shape}")
        keys = [canonical_name(n) for n in names]
        dup = sorted({n for n, k in zip(names, keys) if keys.count(k) > 1})
        if dup:
            raise GeometryError(f"duplicate point names: {', '.join(dup)} (names match case-insensitively and "
                                "through the fiducial aliases)")
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

    def index(self, name: str) -> int:
        """Index of the point called `name` or an alias of it (KeyError when absent)."""
        if name in self.names:
            return self.names.index(name)
        k = canonical_name(name)
        for i, n in enumerate(self.names):
            if canonical_name(n) == k:
                return i
        raise KeyError(name)

    def name_of(self, name: str) -> str:
        """The name this set uses for `name` or its alias (KeyError when absent)."""
        return self.names[self.index(name)]

    def __contains__(self, name: str) -> bool:
        try:
            self.index(name)
        except KeyError:
            return False
        return True

    def __getitem__(self, name: str) -> np.ndarray:
        """Position (3,) mm of the point called `name` or an alias of it (KeyError when absent)."""
        return self.positions[self.index(name)]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {n: self.positions[i].copy() for i, n in enumerate(self.names)}

    def subset(self, names: Iterable[str]) -> "NamedPoints":
        """The points called `names`, in that order (KeyError when one is absent)."""
        names = list(names)
        return NamedPoints(tuple(self.name_of(n) for n in names), np.array([self[n] for n in names]).reshape(-1, 3),
                           self.frame)

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
    if name.endswith(".fcsv"):
        return read_fcsv(path, frame if frame != "unknown" else "mri")
    if name.endswith(".csv") or name.endswith(".txt"):
        return read_points_csv(path, frame)
    raise InputFileError(path, "has an unknown point file type; use .csv (name,x_mm,y_mm,z_mm), Slicer .mrk.json "
                               "or Slicer .fcsv")


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise InputFileError(path, f"the {what} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"the {what} cannot be read as UTF-8 text ({e.__class__.__name__})") from e


def _finish(path: Path, names: list[str], rows: list[list[float]], frame: str,
            notes: tuple[str, ...] = ()) -> NamedPoints:
    if not names:
        extra = f" ({' '.join(notes)})" if notes else ""
        raise InputFileError(path, f"the point file holds no points{extra}")
    seen: dict[str, str] = {}
    for n in names:
        k = canonical_name(n)
        if k in seen:
            same = f"'{n}'" if seen[k] == n else f"'{seen[k]}' and '{n}' (the same point by its aliases)"
            raise InputFileError(path, f"the point name {same} appears more than once")
        seen[k] = n
    return NamedPoints(tuple(names), np.array(rows, dtype=np.float64), frame, tuple(notes))


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


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _unnamed_points(path: Path, rows_in: list[list[str]], has_header: bool, cols: list[int], frame: str) -> NamedPoints:
    """Rows of three coordinates without names: the points are called p1, p2, ..."""
    names: list[str] = []
    rows: list[list[float]] = []
    for lineno, row in enumerate(rows_in[1:] if has_header else rows_in, start=2 if has_header else 1):
        if len(row) <= max(cols):
            raise InputFileError(path, f"row {lineno} has {len(row)} fields, expected at least {max(cols) + 1}")
        names.append(f"p{len(names) + 1}")
        rows.append([_number(path, f"{c} (row {lineno})", row[i]) for c, i in zip("xyz", cols)])
    return _finish(path, names, rows, frame)


def _points_from_csv_rows(path: Path, rows_in: list[list[str]], frame: str) -> NamedPoints:
    first = [h.strip() for h in rows_in[0]] if rows_in else []
    if len(first) >= 3 and all(_is_number(v) for v in first[:3]):
        return _unnamed_points(path, rows_in, False, [0, 1, 2], frame)  # no header: x, y, z per row
    reader = iter(rows_in)
    header = [h.strip().lower() for h in next(reader, [])]
    if "name" not in header and "label" not in header:
        for cols in (("x_mm", "y_mm", "z_mm"), ("x", "y", "z")):
            if all(c in header for c in cols):
                return _unnamed_points(path, rows_in, True, [header.index(c) for c in cols], frame)
    if "name" not in header and "label" in header:
        header[header.index("label")] = "name"
    for short, full in (("x", "x_mm"), ("y", "y_mm"), ("z", "z_mm")):
        if full not in header and short in header:
            header[header.index(short)] = full
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
    skipped: list[str] = []
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
            status = str(cp.get("positionStatus", "defined")).strip().lower()
            if status in ("undefined", "missing"):
                skipped.append(f"{label} ({status})")
                continue
            pos = cp.get("position")
            if not isinstance(pos, list) or len(pos) != 3:
                raise InputFileError(path, f"control point '{label}' has no 3-number 'position'")
            xyz = [_number(path, f"position of '{label}'", v) for v in pos]
            names.append(label)
            rows.append(list(np.asarray(xyz) * sign))
    notes = (f"skipped control points without a position: {', '.join(skipped)}",) if skipped else ()
    return _finish(path, names, rows, frame, notes)


def read_fcsv(path: str | Path, frame: str = "mri") -> NamedPoints:
    """Read a 3D Slicer fiducial CSV (.fcsv): `# CoordinateSystem = LPS` (or RAS, or Slicer 4's
    0 = RAS, 1 = LPS) and rows id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,... (the `# columns =` line
    names them when present). Positions are turned into RAS mm."""
    path = Path(path)
    text = _read_text(path, "fiducial file")
    sign = np.ones(3)
    cols = ["id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc", "associatednodeid"]
    data_lines = []
    for ln in text.splitlines():
        t = ln.strip()
        if not t:
            continue
        if t.startswith("#"):
            body = t.lstrip("# ").lower()
            if body.startswith("coordinatesystem"):
                cs = body.split("=", 1)[-1].strip().upper()
                if cs in ("LPS", "1"):
                    sign = np.array([-1.0, -1.0, 1.0])
                elif cs not in ("RAS", "0"):
                    raise InputFileError(path, f"CoordinateSystem '{cs}' is not LPS or RAS")
            elif body.startswith("columns"):
                cols = [c.strip().lower() for c in body.split("=", 1)[-1].split(",")]
            continue
        data_lines.append(t)
    if not data_lines:
        raise InputFileError(path, "the fiducial file holds no points")
    for need in ("x", "y", "z", "label"):
        if need not in cols:
            raise InputFileError(path, f"the fiducial file's columns lack '{need}'")
    ix = [cols.index(c) for c in ("x", "y", "z")]
    il = cols.index("label")
    names: list[str] = []
    rows: list[list[float]] = []
    try:
        parsed = list(csv.reader(io.StringIO("\n".join(data_lines))))
    except csv.Error as e:
        raise InputFileError(path, f"the fiducial file is not CSV navtms can read ({e})") from None
    for lineno, row in enumerate(parsed, start=1):
        if len(row) <= max(ix + [il]):
            raise InputFileError(path, f"point row {lineno} has {len(row)} fields, expected at least {max(ix + [il]) + 1}")
        label = row[il].strip() or f"F-{lineno}"
        xyz = [_number(path, f"{c} of '{label}'", row[i]) for c, i in zip("xyz", ix)]
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
