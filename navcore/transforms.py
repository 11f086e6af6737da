"""Rigid transforms, the one convention used everywhere.

A pose is a 4x4 float64 array named `T_a_from_b`: it maps a point written in frame `b` into
frame `a` (homogeneous, millimetres). Chains read right to left:
`T_mri_from_coil = T_mri_from_head @ inv(T_camera_from_head) @ T_camera_from_coil`.
Points are (N, 3) float64 arrays in mm. Quaternions are (w, x, y, z), unit, w >= 0.
Angles are radians here; degrees only at the edges (files, screen), named `*_deg`.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.errors import GeometryError


def make_transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 from a 3x3 rotation `R` and a translation `t` (3,) in mm."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(R, dtype=np.float64)
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 (uses R^T, exact for rigid transforms): T_b_from_a from T_a_from_b."""
    T = np.asarray(T, dtype=np.float64)
    R = T[:3, :3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ T[:3, 3]
    return out


def apply(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (N, 3) or (3,) in frame b into frame a with `T_a_from_b`."""
    T = np.asarray(T, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    return p @ T[:3, :3].T + T[:3, 3]


def rotate(T: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Rotate direction vectors (N, 3) or (3,) from frame b into frame a (no translation)."""
    return np.asarray(vectors, dtype=np.float64) @ np.asarray(T, dtype=np.float64)[:3, :3].T


def is_rigid(T: np.ndarray, tol: float = 1e-6) -> bool:
    """True when T is a finite 4x4 with an orthonormal, right-handed rotation and last row 0 0 0 1."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        return False
    R = T[:3, :3]
    return (np.allclose(R.T @ R, np.eye(3), atol=tol) and abs(np.linalg.det(R) - 1.0) < tol
            and np.allclose(T[3], [0, 0, 0, 1], atol=tol))


def check_rigid(T: np.ndarray, name: str = "transform", tol: float = 1e-6) -> np.ndarray:
    """Return T as float64 4x4, or raise GeometryError naming it when it is not rigid."""
    if not is_rigid(T, tol):
        raise GeometryError(f"{name} is not a rigid 4x4 transform (finite, orthonormal rotation, det +1)")
    return np.asarray(T, dtype=np.float64)


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, from a 3x3 rotation."""
    x, y, z, w = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()
    q = np.array([w, x, y, z])
    return -q if q[0] < 0 else q


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """3x3 rotation from a quaternion (w, x, y, z); normalised first. Raises on a zero quaternion."""
    q = np.asarray(q, dtype=np.float64).reshape(4)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-12:
        raise GeometryError("quaternion is zero or not finite")
    w, x, y, z = q / n
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def transform_from_pose(t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """4x4 from translation (3,) mm and quaternion (w, x, y, z)."""
    return make_transform(matrix_from_quat(q), t)


def pose_from_transform(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(translation (3,) mm, quaternion (w, x, y, z)) from a rigid 4x4."""
    T = np.asarray(T, dtype=np.float64)
    return T[:3, 3].copy(), quat_from_matrix(T[:3, :3])


def rotation_angle(R: np.ndarray) -> float:
    """Angle (rad, in [0, pi]) of a 3x3 rotation."""
    c = (np.trace(np.asarray(R, dtype=np.float64)) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def rotation_between(T_a: np.ndarray, T_b: np.ndarray) -> float:
    """Angle (rad) of the relative rotation between two poses expressed in the same frame."""
    return rotation_angle(np.asarray(T_a)[:3, :3].T @ np.asarray(T_b)[:3, :3])


def angle_between(u: np.ndarray, v: np.ndarray) -> float:
    """Angle (rad, [0, pi]) between two 3-vectors; raises GeometryError on a zero vector."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu < 1e-12 or nv < 1e-12:
        raise GeometryError("angle between a zero-length vector and another is undefined")
    return float(np.arctan2(np.linalg.norm(np.cross(u, v)), np.dot(u, v)))


def interpolate_pose(T_0: np.ndarray, T_1: np.ndarray, s: float) -> np.ndarray:
    """Pose at fraction s (0 -> T_0, 1 -> T_1): linear translation, slerp rotation."""
    from scipy.spatial.transform import Slerp

    rots = Rotation.from_matrix(np.stack([np.asarray(T_0)[:3, :3], np.asarray(T_1)[:3, :3]]))
    R = Slerp([0.0, 1.0], rots)([float(s)]).as_matrix()[0]
    t = (1.0 - s) * np.asarray(T_0)[:3, 3] + s * np.asarray(T_1)[:3, 3]
    return make_transform(R, t)


def random_rigid(rng: np.random.Generator, max_translation_mm: float = 100.0) -> np.ndarray:
    """A uniformly random rotation with a translation uniform in a cube (for tests and simulation)."""
    R = Rotation.random(random_state=rng).as_matrix()
    t = rng.uniform(-max_translation_mm, max_translation_mm, 3)
    return make_transform(R, t)
