"""The few pure functions of the workbench views: anatomical directions on the bullseye, height
above the scalp, scalp coverage of the head points, residual colours, body lights. Checked
against independent models (a sphere, hand-made frames) and with hypothesis properties."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from navcore.transforms import apply, make_transform
from tracking.types import BodyPose

pytest.importorskip("PySide6")

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=40)
@given(seed=seeds)
def test_anatomical_directions_are_rigid_invariant_unit_and_point_the_right_way(seed):
    from navtms.app.views.bullseye_view import anatomical_directions

    rng = np.random.default_rng(seed)
    P = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-80, 80, 3))
    # points written in the planned coil frame, then mapped to mri: their in-plane direction is known
    local = {"nasion": np.r_[rng.uniform(-50, 50, 2), rng.uniform(-30, 30)], "left ear": np.r_[30.0, 0.0, 5.0]}
    pts = {k: apply(P, v) for k, v in local.items()}
    up = P[:3, :3] @ np.array([0.0, 1.0, 0.3])
    d = anatomical_directions(P, pts, up)
    for k, v in local.items():
        np.testing.assert_allclose(d[k], v[:2] / np.linalg.norm(v[:2]), atol=1e-9)
    np.testing.assert_allclose(d["vertex"], [0.0, 1.0], atol=1e-9)
    G = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-100, 100, 3))
    d2 = anatomical_directions(G @ P, {k: apply(G, v) for k, v in pts.items()}, G[:3, :3] @ up)
    for k in d:
        np.testing.assert_allclose(d2[k], d[k], atol=1e-9)
    # a point straight along the coil normal has no in-plane direction: left out
    assert "below" not in anatomical_directions(P, {"below": apply(P, np.array([0.0, 0.0, 40.0]))})


def test_height_above_a_sphere_scalp_matches_the_radius():
    from scipy.spatial import cKDTree

    from navtms.app.views.navigation_view import _vertex_normals, scalp_height_mm
    from navloop_helpers import sphere_surface

    s = sphere_surface(90.0)
    v, f = s.vertices, s.faces
    n = _vertex_normals(v, f)
    assert np.all(np.sum(n * v, axis=1) > 0)                       # outward
    tree = cKDTree(v)
    rng = np.random.default_rng(3)
    for _ in range(50):
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        h = rng.uniform(-5, 40)
        got = scalp_height_mm((90.0 + h) * u, tree, v, n)
        # the faceted sphere is within ~1 mm of the true one; away from it the nearest vertex
        # normal tilts by up to half a facet, so allow a little more than the facet sag
        assert abs(got - h) < 1.2 + 0.03 * abs(h)


@settings(max_examples=30)
@given(seed=seeds, r1=st.floats(2.0, 20.0), r2=st.floats(2.0, 20.0))
def test_coverage_fraction_is_monotone_bounded_and_full_on_the_vertices(seed, r1, r2):
    from navtms.app.workspaces.register_model import coverage_fraction

    rng = np.random.default_rng(seed)
    verts = rng.uniform(-90, 90, (400, 3))
    pts = verts[rng.choice(400, 30, replace=False)] + rng.normal(0, 1, (30, 3))
    lo, hi = sorted((r1, r2))
    a, b = coverage_fraction(pts, verts, -1e9, lo), coverage_fraction(pts, verts, -1e9, hi)
    assert 0.0 <= a <= b <= 1.0
    assert coverage_fraction(verts, verts, -1e9, 0.5) == 1.0
    assert coverage_fraction(np.zeros((0, 3)), verts, -1e9) == 0.0
    # only the vertices above the cut count
    above = verts[:, 2] >= 0
    expect = np.mean([np.min(np.linalg.norm(pts - v, axis=1)) < hi for v in verts[above]])
    assert coverage_fraction(pts, verts, 0.0, hi) == pytest.approx(expect)


def test_residual_colours_sign_scale_and_outliers():
    from navtms.app.views.point_cloud import residual_colours

    c = residual_colours(np.array([-6.0, -1.5, 0.0, 1.5, 6.0, 0.2]), np.array([0, 0, 0, 0, 0, 1], bool))
    np.testing.assert_allclose(c[0], [0, 0, 1])          # well inside: blue
    np.testing.assert_allclose(c[2], [1, 1, 1])          # on the scalp: white
    np.testing.assert_allclose(c[4], [1, 0, 0])          # well outside: red
    np.testing.assert_allclose(c[1], [0.5, 0.5, 1])
    np.testing.assert_allclose(c[5], [1, 0, 1])          # outlier: magenta whatever its residual


def test_body_lights_seen_not_seen_and_stale():
    from navtms.app.live_feed import FeedState, body_light

    T = np.eye(4)
    st_ = FeedState(5, 0, 1_000_000_000, {"pointer": BodyPose("pointer", 5, 0, True, T),
                                           "head": BodyPose.not_visible("head", 5, 0)})
    assert body_light(st_, "pointer", 1_050_000_000) == "seen"
    assert body_light(st_, "head", 1_050_000_000) == "not seen"
    assert body_light(st_, "coil", 1_050_000_000) == "not seen"       # not configured / not in the frame
    assert body_light(st_, "pointer", 1_200_000_000) == "stale"       # no fresh frame for > 100 ms
    assert body_light(None, "pointer", 0) == "not seen"
    assert math.isfinite(st_.received_ns)


def test_verdict_words_follow_the_loop_never_their_own():
    from navtms.app.views.navigation_view import verdict
    from viewer.state import ScreenLimits, ViewState

    T = np.eye(4)
    base = ViewState(T_mri_from_coil=T, coil_visible=True, head_visible=True, distance_mm=1.0, tilt_deg=4.2,
                     twist_deg=0.0, limits=ScreenLimits(3.0, 3.0))
    words, grade = verdict(base.with_(on_target=False, off_target_reasons=("TILT 4.2 deg > 3.0 deg",)))
    assert words == "NOT ON TARGET: TILT 4.2 deg > 3.0 deg" and grade == "near"     # within 2x: amber
    assert verdict(base.with_(tilt_deg=7.0, on_target=False))[1] == "off"
    assert verdict(base.with_(on_target=True)) == ("ON TARGET", "on")               # the loop says so
    assert verdict(base.with_(coil_visible=False, T_mri_from_coil=None)) == ("COIL NOT VISIBLE", "none")
    assert verdict(base.with_(head_visible=False))[0] == "HEAD NOT VISIBLE"
    assert verdict(base.with_(coil_visible=False, head_visible=False, T_mri_from_coil=None))[0] == \
        "COIL AND HEAD NOT VISIBLE"
    words, grade = verdict(base.with_(on_target=True, stale=True, status="source lost: unplugged"))
    assert words == "STALE: source lost: unplugged" and grade == "none"            # never green when stale


def test_direction_points_find_the_nasion_and_left_ear_whatever_their_names():
    from navtms.app.views.navigation_view import direction_points

    got = direction_points({"NAS": [0, 90, 0], "LPA": [-70, 0, 0], "RPA": [70, 0, 0], "Cz": [0, 0, 90]})
    assert set(got) == {"nasion", "left ear"}
    np.testing.assert_allclose(got["left ear"], [-70, 0, 0])
    assert set(direction_points({"nasion": [0, 1, 0], "left_ear": [1, 0, 0]})) == {"nasion", "left ear"}
    assert direction_points({"vertex": [0, 0, 1]}) == {}
