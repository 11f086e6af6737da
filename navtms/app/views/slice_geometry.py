"""The geometry of one MRI slice view (navtms.app.views.slice_view), without Qt or VTK: pure
functions of the plane, the volume and the cursor.

Slice frame (mm): in-plane axes u (right on screen) and v (up), normal w = u x v
(viewer.slices.PLANES: axial u=+x v=+y, coronal u=+x v=+z, sagittal u=+y v=+z in the `mri`
frame, neurological: the subject's right on the right); origin = the volume centre moved along w
to the cursor. A point (a, b) of the slice is the mri point origin + a u + b v.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from viewer.slices import PLANES

MAX_SLICE_PIXELS = 768


def plane_axes(orientation: str) -> tuple[np.ndarray, np.ndarray, tuple[str, str, str, str]]:
    """(u, v, letters) of 'axial', 'coronal' or 'sagittal': unit axes (3,) in the mri frame and the
    side letters (left, right, bottom, top); ValueError for another name."""
    for name, u, v, letters in PLANES:
        if name == orientation:
            return np.array(u, float), np.array(v, float), letters
    raise ValueError(f"orientation must be one of {[p[0] for p in PLANES]}, not {orientation!r}")


@dataclass(frozen=True)
class SliceField:
    """Where a volume lies in a view's plane. center: (3,) mri mm, the centre of the volume's
    corners; half: half the side (mm) of the square field (u, v) that holds every corner, plus
    2 mm; step: the smallest voxel size (mm), one slice step; spacing: the sample spacing (mm) of
    the cut image; n: samples per side."""

    center: np.ndarray
    half: float
    step: float
    spacing: float
    n: int


def slice_field(shape, T_mri_from_voxel, u, v, max_pixels: int = MAX_SLICE_PIXELS) -> SliceField:
    """The field of a volume of `shape` (I, J, K) with voxel -> mri affine T_mri_from_voxel (4x4 mm)
    in the plane (u, v): half a voxel per sample (a feature is drawn at most a quarter voxel off),
    at most `max_pixels` samples per side."""
    A = np.asarray(T_mri_from_voxel, dtype=np.float64)
    shape = np.asarray(shape, float)
    corners = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])
    cm = corners @ A[:3, :3].T + A[:3, 3]
    center = cm.mean(axis=0)
    rel = cm - center
    half = float(max(np.abs(rel @ np.asarray(u, float)).max(), np.abs(rel @ np.asarray(v, float)).max())) + 2.0
    vox = np.linalg.norm(A[:3, :3], axis=0)
    spacing = max(0.5 * float(vox.min()), 2 * half / max_pixels)
    return SliceField(center, half, float(vox.min()), spacing, int(math.ceil(2 * half / spacing)) + 1)


def initial_window_level(data) -> tuple[float, float]:
    """(window, level) spanning the 1st to 99.5th percentile of the non-zero voxels (0..1 when
    there are none; a window of at least 1)."""
    a = np.asarray(data, dtype=np.float32)
    nz = a[a > 0]
    lo, hi = (np.percentile(nz, [1.0, 99.5]) if nz.size else (0.0, 1.0))
    hi = hi if hi > lo else lo + 1.0
    return float(hi - lo), float(0.5 * (hi + lo))


def T_mri_from_slice(u, v, w, center, cursor) -> np.ndarray:
    """Slice frame -> mri (4x4): columns u, v, w and the origin, the volume centre moved along w
    to the cursor (all mm)."""
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2] = u, v, w
    T[:3, 3] = np.asarray(center, float) + np.asarray(w, float) * float((np.asarray(cursor, float) - center) @ w)
    return T


def in_plane(p_mri, T_slice) -> tuple[float, float]:
    """(a, b) mm: the point p (3,) mri mm projected on the slice T_slice (T_mri_from_slice)."""
    d = np.asarray(p_mri, float) - T_slice[:3, 3]
    return float(d @ T_slice[:3, 0]), float(d @ T_slice[:3, 1])


def near_slice(markers: Sequence, T_slice, step: float) -> list:
    """The markers (anything with position_mri_mm) within 1.5 slice steps (at least 1 mm) of the slice."""
    tol = max(1.5 * step, 1.0)
    return [m for m in markers
            if abs(float((np.asarray(m.position_mri_mm, float) - T_slice[:3, 3]) @ T_slice[:3, 2])) <= tol]
