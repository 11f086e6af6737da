"""ANT Neuro visor2 marker file (.mrk, JSON): coil targets in and out.

Layout as navtms reads it: a JSON object with "TargetMarkers": a list of markers, each with a
name ("Name", else "Label" or "Description") and "CoilTarget": {"CoilAxesConvention": NAME,
"CoilPose": {"RigidTransformMatrix4x4": 16 numbers, ROW-major (row 0 first), mm}}. The matrix's
columns are the coil axes and centre in the convention the file names: "SimNIBS" (= navtms),
"Brainsight" or "Localite" (targets.interop.common); a file that names none, or another, is
refused: navtms never guesses coil axes. An optional "CoordinateSpace" (top level or per marker)
"RAS" (the default, scanner RAS+ of the MRI) or "LPS" (turned into RAS by diag(-1,-1,1), and
the import says so). Other keys are kept in CoilPose.fields and ignored.
Written files carry "FormatVersion": 1, "CoordinateSpace": "RAS", convention "SimNIBS".
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import atomic_write_text
from targets.interop.common import T_RAS_FROM_LPS, AxesConvention, CoilPose, Imported, checked_pose, from_navtms, to_navtms

FORMAT = "ANT visor2 .mrk"
CONVENTIONS = {"simnibs": AxesConvention.SIMNIBS, "navtms": AxesConvention.NAVTMS,
               "brainsight": AxesConvention.BRAINSIGHT, "localite": AxesConvention.LOCALITE}


def _space(path: Path, obj: dict, default: str) -> str:
    s = str(obj.get("CoordinateSpace", default)).upper()
    if s not in ("RAS", "LPS"):
        raise InputFileError(path, f"the CoordinateSpace '{s}' is not RAS or LPS")
    return s


def read(path: str | Path) -> Imported:
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFileError(path, f"is not a readable visor2 JSON marker file ({e.__class__.__name__})") from e
    if not isinstance(obj, dict) or not isinstance(obj.get("TargetMarkers"), list):
        raise InputFileError(path, "has no 'TargetMarkers' list; it is not a visor2 marker file")
    top_space = _space(path, obj, "RAS")
    poses, conventions, spaces = [], set(), set()
    for i, m in enumerate(obj["TargetMarkers"]):
        if not isinstance(m, dict):
            raise InputFileError(path, f"TargetMarkers[{i}] is not an object")
        name = str(m.get("Name") or m.get("Label") or m.get("Description") or f"visor2-{i + 1}")
        ct = m.get("CoilTarget")
        if not isinstance(ct, dict):
            raise InputFileError(path, f"marker '{name}' has no CoilTarget")
        conv_name = ct.get("CoilAxesConvention")
        if conv_name is None:
            raise InputFileError(path, f"marker '{name}' does not name its CoilAxesConvention; navtms does not guess coil axes")
        conv = CONVENTIONS.get(str(conv_name).strip().lower())
        if conv is None:
            raise InputFileError(path, f"marker '{name}' uses the coil axes convention '{conv_name}', which navtms does not "
                                       f"know (SimNIBS, Brainsight or Localite)")
        pose = ct.get("CoilPose")
        vals = pose.get("RigidTransformMatrix4x4") if isinstance(pose, dict) else None
        if not isinstance(vals, list) or len(vals) != 16:
            raise InputFileError(path, f"marker '{name}' has no CoilPose.RigidTransformMatrix4x4 of 16 numbers")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in vals):
            raise InputFileError(path, f"marker '{name}': RigidTransformMatrix4x4 holds a non-number")
        M = checked_pose(path, np.array(vals, dtype=np.float64).reshape(4, 4), f"marker '{name}'")  # row-major
        space = _space(path, m, top_space)
        if space == "LPS":
            M = T_RAS_FROM_LPS @ M
        conventions.add(conv)
        spaces.add(space)
        extra = {k: json.dumps(v) for k, v in m.items() if k not in ("Name", "CoilTarget")}
        poses.append(CoilPose(name, to_navtms(M, conv), "target", extra))
    if not poses:
        raise InputFileError(path, "the visor2 file holds no target markers")
    if len(conventions) > 1:
        raise InputFileError(path, "the markers mix coil axes conventions; navtms reads one convention per file")
    space = "/".join(sorted(spaces)) + (" (LPS turned into RAS by diag(-1,-1,1))" if "LPS" in spaces else "")
    return Imported(path, FORMAT, tuple(poses), space, conventions.pop())


def write(path: str | Path, poses) -> Path:
    """Targets as a visor2 .mrk: SimNIBS axes, RAS, matrices row-major."""
    markers = []
    for p in poses:
        M = from_navtms(p.T_mri_from_coil, AxesConvention.SIMNIBS)
        markers.append({"Name": p.name, "CoilTarget": {"CoilAxesConvention": "SimNIBS",
                                                       "CoilPose": {"RigidTransformMatrix4x4": [float(v) for v in M.ravel()]}}})
    body = {"FormatVersion": 1, "Generator": "navtms", "CoordinateSpace": "RAS", "TargetMarkers": markers}
    return atomic_write_text(path, json.dumps(body, indent=2) + "\n")
