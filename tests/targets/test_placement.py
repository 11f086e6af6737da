"""Coil placement on a real triangulated ellipsoid head (and on the sample head in test_plan)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore.errors import GeometryError
from navcore.transforms import angle_between, is_rigid
from targets.placement import (HeadAxes, _closest_on_triangles, closest_point_on_mesh, handle_angle_of,
                               place_coil)
from planning_helpers import ellipsoid_mesh

ABC = np.array([75.0, 95.0, 85.0])  # ellipsoid semi-axes, mm (x right, y anterior, z superior)


def ellipsoid(abc=ABC, res=120):
    return ellipsoid_mesh(abc, res)


@pytest.fixture(scope="module")
def head():
    return ellipsoid()


AXES = HeadAxes.from_fiducials(nasion=[0, 95, 0], lpa=[-75, 0, 0], rpa=[75, 0, 0])


def _target(direction, depth):
    d = np.asarray(direction, dtype=np.float64)
    d /= np.linalg.norm(d)
    surf = d / np.sqrt(np.sum((d / ABC) ** 2))  # ray from the centre hits the ellipsoid here
    return surf - d * depth


def _on_ellipsoid(p):
    return abs(np.sqrt(np.sum((p / ABC) ** 2)) - 1.0) * ABC.min()


upper_dirs = st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(0.2, 1)).filter(
    lambda d: np.linalg.norm(d) > 0.3)


@settings(max_examples=30)
@given(upper_dirs, st.floats(10, 25), st.floats(0, 12))
def test_entry_on_scalp_coil_points_at_target(head, d, depth, offset):
    t = _target(d, depth)
    pl = place_coil(t, head, AXES, offset_mm=offset)
    T = pl.T_mri_from_coil
    assert is_rigid(T)
    assert _on_ellipsoid(pl.entry_mri_mm) < 0.5
    assert np.allclose(T[:3, 3], pl.entry_mri_mm - offset * T[:3, 2])
    assert np.rad2deg(angle_between(T[:3, 2], t - pl.entry_mri_mm)) < 10.0
    assert pl.axis_target_angle_deg < 10.0
    assert np.linalg.norm(t - pl.entry_mri_mm) <= depth + 0.5  # closest point is no farther than the ray hit


@settings(max_examples=40)
@given(upper_dirs, st.floats(-179, 179))
def test_handle_at_asked_angle(head, d, angle):
    t = _target(d, 15)
    pl = place_coil(t, head, AXES, handle_angle_deg=angle)
    assert abs(handle_angle_of(pl.T_mri_from_coil, AXES) - angle) < 1e-6
    y, z = pl.T_mri_from_coil[:3, 1], pl.T_mri_from_coil[:3, 2]
    assert abs(y @ z) < 1e-9


def test_default_dlpfc_handle_points_back_and_out(head):
    left = place_coil(_target([-0.5, 0.6, 0.6], 15), head, AXES)
    y = left.T_mri_from_coil[:3, 1]
    assert left.handle_angle_deg == 45.0
    assert y @ AXES.anterior < -0.3 and y @ AXES.right < -0.3  # backwards and to the left (outwards)
    right = place_coil(_target([0.5, 0.6, 0.6], 15), head, AXES)
    y = right.T_mri_from_coil[:3, 1]
    assert y @ AXES.anterior < -0.3 and y @ AXES.right > 0.3


def test_normal_entry_puts_target_on_axis(head):
    t = _target([-0.6, 0.5, 0.5], 20)
    a = place_coil(t, head, AXES, entry_method="closest")
    b = place_coil(t, head, AXES, entry_method="normal")
    assert b.axis_miss_mm <= a.axis_miss_mm + 1e-9
    assert b.axis_miss_mm < 2.0


def test_brain_distance(head):
    brain = ellipsoid(ABC - 12.0, res=80)
    pl = place_coil(_target([0.1, 0.2, 1.0], 20), head, AXES, brain=brain)
    assert 10.5 < pl.scalp_cortex_distance_mm < 13.5


def test_closest_on_triangles_matches_dense_sampling():
    rng = np.random.default_rng(3)
    for _ in range(50):
        a, b, c, p = rng.normal(size=(4, 3)) * 10
        q = _closest_on_triangles(p, a[None], b[None], c[None])[0]
        u, v = np.meshgrid(np.linspace(0, 1, 201), np.linspace(0, 1, 201))
        m = (u + v) <= 1
        pts = a + np.outer(u[m], b - a) + np.outer(v[m], c - a)
        assert np.linalg.norm(q - p) <= np.linalg.norm(pts - p, axis=1).min() + 1e-9
        assert np.linalg.norm(q - p) >= np.linalg.norm(pts - p, axis=1).min() - 0.2


def test_closest_point_on_mesh_is_on_surface(head):
    p, _ = closest_point_on_mesh(head, [10.0, 20.0, 200.0])
    assert _on_ellipsoid(p) < 0.3 and p[2] > 80


def test_bad_inputs(head):
    with pytest.raises(GeometryError, match="offset"):
        place_coil([0, 0, 50], head, AXES, offset_mm=-1)
    with pytest.raises(GeometryError, match="entry method"):
        place_coil([0, 0, 50], head, AXES, entry_method="sideways")
    with pytest.raises(GeometryError, match="20 mm"):
        HeadAxes.from_fiducials([0, 90, 0], [0, 0, 0], [1, 0, 0])
    with pytest.raises(GeometryError, match="empty or malformed"):
        place_coil([0, 0, 0], SimpleNamespace(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), int), normals=np.zeros((0, 3))), AXES)


def test_default_axes_are_mri_axes(head):
    pl = place_coil(_target([-0.5, 0.6, 0.6], 15), head)
    y = pl.T_mri_from_coil[:3, 1]
    assert y[1] < -0.3 and y[0] < -0.3
