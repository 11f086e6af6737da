"""Property tests of the rigid-transform convention (navcore/transforms.py)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore import transforms as tf
from navcore.errors import GeometryError

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@given(seeds)
def test_invert_round_trip(seed):
    rng = np.random.default_rng(seed)
    T = tf.random_rigid(rng)
    assert np.allclose(T @ tf.invert(T), np.eye(4), atol=1e-12)
    assert np.allclose(tf.invert(tf.invert(T)), T, atol=1e-12)


@given(seeds)
def test_apply_matches_chain(seed):
    rng = np.random.default_rng(seed)
    T_a_from_b, T_b_from_c = tf.random_rigid(rng), tf.random_rigid(rng)
    p_c = rng.normal(size=(5, 3)) * 50
    direct = tf.apply(T_a_from_b @ T_b_from_c, p_c)
    chained = tf.apply(T_a_from_b, tf.apply(T_b_from_c, p_c))
    assert np.allclose(direct, chained, atol=1e-9)


@given(seeds)
def test_rigid_preserves_distances(seed):
    rng = np.random.default_rng(seed)
    T = tf.random_rigid(rng)
    p = rng.normal(size=(6, 3)) * 40
    q = tf.apply(T, p)
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    e = np.linalg.norm(q[:, None] - q[None], axis=-1)
    assert np.allclose(d, e, atol=1e-9)


@given(seeds)
def test_quaternion_round_trip_and_sign(seed):
    rng = np.random.default_rng(seed)
    T = tf.random_rigid(rng)
    t, q = tf.pose_from_transform(T)
    assert q[0] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
    assert np.allclose(tf.transform_from_pose(t, q), T, atol=1e-9)
    # -q is the same rotation
    assert np.allclose(tf.matrix_from_quat(-q), T[:3, :3], atol=1e-9)


@given(seeds, st.floats(0.0, 1.0))
@pytest.mark.slow
def test_interpolate_pose_endpoints_and_angle(seed, s):
    rng = np.random.default_rng(seed)
    A, B = tf.random_rigid(rng), tf.random_rigid(rng)
    assert np.allclose(tf.interpolate_pose(A, B, 0.0), A, atol=1e-9)
    assert np.allclose(tf.interpolate_pose(A, B, 1.0), B, atol=1e-9)
    M = tf.interpolate_pose(A, B, s)
    total = tf.rotation_between(A, B)
    assert tf.rotation_between(A, M) == pytest.approx(s * total, abs=1e-6)
    assert tf.is_rigid(M)


def test_is_rigid_rejects_reflection_and_scale():
    T = np.eye(4)
    T[0, 0] = -1
    assert not tf.is_rigid(T)
    S = np.eye(4) * 2
    S[3, 3] = 1
    assert not tf.is_rigid(S)
    with pytest.raises(GeometryError):
        tf.check_rigid(S, "T_mri_from_tracker")


def test_angle_between_zero_vector_raises():
    with pytest.raises(GeometryError):
        tf.angle_between([0, 0, 0], [1, 0, 0])
    assert tf.angle_between([1, 0, 0], [0, 1, 0]) == pytest.approx(np.pi / 2)


def test_matrix_from_zero_quaternion_raises():
    with pytest.raises(GeometryError):
        tf.matrix_from_quat([0, 0, 0, 0])
