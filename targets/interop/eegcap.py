"""EEG electrode positions: read and write .elc, .sfp, BrainVision .bvct and CSV; map a
digitised cap into the MRI by its fiducials.

Formats (positions are Cartesian, labels kept as written):
  .elc  ASA electrode file (ANT Neuro / ASA, FieldTrip's reader): header lines 'UnitPosition
        mm|cm|m', 'NumberPositions= N', then 'Positions' followed by N lines 'x y z' (or
        'LABEL : x y z'), then 'Labels' followed by N labels (one per line, or tab-separated).
        Lines starting with '#' are comments.
  .sfp  BESA/EEGLAB surface file: one electrode per line, 'LABEL x y z' (whitespace). No unit
        in the file: mm unless told (EGI's .sfp are in cm): `unit`.
  .bvct BrainVision CapTrak XML: <CapTrakElectrode> elements with <Name>, <X>, <Y>, <Z> in mm
        (namespace ignored).
  .csv  name,x_mm,y_mm,z_mm (navcore.points).
Fiducials in a cap file are found under these names (case-insensitive): nasion (Nasion, Nz,
FidNz, NAS), left preauricular (LPA, FidT9, LPF), right (RPA, FidT10, RPF).
A cap digitised with another digitiser (its own head frame) is brought into the MRI by the rigid
fit of its three fiducials onto the plan's (registration.paired_point.rigid_fit, Arun/Kabsch).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_text
from navcore.points import NamedPoints, read_points_csv, write_points_csv

UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
FIDUCIAL_ALIASES = {"nasion": ("nasion", "nz", "fidnz", "nas"), "lpa": ("lpa", "fidt9", "lpf", "left"),
                    "rpa": ("rpa", "fidt10", "rpf", "right")}
EXTENSIONS = (".elc", ".sfp", ".bvct", ".csv")
MIN_HEAD_SPAN_MM = 60.0   # a cap's electrodes span at least this (a head is ~150-200 mm across)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")
    except OSError as e:
        raise InputFileError(path, f"cannot be read ({e.strerror})") from e


def _floats(path: Path, parts, ln: int) -> list[float]:
    try:
        v = [float(p) for p in parts]
    except ValueError:
        raise InputFileError(path, f"line {ln}: the position is not three numbers") from None
    if len(v) != 3 or not np.all(np.isfinite(v)):
        raise InputFileError(path, f"line {ln}: a position needs three finite numbers")
    return v


def _points(path: Path, names, pos) -> NamedPoints:
    low = [n.lower() for n in names]
    dup = sorted({n for n in low if low.count(n) > 1})
    if dup:
        raise InputFileError(path, f"the electrode label(s) {', '.join(dup)} appear more than once")
    return NamedPoints(tuple(names), pos, "cap")


def read_elc(path: Path) -> NamedPoints:
    lines = _text(path).splitlines()
    unit, section, pos, labels, inline = "mm", None, [], [], []
    for ln, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        key = s.split()[0].rstrip("=").lower()
        if key == "unitposition":
            unit = s.split()[-1].lower()
            if unit not in UNITS_MM:
                raise InputFileError(path, f"line {ln}: UnitPosition '{unit}' is not mm, cm or m")
            continue
        if key in ("numberpositions", "referencelabel", "numberpolygons", "unitposition"):
            continue
        if key == "positions" and len(s.split()) == 1:
            section = "positions"
            continue
        if key == "labels" and len(s.split()) == 1:
            section = "labels"
            continue
        if section == "positions":
            if ":" in s:
                name, rest = s.split(":", 1)
                inline.append(name.strip())
                pos.append(_floats(path, rest.split(), ln))
            else:
                pos.append(_floats(path, s.split(), ln))
        elif section == "labels":
            labels += [t.strip() for t in s.split("\t") if t.strip()]  # one per line, or tab-separated
    if inline and not labels:
        labels = inline
    if not pos:
        raise InputFileError(path, "the .elc file has no 'Positions' section")
    if len(labels) != len(pos):
        raise InputFileError(path, f"the .elc file has {len(pos)} positions but {len(labels)} labels")
    return _points(path, labels, np.array(pos) * UNITS_MM[unit])


def read_sfp(path: Path, unit: str = "mm") -> NamedPoints:
    names, pos = [], []
    for ln, raw in enumerate(_text(path).splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split()
        if len(parts) != 4:
            raise InputFileError(path, f"line {ln}: an .sfp line is 'LABEL x y z'")
        names.append(parts[0])
        pos.append(_floats(path, parts[1:], ln))
    if not pos:
        raise InputFileError(path, "the .sfp file holds no electrodes")
    return _points(path, names, np.array(pos) * UNITS_MM[unit])


def read_bvct(path: Path) -> NamedPoints:
    try:
        root = ET.parse(str(path)).getroot()
    except (ET.ParseError, OSError) as e:
        raise InputFileError(path, f"is not readable XML ({e.__class__.__name__})") from e
    names, pos = [], []
    for el in root.iter():
        if el.tag.split("}")[-1] != "CapTrakElectrode":
            continue
        f = {c.tag.split("}")[-1]: (c.text or "").strip() for c in el}
        if not f.get("Name"):
            raise InputFileError(path, "a CapTrakElectrode has no Name")
        try:
            xyz = [float(f["X"]), float(f["Y"]), float(f["Z"])]
        except (KeyError, ValueError):
            raise InputFileError(path, f"electrode {f['Name']!r} has no numeric X, Y, Z") from None
        names.append(f["Name"])
        pos.append(xyz)
    if not pos:
        raise InputFileError(path, "the .bvct file holds no CapTrakElectrode")
    return _points(path, names, np.array(pos, dtype=np.float64))


def read_cap(path: str | Path, unit: str | None = None) -> NamedPoints:
    """Electrode positions (mm) from .elc, .sfp, .bvct or .csv, frame "cap" (CSV: "mri" when
    it says so, see navcore.points). unit: mm/cm/m for .sfp (default mm). Refused: duplicated
    labels, a cap that spans less than MIN_HEAD_SPAN_MM (wrong unit)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the electrode file does not exist")
    ext = path.suffix.lower()
    if unit is not None and unit not in UNITS_MM:
        raise InputFileError(path, f"the unit '{unit}' is not mm, cm or m")
    if ext == ".elc":
        pts = read_elc(path)
    elif ext == ".sfp":
        pts = read_sfp(path, unit or "mm")
    elif ext == ".bvct":
        pts = read_bvct(path)
    elif ext == ".csv":
        pts = read_points_csv(path)  # a '# frame: mri' line marks a cap already in the MRI
        pts = pts if pts.frame == "mri" else NamedPoints(pts.names, pts.positions, "cap")
        _points(path, pts.names, pts.positions)
    else:
        raise InputFileError(path, "an electrode file must be .elc, .sfp, .bvct or .csv")
    span = float(np.max(np.ptp(pts.positions, axis=0))) if len(pts) > 1 else 0.0
    if len(pts) > 3 and span < MIN_HEAD_SPAN_MM:
        raise InputFileError(path, f"the electrodes span only {span:.3g} mm; the file is not in mm "
                                   "(give its unit, e.g. --cap-unit cm)")
    return pts


