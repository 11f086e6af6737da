"""registration.tre: Fitzpatrick TRE prediction agrees with Monte-Carlo simulation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import RegistrationError
from navcore.transforms import apply, random_rigid
from registration.paired_point import rigid_fit
from registration.tre import expected_fre, fle_from_fre, predicted_tre


def _simulate(fid, targets, fle_mm, trials, rng):
    """RMS TRE at targets and RMS FRE from `trials` noisy paired-point fits."""
    sigma = fle_mm / np.sqrt(3.0)
    err_sq = np.zeros(len(targets))
    fre_sq = 0.0
    T = random_rigid(rng)
    moved = apply(T, fid)
    for _ in range(trials):
        a = moved + rng.normal(0, sigma, fid.shape)
        Tf = rigid_fit(a, fid, check=False)
        err_sq += np.sum((apply(Tf, targets) - apply(T, targets)) ** 2, axis=1)
        fre_sq += np.mean(np.sum((apply(Tf, fid) - a) ** 2, axis=1))
    return np.sqrt(err_sq / trials), np.sqrt(fre_sq / trials)


@settings(max_examples=6)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 8))
@pytest.mark.slow
def test_prediction_agrees_with_monte_carlo_within_10_percent(seed, n):
    rng = np.random.default_rng(seed)
    # a well-spread head-sized configuration (avoid nearly collinear draws)
    fid = rng.uniform(-80, 80, (n, 3))
    s = np.linalg.svd(fid - fid.mean(0), compute_uv=False)
    if s[-2] < 0.2 * s[0]:
        fid[:, 1] += np.linspace(-60, 60, n)[::-1] * (np.arange(n) % 2 * 2 - 1)
    targets = rng.uniform(-100, 100, (4, 3))
    fle = 2.0
    pred = predicted_tre(fid, targets, fle)
    sim, fre = _simulate(fid, targets, fle, 3000, rng)
    np.testing.assert_allclose(sim, pred, rtol=0.10)
    assert fre == pytest.approx(expected_fre(n, fle), rel=0.10)


def test_head_fiducials_example():
    # nasion, LPA, RPA; target in the left frontal cortex
    fid = np.array([[0.0, 85, -30], [-75, 0, -45], [75, 0, -45]])
    pred = predicted_tre(fid, np.array([[-38.0, 44, 26]]), 2.0)[0]
    rng = np.random.default_rng(0)
    sim, _ = _simulate(fid, np.array([[-38.0, 44, 26]]), 2.0, 4000, rng)
    assert pred == pytest.approx(sim[0], rel=0.1)
    # with 3 fiducials the TRE at the centroid is FLE/sqrt(3)
    assert predicted_tre(fid, fid.mean(0), 2.0)[0] == pytest.approx(2.0 / np.sqrt(3))


@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1))
def test_prediction_is_invariant_to_rigid_motion_and_grows_away(seed):
    rng = np.random.default_rng(seed)
    fid = rng.uniform(-80, 80, (5, 3))
    t = rng.uniform(-100, 100, (3, 3))
    T = random_rigid(rng)
    np.testing.assert_allclose(predicted_tre(apply(T, fid), apply(T, t), 1.5), predicted_tre(fid, t, 1.5), rtol=1e-9)
    c = fid.mean(0)
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    near, far = predicted_tre(fid, np.array([c + 10 * d, c + 300 * d]), 1.5)
    assert far > near


def test_fre_relations_and_refusals():
    assert expected_fre(3, 2.0) == pytest.approx(2.0 / np.sqrt(3))
    assert fle_from_fre(4, expected_fre(4, 1.7)) == pytest.approx(1.7)
    with pytest.raises(RegistrationError):
        expected_fre(2, 1.0)
    with pytest.raises(RegistrationError, match="collinear"):
        predicted_tre(np.outer([0, 1, 2], [10, 0, 0]), np.zeros(3), 1.0)
    with pytest.raises(RegistrationError, match="NaN"):
        predicted_tre(np.array([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]]), np.zeros(3), 1.0)
