"""Scalp rules: 10-20 on a sphere (exact answers) and on the sample head, Beam F3, 5 cm rule."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore.errors import GeometryError
from navcore.points import read_points
from targets.placement import HeadAxes, closest_point_on_mesh
from targets.planner import fiducial_lookup
from targets.scalp_rules import (arc_between, arc_length, beam_f3_distances, beam_f3_on_scalp, estimate_inion,
                                 five_cm_rule, point_along, section_through, ten_twenty)

from planning_helpers import (ellipsoid_mesh, planning_dir, sample_fiducials, sample_surfaces,  # noqa: F401
                              surface_cache_dir)

R = 90.0


@pytest.fixture(scope="module")
def sphere():
    return ellipsoid_mesh((R, R, R), res=200)


@pytest.fixture(scope="module")
def sphere_1020(sphere):
    return ten_twenty(sphere, [0, R, 0], [-R, 0, 0], [R, 0, 0], inion=[0, -R, 0])


def _unit(az_deg, el_deg):
    a, e = np.deg2rad(az_deg), np.deg2rad(el_deg)
    return R * np.array([np.cos(e) * np.sin(a), np.cos(e) * np.cos(a), np.sin(e)])


def test_ten_twenty_on_a_sphere_is_exact(sphere_1020):
    p, tol = sphere_1020.positions, 1.0  # mm (mesh facets are ~1.4 mm)
    expect = {"Cz": [0, 0, R], "Fpz": _unit(0, 18), "Fz": _unit(0, 54), "Pz": _unit(180, 54), "Oz": _unit(180, 18),
              "T7": _unit(-90, 18), "C3": _unit(-90, 54), "C4": _unit(90, 54), "T8": _unit(90, 18),
              "F7": _unit(-54, 18), "F8": _unit(54, 18), "O1": _unit(-162, 18), "Fp1": _unit(-18, 18)}
    for k, v in expect.items():
        assert np.linalg.norm(p[k] - v) < tol, (k, p[k], v)
    assert abs(sphere_1020.nasion_inion_mm - np.pi * R) < 1.0
    assert abs(sphere_1020.tragus_tragus_mm - np.pi * R) < 1.0
    assert abs(sphere_1020.circumference_mm - 2 * np.pi * R * np.cos(np.deg2rad(18))) < 2.0
    # F3 lies on the F7-Fz-F8 circle a quarter of the way: left, frontal, between F7 and Fz
    assert p["F3"][0] < -20 and p["F3"][1] > 40 and p["F7"][2] < p["F3"][2] < p["Fz"][2]
    assert np.allclose(p["F3"] * [-1, 1, 1], p["F4"], atol=1.0)


@settings(max_examples=15)
@given(st.floats(10, 170), st.floats(5, 85))
def test_arc_lengths_on_sphere_are_great_circle(sphere, az, el):
    a, b = _unit(-az / 2, el), _unit(az / 2, el)
    n = np.cross(a, b)
    path = arc_between(section_through(sphere, a, n, a), a, b, None)
    ang = np.arccos(np.clip(a @ b / R ** 2, -1, 1))
    assert abs(arc_length(path) - R * ang) < 0.01 * R * ang + 0.5
    mid = point_along(path, arc_length(path) / 2)
    assert np.linalg.norm(mid - R * (a + b) / np.linalg.norm(a + b)) < 1.0


@pytest.fixture(scope="module")
def head(sample_surfaces, sample_fiducials):
    f = fiducial_lookup(read_points(sample_fiducials, "mri"))
    return sample_surfaces[0], f, sample_surfaces[1]


def test_sample_head_ten_twenty(head):
    scalp, f, _ = head
    tt = ten_twenty(scalp, f["nasion"], f["lpa"], f["rpa"])
    ax = HeadAxes.from_fiducials(f["nasion"], f["lpa"], f["rpa"])
    p = tt.positions
    for k in ("Fpz", "Fz", "Cz", "Pz"):
        assert abs((p[k] - ax.midline_point) @ ax.right) < 10.0, k  # near the midline
    for k, v in p.items():
        assert np.linalg.norm(closest_point_on_mesh(scalp, v)[0] - v) < 0.5, k  # on the scalp
    ant = [(p[k] - ax.midline_point) @ ax.anterior for k in ("Fpz", "Fz", "Cz", "Pz", "Oz")]
    assert all(a > b for a, b in zip(ant, ant[1:]))
    side = lambda k: (p[k] - ax.midline_point) @ ax.right  # noqa: E731
    assert side("C3") < -30 and side("C4") > 30 and side("F3") < -20 and side("F4") > 20
    assert (p["Cz"] - ax.midline_point) @ ax.superior > (p["Fz"] - ax.midline_point) @ ax.superior
    # adult head sizes (cm)
    assert 30 < tt.nasion_inion_mm / 10 < 42 and 28 < tt.tragus_tragus_mm / 10 < 42 and 50 < tt.circumference_mm / 10 < 64
    assert tt.inion_estimated and (tt.inion - ax.midline_point) @ ax.anterior < -60


def test_beam_worked_example():
    X, Y = beam_f3_distances(36, 38, 60)  # published example: X = 6.95 cm
    assert round(X, 2) == 6.95
    assert 8.0 < Y < 11.0
    with pytest.raises(GeometryError, match="adult head"):
        beam_f3_distances(36, 38, 600)
    with pytest.raises(GeometryError, match="positive"):
        beam_f3_distances(-1, 38, 60)


@settings(max_examples=30)
@given(st.floats(30, 40), st.floats(32, 42), st.floats(52, 62))
def test_beam_distances_grow_with_head(tt, ni, cf):
    X, Y = beam_f3_distances(tt, ni, cf)
    X2, Y2 = beam_f3_distances(tt * 1.05, ni * 1.05, cf * 1.05)
    assert 0 < X < cf / 4 and 0 < Y < ni / 2
    assert X2 > X and Y2 > Y
    assert np.isclose(X2, X * 1.05, rtol=1e-9) and np.isclose(Y2, Y * 1.05, rtol=1e-9)  # scale invariant shape


def test_beam_on_sample_scalp_is_near_ten_twenty_f3(head):
    scalp, f, brain = head
    tt = ten_twenty(scalp, f["nasion"], f["lpa"], f["rpa"])
    b = beam_f3_on_scalp(scalp, f["nasion"], f["lpa"], f["rpa"], brain=brain)
    assert np.linalg.norm(b.scalp_mri_mm - tt.positions["F3"]) < 15.0
    assert np.linalg.norm(closest_point_on_mesh(scalp, b.scalp_mri_mm)[0] - b.scalp_mri_mm) < 0.5
    assert 5 < np.linalg.norm(b.cortex_mri_mm - b.scalp_mri_mm) < 30
    r = beam_f3_on_scalp(scalp, f["nasion"], f["lpa"], f["rpa"], 36, 38, 60, side="right")
    ax = HeadAxes.from_fiducials(f["nasion"], f["lpa"], f["rpa"])
    assert (r.scalp_mri_mm - ax.midline_point) @ ax.right > 20 and r.measurements["X_cm"] == pytest.approx(6.95, abs=0.005)


def test_five_cm_rule(head):
    scalp, f, _ = head
    ax = HeadAxes.from_fiducials(f["nasion"], f["lpa"], f["rpa"])
    c3 = ten_twenty(scalp, f["nasion"], f["lpa"], f["rpa"]).positions["C3"]
    r = five_cm_rule(scalp, c3, ax)
    d = r.scalp_mri_mm - c3
    assert 40 < np.linalg.norm(d) <= 50.0 + 1e-6
    assert d @ ax.anterior > 35 and abs(d @ ax.right) < 3.0


def test_inion_needs_a_back_of_head(head):
    scalp, f, _ = head
    inion = estimate_inion(scalp, f["nasion"], f["lpa"], f["rpa"])
    ax = HeadAxes.from_fiducials(f["nasion"], f["lpa"], f["rpa"])
    assert abs((inion - ax.midline_point) @ ax.right) < 10
    with pytest.raises(GeometryError):
        section_through(scalp, [0, 0, 500], [0, 0, 1], [0, 0, 500])