def write_cap(path: str | Path, pts: NamedPoints) -> Path:
    """Write electrodes (mm) as .elc, .sfp, .bvct or .csv, by extension."""
    path = Path(path)
    ext = path.suffix.lower()
    P = np.asarray(pts.positions, dtype=np.float64)
    if ext == ".csv":
        return write_points_csv(path, pts)
    if ext == ".sfp":
        return atomic_write_text(path, "".join(f"{n}\t{x:.4f}\t{y:.4f}\t{z:.4f}\n" for n, (x, y, z) in zip(pts.names, P)))
    if ext == ".elc":
        out = ["# ASA electrode file written by navtms", "ReferenceLabel\tavg", "UnitPosition\tmm",
               f"NumberPositions=\t{len(pts)}", "Positions"]
        out += [f"{x:.4f}\t{y:.4f}\t{z:.4f}" for x, y, z in P]
        out += ["Labels"] + list(pts.names)
        return atomic_write_text(path, "\n".join(out) + "\n")
    if ext == ".bvct":
        root = ET.Element("BrainVisionCapTrakFile")
        ET.SubElement(root, "FileFormatVersion").text = "1"
        lst = ET.SubElement(root, "CapTrakElectrodeList")
        for i, (n, (x, y, z)) in enumerate(zip(pts.names, P)):
            e = ET.SubElement(lst, "CapTrakElectrode")
            for tag, val in (("Name", n), ("X", f"{x:.4f}"), ("Y", f"{y:.4f}"), ("Z", f"{z:.4f}"),
                             ("CoordinateSystem", "Cartesian"), ("Channel", str(i + 1))):
                ET.SubElement(e, tag).text = val
        ET.indent(root, space="  ")
        return atomic_write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
    raise InputFileError(path, "an electrode file must be .elc, .sfp, .bvct or .csv")


def find_fiducials(pts: NamedPoints) -> dict[str, np.ndarray]:
    """{'nasion', 'lpa', 'rpa'} -> (3,) for the cap's fiducials found under FIDUCIAL_ALIASES."""
    out = {}
    for n in pts.names:
        for k, aliases in FIDUCIAL_ALIASES.items():
            if n.strip().lower() in aliases and k not in out:
                out[k] = np.asarray(pts[n], dtype=np.float64)
    return out


