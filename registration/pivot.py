"""Pivot calibration of a tracked pointer (or any tool with a tip).

The tool's tip rests in a divot while the tool is rotated about it. Each tracked pose
`T_tracker_from_tool_i` (4x4, mm) then satisfies

    R_i @ tip_tool + t_i = pivot_tracker

with two unknowns: `tip_tool` (3,) mm, the tip in the tool's frame, and `pivot_tracker`
(3,) mm, the divot in the tracker (or camera, or head) frame. Stacking all poses gives the
linear least-squares system [R_i  -I] [tip; pivot] = -t_i, solved in one step (algebraic
method). `pivot_calibration_robust` (what a session and `navtms calibrate-pointer` use) adds
robustness to poses spoiled by a slipped tip or a bad marker detection, deterministically: it
starts from the fit on all poses and iterates (trimmed least squares) with a threshold taken
from the data (the median residual scaled to the 99.5 % point of a 3D Gaussian error, i.e. a
MAD-type scale), and reports the inlier fraction, the RMS over all poses and over the inliers
and the covariance of the tip (largest along the shaft). See Yaniv, "Which pivot calibration?",
Proc. SPIE 9415, 2015, for the algebraic method and its error behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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
    rms_all_mm: RMS of the residuals over all poses (mm).
    threshold_mm: the inlier threshold used (mm; inf for the plain method).
    tip_covariance: (3, 3) mm^2, first-order covariance of tip_tool (tool frame);
    pivot_covariance: (3, 3) mm^2, of pivot_tracker.
    rotation_spread_deg: the poses' rotation spread (see `rotation_spread`), degrees.
    """

    tip_tool: np.ndarray
    pivot_tracker: np.ndarray
    residuals_mm: np.ndarray
    rms_mm: float
    inliers: np.ndarray
    rms_all_mm: float = float("nan")
    threshold_mm: float = float("inf")
    tip_covariance: np.ndarray = field(default_factory=lambda: np.full((3, 3), np.nan))
    pivot_covariance: np.ndarray = field(default_factory=lambda: np.full((3, 3), np.nan))
    rotation_spread_deg: float = float("nan")

    @property
    def n_poses(self) -> int:
        return int(len(self.inliers))

    @property
    def inlier_fraction(self) -> float:
        return float(np.mean(self.inliers)) if len(self.inliers) else 0.0

    def tip_sd_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """(standard deviations (3,) mm, descending, of the tip along its principal axes; the
        axes (3, 3), one unit vector per row, in the tool frame)."""
        w, V = np.linalg.eigh(self.tip_covariance)
        order = np.argsort(w)[::-1]
        return np.sqrt(np.maximum(w[order], 0.0)), V[:, order].T

    def to_dict(self) -> dict:
        sd, axes = self.tip_sd_mm()
        return {"tip_tool_mm": [float(v) for v in self.tip_tool],
                "pivot_tracker_mm": [float(v) for v in self.pivot_tracker],
                "n_poses": self.n_poses, "n_inliers": int(np.sum(self.inliers)),
                "inlier_fraction": self.inlier_fraction, "threshold_mm": float(self.threshold_mm),
                "rms_inliers_mm": float(self.rms_mm), "rms_all_mm": float(self.rms_all_mm),
                "median_residual_mm": float(np.median(self.residuals_mm)),
                "tip_sd_mm": [float(v) for v in sd], "tip_sd_axes_tool": axes.tolist(),
                "tip_covariance_mm2": self.tip_covariance.tolist(),
                "rotation_spread_deg": float(self.rotation_spread_deg)}


#: A 3D Gaussian error's 99.5 % point over its median (chi distribution, 3 dof): the robust
#: threshold is this times the inliers' median residual.
CHI3_995_OVER_MEDIAN = 3.7191 / 1.5382
#: Refuse a tip whose largest standard deviation exceeds this (mm).
MAX_TIP_SD_MM = 1.0


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


def _check_spread(P: np.ndarray) -> float:
    """Rotation spread of the poses (rad); RegistrationError when the tool was not swung enough."""
    spread = rotation_spread(P)
    if spread < MIN_ROTATION_SPREAD_RAD:
        raise RegistrationError(f"the tool was not rotated enough about its tip (spread {np.degrees(spread):.1f} deg); "
                                "swing it in two directions while keeping the tip in the divot")
    return spread


def pivot_calibration(poses) -> PivotResult:
    """Algebraic one-step least-squares pivot calibration from poses (N, 4, 4) T_tracker_from_tool.
    Raises RegistrationError for fewer than 3 poses, NaN, or too little rotation (the tool must
    be swung about the tip in two directions, e.g. +-20 degrees each)."""
    P = _check_poses(poses)
    spread = _check_spread(P)
    tip, pivot = _solve(P)
    r = _residuals(P, tip, pivot)
    c_tip, c_piv = _covariances(P, tip, pivot)
    rms = float(np.sqrt(np.mean(r ** 2)))
    return PivotResult(tip, pivot, r, rms, np.ones(len(P), bool), rms_all_mm=rms, tip_covariance=c_tip,
                       pivot_covariance=c_piv, rotation_spread_deg=float(np.degrees(spread)))


def pivot_calibration_ransac(poses, threshold_mm: float | None = None, iterations: int = 0, seed: int = 0) -> PivotResult:
    """The earlier name of `pivot_calibration_robust` (kept for callers): deterministic, all
    poses, threshold from the data unless given. `iterations` and `seed` are ignored (there is
    no random sampling any more)."""
    return pivot_calibration_robust(poses, threshold_mm=threshold_mm)

