"""registration.coil_calibration: coil frame from three touched points."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import RegistrationError
from navcore.transforms import apply, is_rigid, random_rigid
from registration.coil_calibration import coil_frame_from_points

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=50)
@given(seed=seeds, d_handle=st.floats(20, 120), d_side=st.floats(20, 60), along=st.floats(-20, 20))
def test_recovers_a_random_coil_frame(seed, d_handle, d_side, along):
    rng = np.random.default_rng(seed)
    T = random_rigid(rng, 200)  # the truth: T_coilbody_from_coil
    # points written in the coil frame: centre, along +y (handle), on the +x side (not square to y)
    pts_coil = np.array([[0, 0, 0], [0, d_handle, 0], [d_side, along, 0.0]])
    c, h, s = apply(T, pts_coil)
    Tf = coil_frame_from_points(c, h, s)
    assert is_rigid(Tf)
    np.testing.assert_allclose(Tf, T, atol=1e-9)


@settings(max_examples=30)
@given(seed=seeds)
def test_side_on_the_other_side_and_handle_point_off_the_face(seed):
    rng = np.random.default_rng(seed)
    T = random_rigid(rng)
    # side point touched on the -x side; the handle point is raised 8 mm off the face along -z:
    # +y then tilts towards it (the docstring: +y is exactly along handle - centre)
    c, h, s = apply(T, np.array([[0, 0, 0], [0, 80, 0], [-30, 5, 0.0]]))
    np.testing.assert_allclose(coil_frame_from_points(c, h, s, side_is_plus_x=False), T, atol=1e-9)
    c2, h2, s2 = apply(T, np.array([[0, 0, 0], [0, 80, -8], [30, 0, 0.0]]))
    T2 = coil_frame_from_points(c2, h2, s2)
    y = apply(T, np.array([0, 80, -8.0])) - apply(T, np.zeros(3))
    np.testing.assert_allclose(T2[:3, 1], y / np.linalg.norm(y), atol=1e-9)
    assert np.dot(T2[:3, 2], T[:3, 2]) > np.cos(np.radians(6.0))  # +z stays (almost) into the head


def test_axes_follow_the_picture_in_the_docstring():
    # coil face down (z into the floor = -Z up), handle away from you (+Y): +x must be your left (-X)
    centre = np.array([0.0, 0, 0])
    handle = np.array([0.0, 100, 0])
    left = np.array([-40.0, 0, 0])
    T = coil_frame_from_points(centre, handle, left)
    np.testing.assert_allclose(T[:3, 2], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(T[:3, 0], [-1, 0, 0], atol=1e-12)


def test_bad_points_are_refused():
    c = np.zeros(3)
    with pytest.raises(RegistrationError, match="handle point is within"):
        coil_frame_from_points(c, [0, 5, 0], [30, 0, 0])
    with pytest.raises(RegistrationError, match="one line"):
        coil_frame_from_points(c, [0, 80, 0], [0, -40, 1])
    with pytest.raises(RegistrationError, match="NaN"):
        coil_frame_from_points(c, [0, 80, np.nan], [30, 0, 0])
    with pytest.raises(RegistrationError, match="too close"):
        coil_frame_from_points(c, [0, 30, 0], [5, 28, 0])
