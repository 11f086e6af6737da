"""SimNIBS coil positions (`matsimnibs`): a 4x4 matrix whose columns are the coil's x, y, z axes
and centre in the subject's scanner RAS+ mm (SimNIBS docs, "Coordinates in SimNIBS" and the TMS
`POSITION.matsimnibs` field): y along the handle, z into the head, centre on the coil's bottom.
These are navtms's coil axes, so T_mri_from_coil = matsimnibs.

Files: .txt (whitespace/comma separated numbers, 4 rows per matrix, several matrices stacked;
'#' comments; optional '# name: NAME' line before a matrix), .npy ((4, 4) or (N, 4, 4)), .mat
(variable 'matsimnibs' (4, 4) or (4, 4, N) as SimNIBS's MATLAB tools store it, else the only
numeric 4x4 variable).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_bytes, atomic_write_text
from targets.interop.common import AxesConvention, CoilPose, Imported, checked_pose

FORMAT = "SimNIBS matsimnibs"
EXTENSIONS = (".txt", ".npy", ".mat")


def _stack(path: Path, a: np.ndarray, last_axis_n: bool) -> list[np.ndarray]:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise InputFileError(path, "the matsimnibs data is not numeric")
    if a.shape == (4, 4):
        return [a]
    if a.ndim == 3 and last_axis_n and a.shape[:2] == (4, 4):
        return [a[:, :, i] for i in range(a.shape[2])]
    if a.ndim == 3 and a.shape[1:] == (4, 4):
        return [a[i] for i in range(a.shape[0])]
    raise InputFileError(path, f"the matsimnibs array has shape {a.shape}; (4, 4), (N, 4, 4) or (4, 4, N) is needed")


def _read_txt(path: Path) -> tuple[list[np.ndarray], list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"cannot be read as text ({e.__class__.__name__})") from e
    rows, names, pending = [], [], None
    for ln, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#"):
            if s[1:].strip().lower().startswith("name:"):
                pending = s[1:].strip()[5:].strip()
            continue
        if not s:
            continue
        try:
            vals = [float(v) for v in s.replace(",", " ").split()]
        except ValueError:
            raise InputFileError(path, f"line {ln} is not four numbers: this is neither a SimNIBS matsimnibs text file "
                                       "(4 numbers per line) nor a Brainsight export (it starts with '# Version:')") from None
        if len(vals) != 4:
            raise InputFileError(path, f"line {ln} has {len(vals)} numbers; each matrix row has 4")
        if len(rows) % 4 == 0:
            names.append(pending or "")
            pending = None
        rows.append(vals)
    if not rows or len(rows) % 4:
        raise InputFileError(path, f"the file holds {len(rows)} matrix rows; matsimnibs needs 4 per coil position")
    a = np.array(rows).reshape(-1, 4, 4)
    return [a[i] for i in range(len(a))], names


def read(path: str | Path) -> Imported:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the SimNIBS coil position file does not exist")
    ext = path.suffix.lower()
    names: list[str] = []
    if ext == ".npy":
        try:
            mats = _stack(path, np.load(path, allow_pickle=False), last_axis_n=False)
        except (OSError, ValueError, EOFError) as e:
            raise InputFileError(path, f"is not a readable .npy array ({e.__class__.__name__})") from e
    elif ext == ".mat":
        from scipy.io import loadmat

        try:
            m = loadmat(str(path))
        except (OSError, ValueError, NotImplementedError, TypeError) as e:
            raise InputFileError(path, f"is not a readable MATLAB file ({e.__class__.__name__})") from e
        if "matsimnibs" in m:
            mats = _stack(path, m["matsimnibs"], last_axis_n=True)
        else:
            cands = [k for k, v in m.items() if not k.startswith("__") and isinstance(v, np.ndarray)
                     and v.dtype.kind in "fiu" and v.shape[:2] == (4, 4)]
            if len(cands) != 1:
                raise InputFileError(path, "the MATLAB file has no 'matsimnibs' variable (nor exactly one 4x4 array)")
            mats = _stack(path, m[cands[0]], last_axis_n=True)
    elif ext == ".txt":
        mats, names = _read_txt(path)
    else:
        raise InputFileError(path, "a SimNIBS coil position file must be .txt, .npy or .mat")
    poses = []
    for i, M in enumerate(mats):
        name = (names[i] if i < len(names) else "") or f"simnibs-{i + 1}"
        T = checked_pose(path, M, f"matsimnibs {i + 1}")
        poses.append(CoilPose(name, T, "target"))
    return Imported(path, FORMAT, tuple(poses), "scanner RAS+ (SimNIBS subject space)", AxesConvention.SIMNIBS)


def write(path: str | Path, poses) -> Path:
    """Write coil poses as matsimnibs: .txt (a '# name:' line and 4 rows each), .npy (N, 4, 4)
    or .mat ('matsimnibs' (4, 4, N) and 'names')."""
    path = Path(path)
    mats = np.array([np.asarray(p.T_mri_from_coil, dtype=np.float64) for p in poses]).reshape(-1, 4, 4)
    ext = path.suffix.lower()
    if ext == ".txt":
        lines = ["# SimNIBS matsimnibs written by navtms: columns = coil x, y, z axes and centre; "
                 "scanner RAS+ mm; y along the handle, z into the head"]
        for p, M in zip(poses, mats):
            lines.append(f"# name: {p.name}")
            lines += [" ".join(f"{v:.17g}" for v in row) for row in M]
        return atomic_write_text(path, "\n".join(lines) + "\n")
    if ext == ".npy":
        buf = io.BytesIO()
        np.save(buf, mats)
        return atomic_write_bytes(path, buf.getvalue())
    if ext == ".mat":
        from scipy.io import savemat

        buf = io.BytesIO()
        savemat(buf, {"matsimnibs": np.moveaxis(mats, 0, 2),
                      "names": np.array([p.name for p in poses], dtype=object)})
        return atomic_write_bytes(path, buf.getvalue())
    raise InputFileError(path, "a SimNIBS coil position file must be .txt, .npy or .mat")