def _covariances(P: np.ndarray, tip: np.ndarray, pivot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-order covariances (3, 3) of tip and pivot from the linear system's normal matrix and
    the per-axis residual variance (3N - 6 degrees of freedom)."""
    n = len(P)
    A = np.zeros((3 * n, 6))
    A[:, :3] = P[:, :3, :3].reshape(3 * n, 3)
    A[:, 3:] = -np.tile(np.eye(3), (n, 1))
    r = (P[:, :3, :3] @ tip + P[:, :3, 3] - pivot).reshape(-1)
    s2 = float(r @ r) / max(3 * n - 6, 1)
    C = s2 * np.linalg.pinv(A.T @ A)
    return C[:3, :3], C[3:, 3:]


def pivot_calibration_robust(poses, threshold_mm: float | None = None, max_tip_sd_mm: float = MAX_TIP_SD_MM,
                             max_iterations: int = 30) -> PivotResult:
    """Deterministic robust pivot calibration over all poses (N, 4, 4) T_tracker_from_tool.

    Starts from the least-squares fit on all poses, refits on the better half until that set is
    stable (trimmed least squares, so up to ~half the poses may be wild), then refits on the poses
    whose residual is within the threshold until the inlier set stops changing. The threshold is
    `threshold_mm` when given, else taken from the data each round: the inliers' median residual
    times CHI3_995_OVER_MEDIAN (for Gaussian marker noise it keeps 99.5 % of good poses, and
    poses with a slipped tip fall out). No random sampling: the same poses give the same tip.
    Raises RegistrationError when the rotation spread is too small (< 5 degrees), fewer than
    half the poses (or 3) remain, or the tip's largest standard deviation exceeds max_tip_sd_mm."""
    P = _check_poses(poses)
    spread = _check_spread(P)
    tip, pivot = _solve(P)
    r = _residuals(P, tip, pivot)
    # 1. trimmed least squares (concentration steps, Rousseeuw & Van Driessen 2006): keep the
    #    better half (or all within the data threshold, if more) until the set stops changing
    keep = np.ones(len(P), bool)
    for _ in range(max_iterations):
        med = float(np.median(r))
        new = r <= max(med, CHI3_995_OVER_MEDIAN * float(np.median(r[r <= med])))
        tip, pivot = _solve(P[new])
        r = _residuals(P, tip, pivot)
        if np.array_equal(new, keep):
            break
        keep = new
    # 2. the final threshold (given, or from the data: the median residual of the poses kept,
    #    scaled to the 99.5 % point of Gaussian noise) and a refit until the inliers are stable
    inl = keep
    thr = float("inf")
    for _ in range(max_iterations):
        thr = float(threshold_mm) if threshold_mm is not None else CHI3_995_OVER_MEDIAN * float(np.median(r[inl]))
        new = r <= thr
        if new.sum() < 3:
            inl = new
            break
        tip, pivot = _solve(P[new])
        r = _residuals(P, tip, pivot)
        if np.array_equal(new, inl):
            break
        inl = new
    if inl.sum() < max(3, len(P) // 2):
        raise RegistrationError(f"no consistent pivot: only {int(inl.sum())} of {len(P)} poses agree within "
                                f"{thr:.1f} mm (the tip slipped, or the poses are of different pivots)")
    if rotation_spread(P[inl]) < MIN_ROTATION_SPREAD_RAD:
        raise RegistrationError("the poses that agree on a pivot were not rotated enough about the tip")
    tip, pivot = _solve(P[inl])
    r = _residuals(P, tip, pivot)
    c_tip, c_piv = _covariances(P[inl], tip, pivot)
    res = PivotResult(tip, pivot, r, float(np.sqrt(np.mean(r[inl] ** 2))), inl,
                      rms_all_mm=float(np.sqrt(np.mean(r ** 2))), threshold_mm=thr, tip_covariance=c_tip,
                      pivot_covariance=c_piv, rotation_spread_deg=float(np.degrees(spread)))
    sd = res.tip_sd_mm()[0]
    if sd[0] > max_tip_sd_mm:
        raise RegistrationError(f"the tip is poorly determined (standard deviation {sd[0]:.1f} mm > {max_tip_sd_mm} mm "
                                "along its worst axis); collect more poses with a wider swing")
    return res


def tip_covariance(poses, result: PivotResult) -> np.ndarray:
    """Covariance (3, 3) mm^2 of `result.tip_tool` from the least-squares fit on its inlier
    poses: sigma^2 (A^T A)^-1 restricted to the tip, with sigma^2 the residual variance of the
    3n equations over 3n - 6 degrees of freedom (ordinary least-squares theory; it holds for
    independent, equal noise on the poses' translations). The square root of its largest
    eigenvalue is the tip uncertainty (1 sd, mm) along the worst direction."""
    P = _check_poses(poses)[np.asarray(result.inliers, bool)]
    if len(P) < 3:
        raise RegistrationError("the tip uncertainty needs at least 3 inlier poses")
    return _covariances(P, result.tip_tool, result.pivot_tracker)[0]


def tip_uncertainty_mm(poses, result: PivotResult) -> float:
    """1-sd tip uncertainty (mm) along its worst direction (see tip_covariance)."""
    return float(np.sqrt(max(np.linalg.eigvalsh(tip_covariance(poses, result))[-1], 0.0)))
