"""A session built from files, for scripted runs (no prompts, no tracked pointer in the room).

    navtms session calibrate DIR --pivot-from pivot_poses.csv       pointer tip by pivot calibration
    navtms session calibrate DIR --pointer-tip X,Y,Z                a tip known from elsewhere (pointer mm)
    navtms session calibrate DIR --coil-points coil_points.csv      centre, handle, side (coil-body mm)
    navtms session calibrate DIR --coil-transform T.txt             T_coilbody_from_coil (4x4, mm)
    navtms session register DIR --from registration.json            what `navtms register` wrote

registration.json: `navtms register` must have been given the fiducials (and head points) in
the frame of the head reference body (`head`), so its T_mri_from_tracker is the session's
T_mri_from_head. The session does not trust the file's numbers: it reads the point files the
file names (its "inputs"; a relative path is taken as written, else beside the file), runs the
one pipeline again with the session's gates and targets (so the predicted TRE is per session
target), keeps it as an attempt (navtms.attempts), and refuses when the result differs from
the file's transform (the inputs changed since) or the file's planned fiducials are not the
session plan's.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import InputFileError, SessionError
from navcore.fileio import read_json, read_rigid_transform, require_matrix
from navcore.points import NamedPoints, read_points
from navcore.transforms import apply, check_rigid

#: The largest distance (mm) between the file's transform and the recomputed one at the fiducials.
MATCH_TOL_MM = 1e-3
#: The largest distance (mm) between a fiducial of the file and the same-named one of the plan.
PLAN_TOL_MM = 0.5


def pointer_tip_from_pose_log(path: str | Path, tool: str = "pointer"):
    """Pivot calibration (registration.pivot.pivot_calibration_robust, as the session's
    collect_pivot) of every visible `tool` pose in a navtms pose log (camera or tracker frame,
    mm). Returns its PivotResult."""
    from registration.pivot import pivot_calibration_robust
    from tracking.poselog import read_frames

    poses = [f.poses[tool].T_camera_from_body for f in read_frames(path)
             if f.poses and tool in f.poses and f.poses[tool].visible]
    if len(poses) < 10:
        raise InputFileError(path, f"has {len(poses)} visible {tool} poses; a pivot calibration needs 10 or more")
    return pivot_calibration_robust(np.asarray(poses))


def coil_calibration_from_points(path: str | Path) -> np.ndarray:
    """T_coilbody_from_coil (4x4 mm) from a point file (CSV name,x_mm,y_mm,z_mm or .mrk.json)
    holding `centre`, `handle` and `side` (+x, left of the handle) in the coil body frame."""
    from registration.coil_calibration import coil_frame_from_points

    pts = read_points(path, frame="coilbody")
    lower = {n.lower(): n for n in pts.names}
    missing = [n for n in ("centre", "handle", "side") if n not in lower]
    if missing:
        raise InputFileError(path, f"has no point named {', '.join(missing)} (coil calibration needs centre, handle, side)")
    return coil_frame_from_points(*(pts[lower[n]] for n in ("centre", "handle", "side")))


def read_transform(path: str | Path, key: str = "T_coilbody_from_coil") -> np.ndarray:
    """A rigid 4x4 (mm): 4 lines of 4 numbers, or JSON {key: 4x4}."""
    return read_rigid_transform(path, key, "transform file")


def _input_path(path: Path, obj: dict, key: str, required: bool) -> Optional[Path]:
    v = (obj.get("inputs") or {}).get(key)
    if v is None or v == "":
        if required:
            raise InputFileError(path, f"names no {key.replace('_', ' ')} among its inputs")
        return None
    p = Path(str(v))
    if not p.exists() and not p.is_absolute() and (path.parent / p).exists():
        p = path.parent / p
    if not p.exists():
        raise InputFileError(path, f"names {key.replace('_', ' ')} {v}, which does not exist")
    return p


class RegistrationFile:
    """What `navtms register` wrote, read and checked: T_mri_from_tracker (4x4 mm), fle_mm,
    overridden, and the inputs it names (image and tracker fiducials, head points, MRI)."""

    def __init__(self, path: str | Path):
        self.path = path = Path(path)
        obj = read_json(path, "registration file", supported_versions=(1,))
        if obj.get("kind") != "registration":
            raise InputFileError(path, "is not a registration file written by navtms register (no kind 'registration')")
        self.T_mri_from_tracker = require_matrix(path, obj, "T_mri_from_tracker", (4, 4), "registration file")
        try:
            check_rigid(self.T_mri_from_tracker, "registration")
        except Exception:
            raise InputFileError(path, "T_mri_from_tracker is not a rigid 4x4 transform (mm)") from None
        fle = obj.get("fle_mm")
        self.fle_mm = float(fle) if isinstance(fle, (int, float)) and math.isfinite(fle) and fle >= 0 else None
        self.overridden = bool(obj.get("overridden", False))
        self.image_fiducials = read_points(_input_path(path, obj, "image_fiducials", True), frame="mri")
        self.head_fiducials = read_points(_input_path(path, obj, "tracker_fiducials", True), frame="head")
        hp = _input_path(path, obj, "head_points", False)
        self.head_points = None if hp is None else read_points(hp, frame="head").positions
        self.mri = _input_path(path, obj, "mri", self.head_points is not None)

    def check_plan(self, plan_fiducials: Optional[NamedPoints]) -> None:
        """Refuse a file made against other planned fiducials than the session plan's."""
        if plan_fiducials is None:
            return
        for n in self.image_fiducials.names:
            if n in plan_fiducials.names:
                d = float(np.linalg.norm(self.image_fiducials[n] - plan_fiducials[n]))
                if d > PLAN_TOL_MM:
                    raise SessionError(f"{self.path}: its fiducial {n} lies {d:.1f} mm from the session plan's; "
                                       "it was made for another plan")

    def scalp(self):
        """The scalp surface of the file's MRI (as navtms register made it), or None without head points."""
        if self.head_points is None:
            return None
        from navcore.mri import load_mri
        from targets.surfaces import scalp_surface

        return scalp_surface(load_mri(self.mri))

    def check_same(self, T_mri_from_head: np.ndarray) -> None:
        """Refuse when the recomputed registration moves the fiducials by more than MATCH_TOL_MM
        from where the file's transform puts them (the inputs changed since the file was written)."""
        pts = self.head_fiducials.positions
        d = float(np.max(np.linalg.norm(apply(T_mri_from_head, pts) - apply(self.T_mri_from_tracker, pts), axis=1)))
        if d > MATCH_TOL_MM:
            raise SessionError(f"{self.path}: its inputs now give a registration {d:.3f} mm away from the one it "
                               "holds (were the point files changed since?); run navtms register again")
