"""Pivot calibration of a tracked pointer (or any tool with a tip).

The tool's tip rests in a divot while the tool is rotated about it. Each tracked pose
`T_tracker_from_tool_i` (4x4, mm) then satisfies

    R_i @ tip_tool + t_i = pivot_tracker

with two unknowns: `tip_tool` (3,) mm, the tip in the tool's frame, and `pivot_tracker`
(3,) mm, the divot in the tracker (or camera, or head) frame. Stacking all poses gives the
linear least-squares system [R_i  -I] [tip; pivot] = -t_i, solved in one step (algebraic
method). `pivot_calibration_ransac` adds robustness to poses spoiled by a slipped tip or a
bad marker detection.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from navcore.errors import RegistrationError

#: Poses whose rotations differ by less than this (rad, about the best axis) cannot locate the tip.
MIN_ROTATION_SPREAD_RAD = np.radians(5.0)


@dataclass(frozen=True)
class PivotResult:
    """Outcome of a pivot calibration.

    tip_tool: (3,) mm, the tip in the tool frame (e.g. pointer).
    pivot_tracker: (3,) mm, the pivot point in the tracker frame of the poses.
    residuals_mm: (N,) distance of each pose's predicted tip from the pivot (mm).
    rms_mm: RMS of the residuals over the inliers (mm).
    inliers: (N,) bool, poses used in the final fit (all True for the plain method).
    """

    tip_tool: np.ndarray
    pivot_tracker: np.ndarray
    residuals_mm: np.ndarray
    rms_mm: float
    inliers: np.ndarray


def _check_poses(poses) -> np.ndarray:
    P = np.asarray(poses, dtype=np.float64)
    if P.ndim != 3 or P.shape[1:] != (4, 4):
        raise RegistrationError(f"pivot calibration needs poses as an (N, 4, 4) array, got shape {P.shape}")
    if not np.all(np.isfinite(P)):
        bad = np.nonzero(~np.all(np.isfinite(P), axis=(1, 2)))[0]
        raise RegistrationError(f"pose(s) {bad.tolist()} hold NaN or infinite values")
    if len(P) < 3:
        raise RegistrationError(f"{len(P)} pose(s) given; pivot calibration needs at least 3 (use 50-200)")
    return P


def _solve(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(P)
    A = np.zeros((3 * n, 6))
    A[:, :3] = P[:, :3, :3].reshape(3 * n, 3)
    A[:, 3:] = -np.tile(np.eye(3), (n, 1))
    b = -P[:, :3, 3].reshape(3 * n)
    x, *_ = np.linalg.lstsq(A, b, rcond=None)
    return x[:3], x[3:]


def _residuals(P: np.ndarray, tip: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    return np.linalg.norm(P[:, :3, :3] @ tip + P[:, :3, 3] - pivot, axis=1)


def rotation_spread(poses: np.ndarray) -> float:
    """How much the poses' rotations vary in their least-varied direction (about rad): the square
    root of the smallest eigenvalue of mean_i (R_i - R_mean)^T (R_i - R_mean). It is ~0 when all
    rotations are equal or share one axis, where the tip offset is not determined."""
    R = np.asarray(poses, dtype=np.float64)[:, :3, :3]
    D = R - R.mean(axis=0)
    M = np.einsum("nji,njk->ik", D, D) / len(R)
    return float(np.sqrt(max(np.linalg.eigvalsh(M)[0], 0.0)))


def pivot_calibration(poses) -> PivotResult:
    """Algebraic one-step least-squares pivot calibration from poses (N, 4, 4) T_tracker_from_tool.
    Raises RegistrationError for fewer than 3 poses, NaN, or too little rotation (the tool must
    be swung about the tip in two directions, e.g. +-20 degrees each)."""
    P = _check_poses(poses)
    spread = rotation_spread(P)
    if spread < MIN_ROTATION_SPREAD_RAD:
        raise RegistrationError(f"the tool was not rotated enough about its tip (spread {np.degrees(spread):.1f} deg); "
                                "swing it in two directions while keeping the tip in the divot")
    tip, pivot = _solve(P)
    r = _residuals(P, tip, pivot)
    return PivotResult(tip, pivot, r, float(np.sqrt(np.mean(r ** 2))), np.ones(len(P), bool))


def pivot_calibration_ransac(poses, threshold_mm: float = 1.0, iterations: int = 200,
                             seed: int = 0) -> PivotResult:
    """Robust pivot calibration: fits on random triples of poses, keeps the fit with most poses
    within `threshold_mm` of the pivot, and refits on those. Deterministic for a given seed.
    Raises RegistrationError when fewer than 3 poses (or too little rotation) remain."""
    P = _check_poses(poses)
    rng = np.random.default_rng(seed)
    best = None
    n = len(P)
    for _ in range(iterations):
        idx = rng.choice(n, 3, replace=False)
        if rotation_spread(P[idx]) < MIN_ROTATION_SPREAD_RAD:
            continue
        tip, pivot = _solve(P[idx])
        inl = _residuals(P, tip, pivot) < threshold_mm
        if best is None or inl.sum() > best.sum():
            best = inl
    if best is None or best.sum() < 3:
        raise RegistrationError("no consistent pivot found: fewer than 3 poses agree within "
                                f"{threshold_mm} mm (or the tool was not rotated enough)")
    for _ in range(3):  # refit on the consensus, then re-select
        res = pivot_calibration(P[best])
        inl = _residuals(P, res.tip_tool, res.pivot_tracker) < threshold_mm
        if inl.sum() < 3 or np.array_equal(inl, best):
            break
        best = inl
    res = pivot_calibration(P[best])
    r = _residuals(P, res.tip_tool, res.pivot_tracker)
    return PivotResult(res.tip_tool, res.pivot_tracker, r, float(np.sqrt(np.mean(r[best] ** 2))), best)


def tip_covariance(poses, result: PivotResult) -> np.ndarray:
    """Covariance (3, 3) mm^2 of `result.tip_tool` from the least-squares fit on its inlier
    poses: sigma^2 (A^T A)^-1 restricted to the tip, with sigma^2 the residual variance of the
    3n equations over 3n - 6 degrees of freedom (ordinary least-squares theory; it holds for
    independent, equal noise on the poses' translations). The square root of its largest
    eigenvalue is the tip uncertainty (1 sd, mm) along the worst direction."""
    P = _check_poses(poses)[np.asarray(result.inliers, bool)]
    n = len(P)
    if n < 3:
        raise RegistrationError("the tip uncertainty needs at least 3 inlier poses")
    A = np.zeros((3 * n, 6))
    A[:, :3] = P[:, :3, :3].reshape(3 * n, 3)
    A[:, 3:] = -np.tile(np.eye(3), (n, 1))
    b = -P[:, :3, 3].reshape(3 * n)
    x = np.concatenate([result.tip_tool, result.pivot_tracker])
    r = A @ x - b
    sigma2 = float(r @ r) / max(3 * n - 6, 1)
    return sigma2 * np.linalg.inv(A.T @ A)[:3, :3]


def tip_uncertainty_mm(poses, result: PivotResult) -> float:
    """1-sd tip uncertainty (mm) along its worst direction (see tip_covariance)."""
    return float(np.sqrt(max(np.linalg.eigvalsh(tip_covariance(poses, result))[-1], 0.0)))
