"""Brainsight (Rogue Research) text export: targets and samples.

Layout (Brainsight's "Export" text format, versions 7 to 14): UTF-8 lines; header lines start with
'# ' ('# Version: N', '# Coordinate system: NAME', '# Created by:', '# Units:', '# Encoding:',
'# Notes:'); a section starts with a column-title line beginning '# Target Name' or '# Sample Name'
(other sections, e.g. '# Planned Landmark Name' or '# Electrode Name', are skipped); its rows
follow, tab-delimited; '(null)' marks a missing value; several values inside one column are
separated by ';'.

Columns used: Loc. X/Y/Z (coil centre, mm) and m0n0..m2n2, where mKnJ is component J of coil
axis K, i.e. M[:3, K] = (mKn0, mKn1, mKn2). Brainsight's coil axes are SimNIBS's with x and z
reversed (z points out of the head): T_mri_from_coil = M @ diag(-1, 1, -1, 1).

Coordinate system: only 'NIfTI:Scanner' and 'NIfTI:Aligned' are the scanner RAS+ mm of the NIfTI
the project was made on; 'Brainsight' (Brainsight's internal LPS frame from the voxel corner),
'World' (non-NIfTI projects) and the template spaces 'NIfTI:MNI-152' / 'NIfTI:Talairach' are
refused with the reason.
Sample columns kept as text in CoilPose.fields: Session Name, Index, Assoc. Target, Dist. to
Target, Target Error, Angular Error, Twist Error, Stim. Power (or Stim. Power A), Date, Time, ...
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_text
from targets.interop.common import AxesConvention, CoilPose, Imported, checked_pose, from_navtms, to_navtms

FORMAT = "Brainsight text export"
VERSIONS = range(7, 15)
ACCEPTED_SPACES = {"nifti:scanner": "NIfTI:Scanner", "nifti:aligned": "NIfTI:Aligned"}
REFUSED_SPACES = {
    "brainsight": "Brainsight's internal frame (LPS from the corner voxel), not the scanner space",
    "world": "the 'World' space of a project not made on a NIfTI, which navtms cannot relate to the MRI",
    "nifti:mni-152": "the MNI-152 template space, not the subject's scanner space",
    "nifti:talairach": "the Talairach template space, not the subject's scanner space",
}
NULL = "(null)"
MATRIX_COLUMNS = tuple(f"m{k}n{j}" for k in range(3) for j in range(3))
TARGET_COLUMNS = ("Target Name", "Loc. X", "Loc. Y", "Loc. Z") + MATRIX_COLUMNS
SAMPLE_COLUMNS = ("Sample Name", "Session Name", "Index", "Assoc. Target", "Loc. X", "Loc. Y", "Loc. Z") \
    + MATRIX_COLUMNS + ("Dist. to Target", "Target Error", "Angular Error", "Twist Error", "Stim. Power", "Date",
                        "Time", "Creation Cause", "Crosshairs Driver", "Offset", "Comment")


def _matrix(path: Path, row: dict, what: str) -> np.ndarray | None:
    keys = ("Loc. X", "Loc. Y", "Loc. Z") + MATRIX_COLUMNS
    missing = [k for k in keys if k not in row]
    if missing:
        raise InputFileError(path, f"{what} has no column {missing[0]!r}")
    if any(row[k].strip() == NULL for k in keys):
        return None
    try:
        v = {k: float(row[k]) for k in keys}
    except ValueError:
        raise InputFileError(path, f"{what} has a non-number in its position or axes") from None
    M = np.eye(4)
    for k in range(3):
        M[:3, k] = [v[f"m{k}n{j}"] for j in range(3)]
    M[:3, 3] = [v["Loc. X"], v["Loc. Y"], v["Loc. Z"]]
    return M


def read(path: str | Path) -> Imported:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"cannot be read as UTF-8 text ({e.__class__.__name__})") from e
    header: dict[str, str] = {}
    section, cols = None, []
    poses: list[CoilPose] = []
    skipped = 0
    for ln, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            body = line[1:].strip()
            if body.startswith("Target Name") or body.startswith("Sample Name"):
                section = "target" if body.startswith("Target") else "sample"
                cols = [c.strip() for c in body.split("\t")]
            elif "\t" in body:  # another section's column titles (landmarks, electrodes, ...)
                section, cols = None, []
            elif ":" in body:
                k, v = body.split(":", 1)
                header[k.strip().lower()] = v.strip()
            continue
        if section is None:
            continue
        vals = line.split("\t")
        row = dict(zip(cols, vals))
        name = vals[0].strip()
        what = f"{section} '{name}' (line {ln})"
        M = _matrix(path, row, what)
        if M is None:
            if section == "target":
                raise InputFileError(path, f"{what} has no position or axes ((null))")
            skipped += 1  # a sample taken while the coil was not tracked
            continue
        T = to_navtms(checked_pose(path, M, f"the coil axes of {what}"), AxesConvention.BRAINSIGHT)
        fields = {c: v.strip() for c, v in row.items() if c not in TARGET_COLUMNS[1:] and c != cols[0]}
        poses.append(CoilPose(name, T, section, fields))
    version = header.get("version")
    if version is None:
        raise InputFileError(path, "is not a Brainsight export: it has no '# Version:' line")
    try:
        v = int(version.split()[0])
    except (ValueError, IndexError):
        raise InputFileError(path, f"the Brainsight version '{version}' is not a number") from None
    if v not in VERSIONS:
        raise InputFileError(path, f"Brainsight export version {v} is not one navtms reads ({VERSIONS[0]} to {VERSIONS[-1]})")
    space = header.get("coordinate system")
    if space is None:
        raise InputFileError(path, "the Brainsight export names no '# Coordinate system:'; export it as NIfTI:Scanner")
    if space.lower() not in ACCEPTED_SPACES:
        reason = REFUSED_SPACES.get(space.lower(), "not a NIfTI scanner or aligned space")
        raise InputFileError(path, f"the coordinates are in '{space}', {reason}; export them from Brainsight as "
                                   "NIfTI:Scanner (or NIfTI:Aligned) of the same MRI")
    enc = header.get("encoding", "UTF-8")
    if enc.upper().replace("-", "") != "UTF8":
        raise InputFileError(path, f"the file's encoding is '{enc}'; export it as UTF-8")
    if not poses:
        raise InputFileError(path, "the Brainsight export holds no targets or samples with a position"
                                   + (f" ({skipped} samples have (null) positions)" if skipped else ""))
    return Imported(path, FORMAT, tuple(poses), ACCEPTED_SPACES[space.lower()], AxesConvention.BRAINSIGHT)


def _num(v: float, digits: int = 4) -> str:
    return NULL if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _pose_cells(T: np.ndarray) -> list[str]:
    M = from_navtms(T, AxesConvention.BRAINSIGHT)
    return [_num(M[i, 3]) for i in range(3)] + [_num(M[j, k], 6) for k in range(3) for j in range(3)]


def _clean(text) -> str:
    s = str(text if text is not None else "").replace("\t", " ").replace("\n", " ").strip()
    return s or NULL


def write(path: str | Path, targets=(), samples=(), coordinate_system: str = "NIfTI:Scanner",
          version: int = 13, created_by: str = "navtms") -> Path:
    """Write targets and samples (CoilPose; samples' fields fill the sample columns by name, the
    rest (null)). coordinate_system: 'NIfTI:Scanner' or 'NIfTI:Aligned' (both mean the MRI's
    scanner RAS+ mm in navtms)."""
    if coordinate_system.lower() not in ACCEPTED_SPACES:
        raise ValueError("coordinate_system must be NIfTI:Scanner or NIfTI:Aligned")
    if version not in VERSIONS:
        raise ValueError(f"version must be {VERSIONS[0]} to {VERSIONS[-1]}")
    out = [f"# Version: {version}", f"# Coordinate system: {coordinate_system}", f"# Created by: {created_by}",
           "# Units: millimetres, degrees, milliseconds, and microvolts", "# Encoding: UTF-8",
           "# Notes: Each column is delimited by a tab. Each value within a column is delimited by a semicolon."]
    if targets:
        out.append("# " + "\t".join(TARGET_COLUMNS))
        for p in targets:
            out.append("\t".join([_clean(p.name)] + _pose_cells(p.T_mri_from_coil)))
    if samples:
        out.append("# " + "\t".join(SAMPLE_COLUMNS))
        for i, p in enumerate(samples):
            f = dict(p.fields)
            f.setdefault("Index", str(i + 1))
            cells = [_clean(p.name)] + [_clean(f.get(c)) for c in SAMPLE_COLUMNS[1:4]]
            cells += _pose_cells(p.T_mri_from_coil) if p.T_mri_from_coil is not None else [NULL] * 12
            cells += [_clean(f.get(c)) for c in SAMPLE_COLUMNS[4 + 12:]]
            out.append("\t".join(cells))
    return atomic_write_text(path, "\n".join(out) + "\n")
