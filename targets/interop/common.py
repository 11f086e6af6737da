"""Shared pieces of the interop formats: the coil pose records, the coil axis conventions, and
the checks every import makes. Conventions in full: docs/interop.md.

navtms coil frame (DESIGN.md): origin at the coil centre on its face, +z into the head, +y along
the handle, x = y cross z. SimNIBS `matsimnibs` uses the same axes (Thielscher et al. 2015,
SimNIBS docs "Coil position"), so T_mri_from_coil == matsimnibs. The other tools' matrices M
(columns = that tool's coil axes and centre, in scanner RAS+ mm) map to navtms by a fixed
right-multiplication: T_mri_from_coil = M @ C and M = T_mri_from_coil @ inv(C), with C:
  Brainsight  diag(-1, 1, -1, 1)                    (x and z reversed; z points out of the head)
  Localite    [[0,0,1,0],[0,-1,0,0],[1,0,0,0],[0,0,0,1]]  (x is the normal, z the coil's x; y reversed)
Every C here is its own inverse. LPS files are turned into RAS by diag(-1, -1, 1, 1) on the left.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.transforms import is_rigid

T_RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


class AxesConvention(Enum):
    """A tool's coil axes; `.C` maps its matrix to navtms: T_mri_from_coil = M @ C."""

    NAVTMS = "navtms"        # == SimNIBS
    SIMNIBS = "SimNIBS"
    BRAINSIGHT = "Brainsight"
    LOCALITE = "Localite"

    @property
    def C(self) -> np.ndarray:
        if self in (AxesConvention.NAVTMS, AxesConvention.SIMNIBS):
            return np.eye(4)
        if self is AxesConvention.BRAINSIGHT:
            return np.diag([-1.0, 1.0, -1.0, 1.0])
        return np.array([[0.0, 0, 1, 0], [0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])

    @property
    def description(self) -> str:
        return {"navtms": "navtms/SimNIBS axes (x across, y along the handle, z into the head)",
                "SimNIBS": "SimNIBS matsimnibs axes (x across, y along the handle, z into the head)",
                "Brainsight": "Brainsight coil axes (SimNIBS axes with x and z reversed: z out of the head)",
                "Localite": "Localite coil axes (x = SimNIBS z into the head, y = -SimNIBS y, z = SimNIBS x)"}[self.value]


def to_navtms(M: np.ndarray, convention: AxesConvention) -> np.ndarray:
    """A tool's 4x4 coil matrix (RAS mm) to T_mri_from_coil (navtms axes)."""
    return np.asarray(M, dtype=np.float64) @ convention.C


def from_navtms(T_mri_from_coil: np.ndarray, convention: AxesConvention) -> np.ndarray:
    """T_mri_from_coil (navtms axes) to a tool's 4x4 coil matrix (RAS mm)."""
    return np.asarray(T_mri_from_coil, dtype=np.float64) @ np.linalg.inv(convention.C)


@dataclass(frozen=True)
class CoilPose:
    """One coil pose read from or written to another tool.

    name: the target's or sample's name. T_mri_from_coil: 4x4 rigid, navtms coil axes, scanner
    RAS+ mm. kind: "target" (a planned placement) or "sample" (a recorded pulse/position).
    fields: the format's other columns as text (time, errors, stimulator output, ...)."""

    name: str
    T_mri_from_coil: np.ndarray
    kind: str = "target"
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Imported:
    """What an import read and what it assumed: format, the file's declared space, the coil axis
    convention applied, and one sentence a user can check."""

    path: Path
    format: str
    poses: tuple[CoilPose, ...]
    space: str
    convention: AxesConvention

    @property
    def assumption(self) -> str:
        return (f"{self.path.name}: {self.format}, space {self.space} (read as scanner RAS+ mm of the MRI), "
                f"coil axes {self.convention.description}")

    def targets(self) -> tuple[CoilPose, ...]:
        return tuple(p for p in self.poses if p.kind == "target")

    def samples(self) -> tuple[CoilPose, ...]:
        return tuple(p for p in self.poses if p.kind == "sample")


def checked_pose(path: Path, M: np.ndarray, what: str, tol: float = 1e-3) -> np.ndarray:
    """M as float64 4x4, refused (InputFileError) when not finite, not a 4x4 or not rigid:
    `tol` allows the 4-6 decimals tools print."""
    try:
        M = np.asarray(M, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(path, f"{what} is not a 4x4 matrix of numbers") from None
    if M.shape != (4, 4) or not np.all(np.isfinite(M)):
        raise InputFileError(path, f"{what} is not a finite 4x4 matrix")
    if not is_rigid(M, tol=tol):
        raise InputFileError(path, f"{what} is not a rigid transform (its axes are not orthonormal, or its last "
                                   "row is not 0 0 0 1)")
    return orthonormalise(M)


def orthonormalise(M: np.ndarray) -> np.ndarray:
    """The nearest rigid transform (SVD of the rotation part; Horn 1988), so rounded file values
    become an exact rotation."""
    U, _, Vt = np.linalg.svd(M[:3, :3])
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    out = np.eye(4)
    out[:3, :3] = R
    out[:3, 3] = M[:3, 3]
    return out


def check_pose_in_mri(name: str, T_mri_from_coil: np.ndarray, T_mri_from_voxel: np.ndarray, shape,
                      source: str = "", margin_mm: float = 30.0) -> None:
    """Refuse (PlanError) a coil centre outside the MRI's field of view grown by `margin_mm`: the
    file was made on another image or in another space. When its left-right/anterior-posterior
    mirror (LPS read as RAS) would fit, say so."""
    from navcore.errors import PlanError

    T_voxel_from_mri = np.linalg.inv(T_mri_from_voxel)
    vox = np.linalg.norm(np.asarray(T_mri_from_voxel)[:3, :3], axis=0)
    lo = -margin_mm / vox
    hi = np.asarray(shape[:3], dtype=float) - 1 + margin_mm / vox

    def inside(p):
        ijk = T_voxel_from_mri[:3, :3] @ p + T_voxel_from_mri[:3, 3]
        return bool(np.all(ijk >= lo) and np.all(ijk <= hi))

    c = np.asarray(T_mri_from_coil, dtype=np.float64)[:3, 3]
    if not inside(c):
        hint = (" (its LPS mirror would fit: the file may be in LPS while it says RAS)"
                if inside(T_RAS_FROM_LPS[:3, :3] @ c) else "")
        where = f" ({source})" if source else ""
        raise PlanError(f"the imported coil pose '{name}'{where} at {np.round(c, 1).tolist()} mm lies outside this "
                        f"MRI's field of view: the file was made on another image or in another space{hint}; "
                        "it is refused, not flipped")


def check_against_mri(imported: Imported, T_mri_from_voxel: np.ndarray, shape, margin_mm: float = 30.0) -> None:
    """check_pose_in_mri for every pose of an import."""
    for pose in imported.poses:
        check_pose_in_mri(pose.name, pose.T_mri_from_coil, T_mri_from_voxel, shape, imported.assumption, margin_mm)
