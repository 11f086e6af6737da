"""registration.pivot: algebraic and RANSAC pivot calibration."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from navcore.errors import RegistrationError
from navcore.transforms import make_transform
from registration.pivot import pivot_calibration, pivot_calibration_ransac, rotation_spread

seeds = st.integers(0, 2**32 - 1)


def _poses(rng, n=60, swing_deg=25.0, noise_mm=0.0):
    """Poses T_tracker_from_tool of a tool swung about its tip resting on a pivot."""
    tip = rng.uniform(-150, 150, 3)
    pivot = rng.uniform(-300, 300, 3)
    base = Rotation.random(random_state=rng)
    P = []
    for _ in range(n):
        swing = Rotation.from_rotvec(np.radians(swing_deg) * rng.uniform(-1, 1, 3))
        R = (swing * base).as_matrix()
        t = pivot - R @ tip + rng.normal(0, noise_mm, 3)
        P.append(make_transform(R, t))
    return np.array(P), tip, pivot


@settings(max_examples=30)
@given(seed=seeds)
def test_exact_poses_give_the_tip_and_pivot(seed):
    rng = np.random.default_rng(seed)
    P, tip, pivot = _poses(rng)
    res = pivot_calibration(P)
    np.testing.assert_allclose(res.tip_tool, tip, atol=1e-6)
    np.testing.assert_allclose(res.pivot_tracker, pivot, atol=1e-6)
    assert res.rms_mm < 1e-6 and res.inliers.all()


@settings(max_examples=20)
@given(seed=seeds)
def test_noisy_poses_and_residual(seed):
    rng = np.random.default_rng(seed)
    P, tip, pivot = _poses(rng, n=150, noise_mm=0.3)
    res = pivot_calibration(P)
    assert np.linalg.norm(res.tip_tool - tip) < 1.0
    assert np.linalg.norm(res.pivot_tracker - pivot) < 1.0
    # the residual reflects the noise: 3D RMS of 0.3 mm per axis is ~0.52 mm
    assert 0.3 < res.rms_mm < 0.7


@settings(max_examples=15)
@given(seed=seeds)
def test_ransac_ignores_slipped_poses_that_spoil_the_plain_fit(seed):
    rng = np.random.default_rng(seed)
    P, tip, pivot = _poses(rng, n=80, noise_mm=0.1)
    bad = rng.choice(80, 16, replace=False)
    P[bad, :3, 3] += rng.normal(0, 20, (16, 3))  # tip slipped out of the divot
    plain = pivot_calibration(P)
    robust = pivot_calibration_ransac(P, threshold_mm=1.0)
    assert np.linalg.norm(robust.tip_tool - tip) < 0.3
    assert not robust.inliers[bad].any()
    assert robust.inliers.sum() >= 80 - 16 - 2
    assert np.linalg.norm(plain.tip_tool - tip) > np.linalg.norm(robust.tip_tool - tip)


def test_refusals():
    rng = np.random.default_rng(0)
    P, _, _ = _poses(rng, n=10)
    with pytest.raises(RegistrationError, match="at least 3"):
        pivot_calibration(P[:2])
    Q = P.copy()
    Q[4, 0, 3] = np.nan
    with pytest.raises(RegistrationError, match=r"\[4\].*NaN"):
        pivot_calibration(Q)
    # all rotations about one axis: the tip is undetermined
    axis_only = np.array([make_transform(Rotation.from_rotvec([0, 0, a]).as_matrix(), [1, 2, 3])
                          for a in np.linspace(-0.5, 0.5, 20)])
    assert rotation_spread(axis_only) < 1e-6
    with pytest.raises(RegistrationError, match="not rotated enough"):
        pivot_calibration(axis_only)
    with pytest.raises(RegistrationError):
        pivot_calibration(np.eye(4))
    # random poses that share no pivot: RANSAC finds no consensus
    junk = np.array([make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-500, 500, 3))
                     for _ in range(20)])
    with pytest.raises(RegistrationError, match="no consistent pivot"):
        pivot_calibration_ransac(junk, threshold_mm=0.5)


def test_tip_uncertainty_matches_the_spread_of_repeated_calibrations():
    """Independent model of the truth: calibrate the same swing 300 times with fresh tracker noise
    (0.3 mm on the translations); the predicted covariance must match the observed scatter."""
    from registration.pivot import tip_covariance, tip_uncertainty_mm

    rng = np.random.default_rng(7)
    P0, tip, pivot = _poses(rng, n=80, swing_deg=20.0)
    tips, covs = [], []
    for _ in range(300):
        P = P0.copy()
        P[:, :3, 3] += rng.normal(0, 0.3, (len(P), 3))
        res = pivot_calibration(P)
        tips.append(res.tip_tool)
        covs.append(tip_covariance(P, res))
    observed = np.cov(np.array(tips).T)
    predicted = np.mean(covs, axis=0)
    w_obs, w_pred = np.linalg.eigvalsh(observed)[-1], np.linalg.eigvalsh(predicted)[-1]
    assert 0.75 < w_pred / w_obs < 1.33
    np.testing.assert_allclose(np.trace(predicted), np.trace(observed), rtol=0.25)
    # more noise -> proportionally more uncertainty; exact poses -> none
    P = P0.copy()
    P[:, :3, 3] += rng.normal(0, 1.2, (len(P), 3))
    big = tip_uncertainty_mm(P, pivot_calibration(P))
    assert 3.0 < big / np.sqrt(w_obs) < 5.5
    assert tip_uncertainty_mm(P0, pivot_calibration(P0)) < 1e-6
