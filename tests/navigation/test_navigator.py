"""Navigator: chain through the moving head, visibility, hysteresis, staleness."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore.errors import GeometryError, PlanError
from navcore.transforms import make_transform, random_rigid
from navigation.navigator import Navigator, Tolerances
from navloop_helpers import Scene, approach, head_pose, rot


def _nav(scene, **kw):
    return Navigator([scene.target], scene.T_mri_from_head, scene.T_coilbody_from_coil, 1.2, **kw)


@settings(max_examples=25)
@given(st.integers(0, 2**32 - 1))
def test_chain_recovers_coil_pose_whatever_the_head_does(seed):
    rng = np.random.default_rng(seed)
    scene = Scene.make(seed % 7)
    T_live, T_head = random_rigid(rng), random_rigid(rng, 500.0)
    nav = _nav(scene)
    out = nav.update(scene.poses(T_live, T_head, 3, 10**9), 3, 10**9)
    np.testing.assert_allclose(out.T_mri_from_coil, T_live, atol=1e-8)
    assert out.coil_visible and out.head_visible and out.predicted_tre_mm == 1.2


def test_not_visible_same_frame_and_no_errors():
    scene = Scene.make()
    frames, _ = approach(scene, 10, hidden={5}, head_hidden={7})
    nav = _nav(scene)
    outs = [nav.update(f.poses, f.frame_number, f.capture_ns) for f in frames]
    assert outs[5].T_mri_from_coil is None and outs[5].errors is None and not outs[5].coil_visible
    assert outs[7].T_mri_from_coil is None and not outs[7].head_visible and outs[7].coil_visible
    assert not outs[5].on_target and not outs[7].on_target
    assert outs[4].T_mri_from_coil is not None and outs[6].T_mri_from_coil is not None


def test_errors_match_truth_at_the_end_of_the_approach():
    scene = Scene.make(2)
    frames, truth = approach(scene, 30)
    nav = _nav(scene)
    outs = [nav.update(f.poses, f.frame_number, f.capture_ns) for f in frames]
    first, last = outs[0].errors, outs[-1].errors
    assert abs(first.distance_mm - math.sqrt(30**2 + 12**2 + 8**2)) < 1e-6
    assert last.distance_mm < 1e-6 and last.tilt_rad < 1e-6
    assert abs(last.depth_mm - 25.0) < 1e-6 and last.axis_miss_mm < 1e-6
    assert outs[-1].on_target and not outs[0].on_target


def test_hysteresis_enter_and_leave():
    scene = Scene.make(1)
    T_plan = scene.target.T_mri_from_coil
    nav = _nav(scene, tolerances=Tolerances(3.0, 3.0, leave_margin_mm=1.0, leave_margin_deg=1.0))
    states = []
    for i, dx in enumerate([5.0, 3.5, 2.9, 3.5, 3.9, 4.1, 3.5, 2.0]):
        T_live = T_plan @ make_transform(np.eye(3), [dx, 0, 0])
        states.append(nav.update(scene.poses(T_live, head_pose(i), i, 10**9 + i), i, 10**9 + i).on_target)
    assert states == [False, False, True, True, True, False, False, True]
    # tilt: enter at <= 3 deg, stay until > 4 deg
    nav2 = _nav(scene)
    seq = []
    for i, deg in enumerate([2.5, 3.8, 4.2, 3.5]):
        T_live = T_plan @ make_transform(rot([1, 0, 0], math.radians(deg)), [0, 0, 0])
        seq.append(nav2.update(scene.poses(T_live, head_pose(0), i, i), i, i).on_target)
    assert seq == [True, True, False, False]


def test_twist_tolerance_is_optional():
    scene = Scene.make(1)
    T_live = scene.target.T_mri_from_coil @ make_transform(rot([0, 0, 1], math.radians(30)), [0, 0, 0])
    p = scene.poses(T_live, head_pose(0), 0, 0)
    assert _nav(scene).update(p, 0, 0).on_target
    assert not _nav(scene, tolerances=Tolerances(twist_deg=10.0)).update(p, 0, 0).on_target


def test_stale_flag_and_pose_age_on_given_clock():
    scene = Scene.make()
    now = [10**9]
    nav = _nav(scene, clock=lambda: now[0])
    frames, _ = approach(scene, 2)
    f = frames[0]
    now[0] = f.capture_ns + 50_000_000
    out = nav.update(f.poses, f.frame_number, f.capture_ns)
    assert out.pose_age_ns == 50_000_000 and not out.stale and out.latency_ns >= 0
    now[0] = f.capture_ns + 150_000_000
    assert nav.is_stale()
    out2 = nav.update(f.poses, f.frame_number, f.capture_ns)
    assert out2.stale


def test_target_switching_and_bad_inputs():
    scene = Scene.make()
    t2 = type(scene.target)("F3", scene.target.target_mri_mm + 30, make_transform(np.eye(3), [0, 0, 0]))
    nav = Navigator([scene.target, t2], scene.T_mri_from_head, scene.T_coilbody_from_coil, {"M1": 1.5, "F3": 2.5})
    assert nav.target.name == "M1" and nav.predicted_tre_mm == 1.5
    assert nav.next_target().name == "F3" and nav.predicted_tre_mm == 2.5 and nav.next_target().name == "M1"
    with pytest.raises(PlanError):
        Navigator([], np.eye(4))
    with pytest.raises(GeometryError):
        Navigator([scene.target], np.ones((4, 4)))