@dataclass(frozen=True)
class CapInMri:
    """Electrodes mapped into the MRI: points (frame mri, mm), T_mri_from_cap (4x4), the fiducial
    fit's RMS residual (mm; 0 when the cap was already in the MRI)."""

    points: NamedPoints
    T_mri_from_cap: np.ndarray
    fiducial_rms_mm: float


MAX_FIDUCIAL_RMS_MM = 10.0


def cap_to_mri(cap: NamedPoints, fiducials_mri: dict[str, np.ndarray], path: Path | None = None) -> CapInMri:
    """Map a digitised cap into the MRI by the rigid fit of its nasion/LPA/RPA onto the plan's
    (mri mm). Refused (InputFileError) when the cap lacks them or they fit worse than
    MAX_FIDUCIAL_RMS_MM (another person, wrong unit or swapped sides)."""
    from registration.paired_point import rigid_fit

    where = path or Path("electrodes")
    if cap.frame == "mri":
        return CapInMri(cap, np.eye(4), 0.0)
    fc = find_fiducials(cap)
    missing = [k for k in ("nasion", "lpa", "rpa") if k not in fc]
    if missing:
        raise InputFileError(where, f"the cap has no {missing[0]} (names tried: {', '.join(FIDUCIAL_ALIASES[missing[0]])}); "
                                    "its fiducials are needed to place it on the MRI")
    if not {"nasion", "lpa", "rpa"} <= set(fiducials_mri):
        raise InputFileError(where, "placing a cap on the MRI needs the plan's nasion, LPA and RPA (--fiducials)")
    keys = ("nasion", "lpa", "rpa")
    A = np.array([fiducials_mri[k] for k in keys])
    B = np.array([fc[k] for k in keys])
    T = rigid_fit(A, B)
    res = A - (B @ T[:3, :3].T + T[:3, 3])
    rms = float(np.sqrt(np.mean(np.sum(res ** 2, axis=1))))
    if rms > MAX_FIDUCIAL_RMS_MM:
        raise InputFileError(where, f"the cap's fiducials fit the MRI's only to {rms:.1f} mm RMS (more than "
                                    f"{MAX_FIDUCIAL_RMS_MM:g} mm): another head, another unit, or LPA/RPA swapped")
    P = cap.positions @ T[:3, :3].T + T[:3, 3]
    # a cap's electrodes sit above its fiducials; with LPA/RPA swapped the (symmetric) fiducials
    # still fit, but the cap lands upside down: superior = (rpa - lpa) x (nasion - ear midpoint)
    fid_names = {n for n in cap.names if any(n.strip().lower() in a for a in FIDUCIAL_ALIASES.values())}
    others = np.array([P[i] for i, n in enumerate(cap.names) if n not in fid_names]).reshape(-1, 3)
    if len(others):
        mid = 0.5 * (A[1] + A[2])
        up = np.cross(A[2] - A[1], A[0] - mid)
        if float((others.mean(axis=0) - mid) @ up) < 0:
            raise InputFileError(where, "placed by its fiducials, the cap's electrodes fall below the ears: "
                                        "LPA and RPA are swapped (in the cap or in the plan's fiducials)")
    return CapInMri(NamedPoints(cap.names, P, "mri"), T, rms)


def cap_electrodes_in_mri(cap_path: str | Path, fiducials_path: str | Path | None, names, unit: str | None = None):
    """[(electrode name, (3,) mri mm, source text)] for the named electrodes of a cap file, placed
    on the MRI by the plan's fiducials (or as they are, for a CSV marked '# frame: mri')."""
    from navcore.points import read_points
    from targets.planner import fiducial_lookup

    cap_path = Path(cap_path)
    cap = read_cap(cap_path, unit)
    fids = fiducial_lookup(read_points(fiducials_path, frame="mri")) if fiducials_path else {}
    placed = cap_to_mri(cap, fids, cap_path)
    lookup = {n.lower(): n for n in placed.points.names}
    out = []
    for name in names:
        key = lookup.get(name.lower())
        if key is None:
            raise InputFileError(cap_path, f"the cap has no electrode '{name}'; it has {', '.join(cap.names)}")
        how = ("already in MRI space" if placed.fiducial_rms_mm == 0 and cap.frame == "mri" else
               f"placed on the MRI by its nasion/LPA/RPA ({placed.fiducial_rms_mm:.1f} mm RMS)")
        out.append((key, placed.points[key], f"EEG cap electrode {key} from {cap_path.name}, {how}"))
    return out
