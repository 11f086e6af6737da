"""Coil alignment errors: how far the live coil is from its planned pose.

Pure functions, no I/O. Frames: `mri` (scanner RAS+, mm); `coil` = live coil (origin at the
coil centre on its face, +z into the head, +y along the handle); `plannedcoil` = the planned
coil pose, same axes. Lengths in mm, angles in rad (the `*_deg` properties are for the edges).

Definitions (all invariant under one rigid transform applied to both poses and the target):
- offset_mm: live coil centre minus planned coil centre, written in the planned coil frame
  (x, y: in-plane components for the bullseye; z: along the planned normal, + = too deep).
- distance_mm: |offset_mm|.
- tilt_rad: angle between live +z and planned +z, [0, pi].
- twist_rad: signed rotation of the handle (+y) about the normal, after removing the tilt by
  the shortest rotation taking live +z onto planned +z (swing-twist decomposition);
  positive = counter-clockwise about planned +z (right-hand rule), in (-pi, pi].
- depth_mm: coil centre to the cortical target along the live +z (NaN without a target).
- axis_miss_mm: distance from the cortical target to the live coil axis (line through the
  coil centre along +z), i.e. the lateral miss at the target (NaN without a target).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from navcore.transforms import invert

_E_Z = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Alignment:
    """Errors of a live coil pose against a planned one (mm, rad). See the module docstring."""

    offset_mm: np.ndarray          # (3,) mm, in the planned coil frame
    distance_mm: float
    tilt_rad: float
    twist_rad: float
    depth_mm: float = math.nan
    axis_miss_mm: float = math.nan

    @property
    def lateral_x_mm(self) -> float:
        """In-plane offset along the planned coil x axis (mm), for the bullseye."""
        return float(self.offset_mm[0])

    @property
    def lateral_y_mm(self) -> float:
        """In-plane offset along the planned coil y (handle) axis (mm), for the bullseye."""
        return float(self.offset_mm[1])

    @property
    def normal_mm(self) -> float:
        """Offset along the planned +z (mm); positive = live coil centre deeper than planned."""
        return float(self.offset_mm[2])

    @property
    def in_plane_mm(self) -> float:
        """Length of the in-plane (x, y) offset (mm)."""
        return float(math.hypot(self.offset_mm[0], self.offset_mm[1]))

    @property
    def tilt_deg(self) -> float:
        return math.degrees(self.tilt_rad)

    @property
    def twist_deg(self) -> float:
        return math.degrees(self.twist_rad)

    def as_dict(self) -> dict:
        """Flat dict for logs and screens (mm, deg)."""
        return {"distance_mm": self.distance_mm, "offset_x_mm": self.lateral_x_mm,
                "offset_y_mm": self.lateral_y_mm, "offset_z_mm": self.normal_mm,
                "tilt_deg": self.tilt_deg, "twist_deg": self.twist_deg,
                "depth_mm": self.depth_mm, "axis_miss_mm": self.axis_miss_mm}


def shortest_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """3x3 rotation of smallest angle taking unit vector u onto unit vector v (Rodrigues).

    For opposite vectors the axis is any one perpendicular to u (chosen deterministically)."""
    u = np.asarray(u, dtype=np.float64) / np.linalg.norm(u)
    v = np.asarray(v, dtype=np.float64) / np.linalg.norm(v)
    axis = np.cross(u, v)
    s = float(np.linalg.norm(axis))
    c = float(np.dot(u, v))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        # half turn about an axis perpendicular to u
        helper = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        k = np.cross(u, helper)
        k /= np.linalg.norm(k)
        return 2.0 * np.outer(k, k) - np.eye(3)
    k = axis / s
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    angle = math.atan2(s, c)
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * (K @ K)


def tilt_twist(R_plannedcoil_from_coil: np.ndarray) -> tuple[float, float]:
    """(tilt_rad, twist_rad) of a relative rotation written in the planned coil frame."""
    R = np.asarray(R_plannedcoil_from_coil, dtype=np.float64)
    z_live = R[:, 2]
    tilt = float(math.atan2(np.linalg.norm(np.cross(z_live, _E_Z)), float(np.dot(z_live, _E_Z))))
    y_untilted = shortest_rotation(z_live, _E_Z) @ R[:, 1]
    # signed angle from planned +y to the untilted handle, about planned +z
    twist = float(math.atan2(-y_untilted[0], y_untilted[1]))
    return tilt, twist


def alignment(T_mri_from_plannedcoil: np.ndarray, T_mri_from_coil: np.ndarray,
              target_mri_mm: Optional[np.ndarray] = None) -> Alignment:
    """Errors of the live coil `T_mri_from_coil` against `T_mri_from_plannedcoil` (both 4x4, mm).

    target_mri_mm: (3,) cortical target in mri mm, or None (then depth and axis miss are NaN)."""
    T_plan = np.asarray(T_mri_from_plannedcoil, dtype=np.float64)
    T_live = np.asarray(T_mri_from_coil, dtype=np.float64)
    T_plannedcoil_from_coil = invert(T_plan) @ T_live
    offset = T_plannedcoil_from_coil[:3, 3].copy()
    tilt, twist = tilt_twist(T_plannedcoil_from_coil[:3, :3])
    depth = miss = math.nan
    if target_mri_mm is not None:
        d = np.asarray(target_mri_mm, dtype=np.float64).reshape(3) - T_live[:3, 3]
        z = T_live[:3, 2]
        depth = float(np.dot(d, z))
        miss = float(np.linalg.norm(d - depth * z))
    return Alignment(offset, float(np.linalg.norm(offset)), tilt, twist, depth, miss)


def within(a: Alignment, distance_mm: float, angle_rad: float,
           twist_rad: Optional[float] = None) -> bool:
    """True when distance <= distance_mm and tilt <= angle_rad (and |twist| <= twist_rad if given)."""
    ok = a.distance_mm <= distance_mm and a.tilt_rad <= angle_rad
    if twist_rad is not None:
        ok = ok and abs(a.twist_rad) <= twist_rad
    return bool(ok)
