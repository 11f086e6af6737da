"""registration.paired_point: weighted Kabsch fit of named points."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import RegistrationError
from navcore.points import NamedPoints
from navcore.transforms import apply, invert, random_rigid, rotation_between
from registration.paired_point import register_paired_points, rigid_fit

seeds = st.integers(0, 2**32 - 1)


def _cloud(rng, n):
    return rng.uniform(-80, 80, (n, 3))


@settings(max_examples=40)
@given(seed=seeds, n=st.integers(3, 30))
def test_exact_data_recovers_transform_and_fre_is_zero(seed, n):
    rng = np.random.default_rng(seed)
    T = random_rigid(rng, 200)
    b = _cloud(rng, n)
    a = apply(T, b)
    Tf = rigid_fit(a, b)
    np.testing.assert_allclose(Tf, T, atol=1e-8)
    assert np.linalg.det(Tf[:3, :3]) == pytest.approx(1.0)
    names = tuple(f"p{i}" for i in range(n))
    res = register_paired_points(NamedPoints(names, a, "mri"), NamedPoints(names, b, "tracker"))
    assert res.fre_mm < 1e-8 and res.errors_mm.shape == (n,)


@settings(max_examples=25)
@given(seed=seeds)
def test_noisy_data_recovers_transform_close(seed):
    rng = np.random.default_rng(seed)
    T = random_rigid(rng, 200)
    b = _cloud(rng, 40)
    a = apply(T, b) + rng.normal(0, 0.5, b.shape)
    Tf = rigid_fit(a, b)
    assert np.degrees(rotation_between(T, Tf)) < 1.0
    # error at a point inside the cloud
    assert np.linalg.norm(apply(Tf, np.zeros(3)) - apply(T, np.zeros(3))) < 0.6


@settings(max_examples=20)
@given(seed=seeds)
def test_match_by_name_ignores_order(seed):
    rng = np.random.default_rng(seed)
    T = random_rigid(rng)
    b = _cloud(rng, 6)
    names = tuple("abcdef")
    perm = rng.permutation(6)
    A = NamedPoints(tuple(names[i] for i in perm), apply(T, b)[perm], "mri")
    B = NamedPoints(names, b, "tracker")
    res = register_paired_points(A, B)
    np.testing.assert_allclose(res.T_a_from_b, T, atol=1e-8)
    assert set(res.per_point()) == set(names)


def test_weights_matter():
    rng = np.random.default_rng(3)
    T = random_rigid(rng)
    b = _cloud(rng, 6)
    a = apply(T, b)
    a[0] += [5.0, 0, 0]  # one corrupted point
    e_equal = np.linalg.norm(apply(rigid_fit(a, b), b[1:]) - a[1:], axis=1).max()
    w = np.ones(6)
    w[0] = 1e-6
    e_down = np.linalg.norm(apply(rigid_fit(a, b, w), b[1:]) - a[1:], axis=1).max()
    assert e_down < 1e-4 < e_equal
    # weights by name through the named API give the same
    names = tuple("abcdef")
    res = register_paired_points(NamedPoints(names, a), NamedPoints(names, b), weights={"a": 1e-6})
    assert res.errors_mm[1:].max() < 1e-4


def test_reflection_is_never_returned():
    # b is a mirrored copy of a: the best proper rotation must still be a rotation
    rng = np.random.default_rng(0)
    a = _cloud(rng, 10)
    b = a * np.array([-1, 1, 1])
    T = rigid_fit(a, b)
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
    np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-10)


def test_degenerate_inputs_are_refused():
    rng = np.random.default_rng(1)
    with pytest.raises(RegistrationError, match="at least 3"):
        rigid_fit(_cloud(rng, 2), _cloud(rng, 2))
    line = np.outer(np.linspace(0, 100, 5), [1, 2, 3]) + rng.normal(0, 1e-3, (5, 3))
    with pytest.raises(RegistrationError, match="collinear"):
        rigid_fit(line, line)
    same = np.ones((4, 3)) + rng.normal(0, 1e-3, (4, 3))
    with pytest.raises(RegistrationError, match="coincident"):
        rigid_fit(same, same)
    bad = _cloud(rng, 4)
    bad[2, 1] = np.nan
    with pytest.raises(RegistrationError, match="NaN"):
        rigid_fit(bad, _cloud(rng, 4))


def test_name_problems_are_named():
    p = np.array([[0, 0, 0], [50, 0, 0], [0, 50, 0], [0, 0, 50.0]])
    A = NamedPoints(("nasion", "lpa", "rpa", "inion"), p, "mri")
    B = NamedPoints(("nasion", "lpa", "rpa", "vertex"), p, "tracker")
    with pytest.raises(RegistrationError, match="inion.*vertex"):
        register_paired_points(A, B)
    res = register_paired_points(A, B, strict=False)
    assert res.names == ("nasion", "lpa", "rpa")
    C = NamedPoints(("nasion", "lpa", "x"), p[:3], "tracker")
    with pytest.raises(RegistrationError, match="only 2 point name"):
        register_paired_points(A, C, strict=False)
    with pytest.raises(RegistrationError, match="unknown point.*zz"):
        register_paired_points(A, A, weights={"zz": 2.0})


@settings(max_examples=20)
@given(seed=seeds)
def test_inverse_fit_is_inverse(seed):
    rng = np.random.default_rng(seed)
    b = _cloud(rng, 8)
    a = apply(random_rigid(rng), b) + rng.normal(0, 1, b.shape)
    np.testing.assert_allclose(rigid_fit(b, a), invert(rigid_fit(a, b)), atol=1e-8)
