"""tracking.filters: One-Euro pose filter (constant in/out, rigidity, reset on loss, lag, jitter)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from navcore.errors import GeometryError
from navcore.transforms import is_rigid, make_transform, random_rigid, rotation_between
from tracking.filters import (DEFAULT_ROTATION, DEFAULT_TRANSLATION, OneEuroParams, OneEuroVector, PoseFilter,
                              smoothing_factor)
from tracking.types import BodyPose

FPS = 30.0
DT_NS = int(round(1e9 / FPS))


def seen(T, i, name="coil", t0_ns=1_000_000_000, dt_ns=DT_NS):
    return BodyPose(name, i, t0_ns + i * dt_ns, True, np.asarray(T, dtype=np.float64), 4, 4, 0.2)


def unseen(i, name="coil", t0_ns=1_000_000_000, dt_ns=DT_NS):
    return BodyPose.not_visible(name, i, t0_ns + i * dt_ns, 4)


def noisy(T, rng, sigma_mm, sigma_rad):
    dR = Rotation.from_rotvec(rng.normal(0, sigma_rad, 3)).as_matrix()
    return make_transform(T[:3, :3] @ dR, T[:3, 3] + rng.normal(0, sigma_mm, 3))


seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=25)
@given(seed=seeds, n=st.integers(2, 40), dt_ms=st.floats(1.0, 200.0))
def test_constant_pose_in_gives_same_pose_out(seed, n, dt_ms):
    T = random_rigid(np.random.default_rng(seed), 500.0)
    f = PoseFilter()
    for i in range(n):
        out = f({"coil": seen(T, i, dt_ns=int(dt_ms * 1e6))})["coil"]
        assert out.visible
        np.testing.assert_allclose(out.T_camera_from_body, T, atol=1e-9)


@settings(max_examples=25)
@given(seed=seeds, n=st.integers(2, 30))
def test_output_is_always_rigid_and_keeps_metadata(seed, n):
    rng = np.random.default_rng(seed)
    f = PoseFilter()
    t_ns = 0
    for i in range(n):
        t_ns += int(rng.integers(1, 100)) * 1_000_000
        p = BodyPose("head", i, t_ns, True, random_rigid(rng, 800.0), 3, 5, 0.4)
        out = f({"head": p})["head"]
        assert is_rigid(out.T_camera_from_body, 1e-9)
        assert (out.frame_number, out.capture_ns, out.tags_seen, out.tags_total, out.rms_px) == (i, t_ns, 3, 5, 0.4)


@settings(max_examples=20)
@given(seed=seeds, before=st.integers(1, 20), gap=st.integers(1, 5))
def test_reset_on_loss_and_not_visible_passes_through(seed, before, gap):
    rng = np.random.default_rng(seed)
    A, B = random_rigid(rng, 300.0), random_rigid(rng, 300.0)
    f = PoseFilter()
    i = 0
    for _ in range(before):
        f({"coil": seen(noisy(A, rng, 1.0, 0.01), i)})
        i += 1
    for _ in range(gap):
        out = f({"coil": unseen(i)})["coil"]
        assert not out.visible and out.T_camera_from_body is None  # never invents a pose
        i += 1
    first = f({"coil": seen(B, i)})["coil"]
    np.testing.assert_allclose(first.T_camera_from_body, B, atol=1e-9)  # passed through unfiltered


def test_missing_body_and_time_going_back_reset_the_filter():
    rng = np.random.default_rng(1)
    A, B = random_rigid(rng, 300.0), random_rigid(rng, 300.0)
    f = PoseFilter()
    for i in range(5):
        f({"coil": seen(A, i), "head": seen(A, i, "head")})
    # coil absent from one frame: its history is dropped
    f({"head": seen(A, 5, "head")})
    out = f({"coil": seen(B, 6), "head": seen(A, 6, "head")})
    np.testing.assert_allclose(out["coil"].T_camera_from_body, B, atol=1e-9)
    # capture time going backwards (replay restarted): pass through, no negative dt
    out = f({"head": seen(B, 0, "head")})["head"]
    np.testing.assert_allclose(out.T_camera_from_body, B, atol=1e-9)
    # a gap longer than max_gap_s: pass through
    out = f({"head": seen(A, 100, "head")})["head"]
    np.testing.assert_allclose(out.T_camera_from_body, A, atol=1e-9)


def _step_response(n_frames, params_t=DEFAULT_TRANSLATION, params_r=DEFAULT_ROTATION):
    A = make_transform(np.eye(3), [0.0, 0.0, 500.0])
    B = make_transform(Rotation.from_rotvec([0, 0, math.radians(10)]).as_matrix(), [10.0, 0.0, 500.0])
    f = PoseFilter(params_t, params_r)
    for i in range(30):
        f({"coil": seen(A, i)})
    outs = [f({"coil": seen(B, 30 + k)})["coil"].T_camera_from_body for k in range(n_frames)]
    return B, outs


def test_step_lag_is_bounded():
    # A 10 mm / 10 deg step at 30 Hz with the default parameters: within 0.5 mm and 0.5 deg
    # after 3 frames (0.1 s), within 0.05 mm and 0.05 deg after 6 frames (0.2 s); monotone approach.
    B, outs = _step_response(30)
    err_t = [np.linalg.norm(T[:3, 3] - B[:3, 3]) for T in outs]
    err_r = [math.degrees(rotation_between(T, B)) for T in outs]
    assert err_t[2] < 0.5 and err_r[2] < 0.5
    assert err_t[5] < 0.05 and err_r[5] < 0.05
    assert all(a >= b - 1e-12 for a, b in zip(err_t, err_t[1:]))
    # speed adaptation: faster than a plain low-pass at the resting cut-off (beta = 0)
    _, slow = _step_response(10, OneEuroParams(1.0, 0.0), OneEuroParams(1.0, 0.0))
    assert err_t[9] < 0.5 * np.linalg.norm(slow[9][:3, 3] - B[:3, 3])
    assert err_r[9] < 0.5 * math.degrees(rotation_between(slow[9], B))


@settings(max_examples=5)
@given(seed=seeds)
def test_jitter_reduction_on_noisy_static_input(seed):
    rng = np.random.default_rng(seed)
    T = random_rigid(rng, 400.0)
    f = PoseFilter()
    t_in, t_out, r_in, r_out = [], [], [], []
    for i in range(240):
        m = noisy(T, rng, 0.3, math.radians(0.3))
        o = f({"coil": seen(m, i)})["coil"].T_camera_from_body
        if i >= 30:  # after the filter settled
            t_in.append(m[:3, 3])
            t_out.append(o[:3, 3])
            r_in.append(Rotation.from_matrix(T[:3, :3].T @ m[:3, :3]).as_rotvec())
            r_out.append(Rotation.from_matrix(T[:3, :3].T @ o[:3, :3]).as_rotvec())
    std = lambda a: float(np.linalg.norm(np.std(np.asarray(a), axis=0)))  # noqa: E731
    assert std(t_out) < 0.6 * std(t_in)
    assert std(r_out) < 0.5 * std(r_in)
    # and no bias: the mean output stays at the true pose
    assert np.linalg.norm(np.mean(t_out, axis=0) - T[:3, 3]) < 0.1


def test_rotation_through_180_degrees_has_no_sign_flip():
    # Slow rotation about z through and beyond 180 deg: the output follows the input closely,
    # it never jumps the long way round (quaternion sign).
    f = PoseFilter()
    for i in range(200):
        ang = math.radians(120 + i * 0.6)
        T = make_transform(Rotation.from_rotvec([0, 0, ang]).as_matrix(), [0, 0, 500.0])
        out = f({"coil": seen(T, i)})["coil"].T_camera_from_body
        assert math.degrees(rotation_between(out, T)) < 2.0


def test_time_comes_from_capture_ns():
    # The same samples at a higher frame rate (smaller dt) are smoothed more per sample.
    A = make_transform(np.eye(3), [0, 0, 500.0])
    B = make_transform(np.eye(3), [5.0, 0, 500.0])
    res = {}
    for fps in (30.0, 120.0):
        f = PoseFilter()
        dt_ns = int(1e9 / fps)
        f({"coil": seen(A, 0, dt_ns=dt_ns)})
        res[fps] = f({"coil": seen(B, 1, dt_ns=dt_ns)})["coil"].T_camera_from_body[0, 3]
    assert 0 < res[120.0] < res[30.0] < 5.0


def test_one_euro_vector_matches_the_paper_recurrence():
    p = OneEuroParams(min_cutoff_hz=1.5, beta=0.2, d_cutoff_hz=2.0)
    f = OneEuroVector(p)
    xs = [0.0, 1.0, 1.5, 1.2]
    dt = 0.02
    out = [float(f(np.array([x]), None if k == 0 else dt)[0]) for k, x in enumerate(xs)]
    x_hat, dx_hat = xs[0], 0.0
    exp = [x_hat]
    for x in xs[1:]:
        dx = (x - x_hat) / dt
        dx_hat += smoothing_factor(2.0, dt) * (dx - dx_hat)
        x_hat += smoothing_factor(1.5 + 0.2 * abs(dx_hat), dt) * (x - x_hat)
        exp.append(x_hat)
    np.testing.assert_allclose(out, exp, rtol=1e-12)
    assert smoothing_factor(1.0, 1e6) == pytest.approx(1.0, abs=1e-6)


def test_bad_parameters_and_bad_pose_are_refused():
    with pytest.raises(GeometryError):
        OneEuroParams(min_cutoff_hz=0.0, beta=0.1)
    with pytest.raises(GeometryError):
        OneEuroParams(min_cutoff_hz=1.0, beta=-1.0)
    T = np.eye(4)
    T[0, 3] = np.nan
    with pytest.raises(GeometryError):
        PoseFilter()({"coil": seen(T, 0)})


@settings(max_examples=30)
@given(min_cutoff=st.floats(0.1, 10.0), beta=st.floats(0.0, 5.0), d_cutoff=st.floats(0.1, 10.0),
       fps=st.floats(5.0, 240.0), seed=seeds, n=st.integers(1, 60))
def test_step_lag_never_exceeds_the_resting_low_pass_bound(min_cutoff, beta, d_cutoff, fps, seed, n):
    # The cut-off never drops below min_cutoff, so every step shrinks the error at least by
    # (1 - alpha(min_cutoff, dt)): after n frames the error is at most step * (1 - alpha)^n,
    # for translation (per axis) and rotation (angle) alike.
    rng = np.random.default_rng(seed)
    A, B = random_rigid(rng, 300.0), random_rigid(rng, 300.0)
    p = OneEuroParams(min_cutoff, beta, d_cutoff)
    f = PoseFilter(p, p, max_gap_s=1.0)
    dt_ns = int(1e9 / fps)
    f({"coil": seen(A, 0, dt_ns=dt_ns)})
    for k in range(1, n + 1):
        out = f({"coil": seen(B, k, dt_ns=dt_ns)})["coil"].T_camera_from_body
    shrink = (1.0 - smoothing_factor(min_cutoff, dt_ns * 1e-9)) ** n
    assert np.all(np.abs(out[:3, 3] - B[:3, 3]) <= np.abs(A[:3, 3] - B[:3, 3]) * shrink + 1e-6)
    assert rotation_between(out, B) <= rotation_between(A, B) * shrink + 1e-6
