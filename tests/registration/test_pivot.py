"""registration.pivot: algebraic and robust (deterministic, trimmed) pivot calibration."""
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


# ----------------------------------------------------------------------------- realistic pointer data
def test_realistic_pointer_is_found_deterministically_with_honest_figures():
    """1151 poses of a 400 mm pointer, ~2 mm residuals, 25 wild poses (tip slipped 8-40 mm): the
    robust fit uses every pose, leaves the wild ones out, keeps nearly all good ones, finds the
    tip to a fraction of a millimetre, reports RMS over all and over inliers, a covariance whose
    largest axis lies along the shaft, and does not depend on the order of the poses."""
    from pointer_helpers import pointer_poses
    from registration.pivot import pivot_calibration_robust

    rng = np.random.default_rng(42)
    P, wild, tip, pivot = pointer_poses(rng)
    res = pivot_calibration_robust(P)
    assert res.n_poses == len(P) == 1151
    assert not res.inliers[wild].any()
    good = np.setdiff1d(np.arange(len(P)), wild)
    assert res.inliers[good].mean() > 0.97
    assert 1.5 < float(np.median(res.residuals_mm[res.inliers])) < 3.0  # the ~2 mm of the data
    assert res.rms_all_mm > 2 * res.rms_mm  # the wild poses show in the RMS over all poses
    assert np.linalg.norm(res.tip_tool - tip) < 0.5
    assert np.linalg.norm(res.pivot_tracker - pivot) < 0.5
    sd, axes = res.tip_sd_mm()
    assert 0.02 < sd[2] <= sd[1] <= sd[0] < 0.5
    # with a narrower swing the tip is worst determined along the shaft
    Pn, _, _, _ = pointer_poses(np.random.default_rng(42), tilt_deg=15.0)
    sdn, axn = pivot_calibration_robust(Pn).tip_sd_mm()
    assert abs(axn[0] @ (tip / np.linalg.norm(tip))) > 0.9 and sdn[0] > 1.5 * sdn[1]
    # the same poses in another order give the same tip (no seed, no sampling)
    perm = np.random.default_rng(1).permutation(len(P))
    again = pivot_calibration_robust(P[perm])
    np.testing.assert_allclose(again.tip_tool, res.tip_tool, atol=1e-9)
    np.testing.assert_array_equal(again.inliers, res.inliers[perm])
    # the earlier name now gives the same answer
    np.testing.assert_allclose(pivot_calibration_ransac(P).tip_tool, res.tip_tool, atol=1e-12)


def test_tip_covariance_is_calibrated():
    """Over 12 simulated calibrations the tip errors, normalised by the reported covariance,
    behave like a 3-dof chi-square (mean ~3): the uncertainty is neither hidden nor inflated."""
    from pointer_helpers import pointer_poses
    from registration.pivot import pivot_calibration_robust

    rng = np.random.default_rng(7)
    z = []
    for _ in range(12):
        P, _, tip, _ = pointer_poses(rng, n=400, n_wild=8)
        res = pivot_calibration_robust(P)
        e = res.tip_tool - tip
        z.append(float(e @ np.linalg.solve(res.tip_covariance, e)))
    assert 1.0 < np.mean(z) < 7.0, z


def test_robust_refusals_name_the_problem():
    from pointer_helpers import pointer_poses
    from registration.pivot import pivot_calibration_robust

    rng = np.random.default_rng(3)
    P, _, _, _ = pointer_poses(rng, n=200, n_wild=0, tilt_deg=2.0)
    with pytest.raises(RegistrationError, match="not rotated enough"):
        pivot_calibration_robust(P)
    P, _, _ = _poses(rng, n=8, swing_deg=25.0, noise_mm=6.0)  # few poses, much noise
    with pytest.raises(RegistrationError, match="poorly determined"):
        pivot_calibration_robust(P)
    # half the poses from another divot: no pivot holds most of them
    A, _, _, _ = pointer_poses(rng, n=100, n_wild=0)
    B, _, _, _ = pointer_poses(rng, n=100, n_wild=0, pivot=np.array([200.0, 0.0, 1100.0]))
    with pytest.raises(RegistrationError, match="no consistent pivot|poorly determined"):
        pivot_calibration_robust(np.concatenate([A, B]), threshold_mm=3.0)
