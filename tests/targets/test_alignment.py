"""Alignment errors: zero for identical poses, invariance, exact recovery of pure offset/tilt/twist."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from navcore.transforms import apply, make_transform, random_rigid
from targets.alignment import alignment, shortest_rotation, tilt_twist, within

seeds = st.integers(0, 2**32 - 1)


def _rot(axis, angle):
    return Rotation.from_rotvec(np.asarray(axis, float) / np.linalg.norm(axis) * angle).as_matrix()


@settings(max_examples=40)
@given(seeds)
def test_identical_poses_give_zero(seed):
    rng = np.random.default_rng(seed)
    T = random_rigid(rng)
    target = apply(T, [0.0, 0.0, 20.0])
    a = alignment(T, T, target)
    assert a.distance_mm < 1e-9 and a.tilt_rad < 1e-7 and abs(a.twist_rad) < 1e-7
    assert abs(a.depth_mm - 20.0) < 1e-9 and a.axis_miss_mm < 1e-9


@settings(max_examples=40)
@given(seeds)
def test_invariant_under_common_rigid_transform(seed):
    rng = np.random.default_rng(seed)
    T_plan, T_live, G = random_rigid(rng), random_rigid(rng), random_rigid(rng, 300.0)
    target = rng.uniform(-80, 80, 3)
    a = alignment(T_plan, T_live, target)
    b = alignment(G @ T_plan, G @ T_live, apply(G, target))
    np.testing.assert_allclose(b.offset_mm, a.offset_mm, atol=1e-8)
    for name in ("distance_mm", "tilt_rad", "twist_rad", "depth_mm", "axis_miss_mm"):
        if not (name == "twist_rad" and a.tilt_rad > math.pi - 1e-3):
            assert abs(getattr(a, name) - getattr(b, name)) < 1e-7, name


@settings(max_examples=40)
@given(seeds, st.floats(0.0, 2.5), st.floats(-3.0, 3.0), st.floats(-60.0, 60.0),
       st.floats(-60.0, 60.0), st.floats(-30.0, 30.0))
def test_pure_offset_tilt_twist_recovered(seed, tilt, twist, ox, oy, oz):
    rng = np.random.default_rng(seed)
    T_plan = random_rigid(rng)
    phi = rng.uniform(0, 2 * math.pi)   # tilt axis direction in the coil's x/y plane
    tilt_axis = [math.cos(phi), math.sin(phi), 0.0]
    # live in planned coords: twist about z first, then tilt about an in-plane axis, then offset
    R_rel = _rot(tilt_axis, tilt) @ _rot([0, 0, 1], twist)
    T_live = T_plan @ make_transform(R_rel, [ox, oy, oz])
    a = alignment(T_plan, T_live)
    np.testing.assert_allclose(a.offset_mm, [ox, oy, oz], atol=1e-8)
    assert abs(a.distance_mm - math.sqrt(ox * ox + oy * oy + oz * oz)) < 1e-8
    assert abs(a.tilt_rad - tilt) < 1e-8
    assert abs(a.twist_rad - twist) < 1e-7
    assert math.isnan(a.depth_mm) and math.isnan(a.axis_miss_mm)


def test_twist_sign_follows_right_hand_rule_and_degrees_at_edge():
    T = make_transform(_rot([0, 0, 1], math.radians(10)), [0, 0, 0])
    a = alignment(np.eye(4), T)
    assert abs(a.twist_deg - 10.0) < 1e-9 and a.tilt_deg < 1e-9
    assert abs(a.as_dict()["twist_deg"] - 10.0) < 1e-9


def test_depth_and_axis_miss_at_target():
    # live coil shifted 4 mm in x, target 25 mm below the planned centre on the planned axis
    T_live = make_transform(np.eye(3), [4.0, 0.0, 0.0])
    a = alignment(np.eye(4), T_live, np.array([0.0, 0.0, 25.0]))
    assert abs(a.depth_mm - 25.0) < 1e-12 and abs(a.axis_miss_mm - 4.0) < 1e-12
    # tilted 10 deg about y: the axis misses the target by 25*sin(10 deg) from the centre
    T_tilt = make_transform(_rot([0, 1, 0], math.radians(10)), [0, 0, 0])
    b = alignment(np.eye(4), T_tilt, np.array([0.0, 0.0, 25.0]))
    assert abs(b.axis_miss_mm - 25 * math.sin(math.radians(10))) < 1e-9
    assert abs(b.depth_mm - 25 * math.cos(math.radians(10))) < 1e-9


@settings(max_examples=30)
@given(seeds)
def test_shortest_rotation_maps_u_to_v(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=3), rng.normal(size=3)
    R = shortest_rotation(u, v)
    np.testing.assert_allclose(R @ (u / np.linalg.norm(u)), v / np.linalg.norm(v), atol=1e-9)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    # opposite vectors: still a proper rotation mapping u to -u
    R2 = shortest_rotation(u, -u)
    np.testing.assert_allclose(R2 @ u, -u, atol=1e-9)
    assert abs(np.linalg.det(R2) - 1) < 1e-9


def test_within_tolerance():
    a = alignment(np.eye(4), make_transform(_rot([1, 0, 0], math.radians(2)), [2.0, 0, 0]))
    assert within(a, 3.0, math.radians(3))
    assert not within(a, 1.0, math.radians(3))
    assert not within(a, 3.0, math.radians(1))
    tilt, twist = tilt_twist(_rot([0, 0, 1], 0.5))
    assert tilt < 1e-12 and abs(twist - 0.5) < 1e-12
