"""navtms.app.views.slice_geometry (no Qt, no VTK): the plane axes, the field a volume fills in a
plane (checked against nibabel's own affine application), the slice frame through the cursor,
the markers near a slice, the first window/level."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nibabel.affines import apply_affine

from navcore.transforms import random_rigid
from navtms.app.views.slice_geometry import (T_mri_from_slice, in_plane, initial_window_level, near_slice,
                                             plane_axes, slice_field)
from viewer.plan_scene import Marker

ORIENTATIONS = ("axial", "coronal", "sagittal")


def test_plane_axes_are_orthonormal_mri_axes_and_names_are_checked():
    normals = []
    for name in ORIENTATIONS:
        u, v, letters = plane_axes(name)
        assert np.isclose(u @ v, 0) and np.isclose(np.linalg.norm(u), 1) and np.isclose(np.linalg.norm(v), 1)
        assert len(letters) == 4
        normals.append(np.abs(np.cross(u, v)))
    assert np.allclose(sorted(map(tuple, normals)), sorted(map(tuple, np.eye(3))))   # one normal per mri axis
    with pytest.raises(ValueError, match="orientation"):
        plane_axes("oblique")


@settings(max_examples=40)
@given(st.integers(0, 2**31), st.sampled_from(ORIENTATIONS),
       st.tuples(st.integers(2, 40), st.integers(2, 40), st.integers(2, 40)),
       st.tuples(st.floats(0.5, 3.0), st.floats(0.5, 3.0), st.floats(0.5, 3.0)))
def test_the_field_holds_every_voxel_of_an_oblique_volume(seed, name, shape, vox):
    A = random_rigid(np.random.default_rng(seed), 80.0) @ np.diag([*vox, 1.0])
    u, v, _ = plane_axes(name)
    f = slice_field(shape, A, u, v)
    corners = apply_affine(A, [[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                               for k in (0, shape[2] - 1)])
    assert np.allclose(f.center, corners.mean(axis=0))
    reach = max(np.abs((corners - f.center) @ u).max(), np.abs((corners - f.center) @ v).max())
    assert f.half == pytest.approx(reach + 2.0)                    # holds every corner, 2 mm to spare
    assert f.step == pytest.approx(min(vox))
    assert f.spacing <= max(0.5 * min(vox), 2 * f.half / 768) + 1e-12
    assert (f.n - 1) * f.spacing >= 2 * f.half - 1e-9 and f.n <= 770


@settings(max_examples=40)
@given(st.integers(0, 2**31), st.sampled_from(ORIENTATIONS))
def test_the_slice_frame_passes_through_the_cursor(seed, name):
    rng = np.random.default_rng(seed)
    u, v, _ = plane_axes(name)
    w = np.cross(u, v)
    center, cursor = rng.uniform(-50, 50, 3), rng.uniform(-100, 100, 3)
    T = T_mri_from_slice(u, v, w, center, cursor)
    assert np.allclose(T[:3, :3].T @ T[:3, :3], np.eye(3)) and np.isclose(np.linalg.det(T[:3, :3]), 1)
    a, b = in_plane(cursor, T)
    assert np.allclose(T[:3, 3] + a * u + b * v, cursor)           # the cursor lies on the slice
    assert np.isclose((T[:3, 3] - center) @ u, 0) and np.isclose((T[:3, 3] - center) @ v, 0)


def test_markers_within_one_and_a_half_steps_are_near_the_slice():
    u, v, _ = plane_axes("axial")
    T = T_mri_from_slice(u, v, np.cross(u, v), np.zeros(3), np.array([0.0, 0.0, 10.0]))
    ms = [Marker(str(z), np.array([5.0, -3.0, z])) for z in (10.0, 11.4, 8.6, 11.6, 7.0)]
    assert [m.key for m in near_slice(ms, T, step=1.0)] == ["10.0", "11.4", "8.6"]
    assert [m.key for m in near_slice(ms, T, step=2.0)] == ["10.0", "11.4", "8.6", "11.6", "7.0"]
    assert [m.key for m in near_slice(ms, T, step=0.2)] == ["10.0"]   # at least 1 mm


def test_initial_window_level_spans_the_non_zero_voxels():
    data = np.zeros((10, 10, 10), np.float32)
    data[:5] = np.arange(1, 501, dtype=np.float32).reshape(5, 10, 10)
    lo, hi = np.percentile(np.arange(1, 501), [1.0, 99.5])
    assert initial_window_level(data) == pytest.approx((hi - lo, 0.5 * (hi + lo)))
    assert initial_window_level(np.zeros((3, 3, 3))) == (1.0, 0.5)
    assert initial_window_level(np.full((3, 3, 3), 7.0)) == (1.0, 7.5)
