"""Honesty checks of a surface fit (registration.icp): what the fit's own numbers say is wrong.

Three statistics, each compared with what the stated noise explains (first order, the same
linearisation as the fit's covariance):
- the head points' uniform offset along their normals (a skin model, a pointer tip or pressure
  on the skin that is off): the signed mean residual of the inliers, whose expectation is
  offset x (1 - absorbed) and whose variance is computed exactly from the fit (the fit absorbs
  part of an offset AND part of the noise, so the naive scatter / sqrt(n) overstates the noise
  and hides offsets); flagged at OFFSET_Z standard errors when the estimated offset is at
  least OFFSET_WARN_MM;
- the anchor fiducials' errors after the fit against their FLE (chi-square, FIDUCIAL_CHECK_ALPHA);
- the target's displacement between the fiducial-only and the combined fit (a Hausman test,
  Hausman 1978: when both are right the difference of the efficient and the consistent
  estimate has covariance Cov_fiducials - Cov_combined; DISPLACEMENT_ALPHA).
All lengths mm. No I/O; the sentences are what the screen and the JSON show.
"""
from __future__ import annotations

import numpy as np

#: An offset of the head points is flagged when its estimate is at least OFFSET_WARN_MM and
#: the observed bias is OFFSET_Z standard errors from zero.
OFFSET_WARN_MM = 0.25
OFFSET_Z = 2.5
#: Probability of a false alarm of the fiducial-error check (chi-square of the anchors' errors).
FIDUCIAL_CHECK_ALPHA = 0.01
#: Probability of a false alarm of the displacement (fiducials vs combined) check.
DISPLACEMENT_ALPHA = 0.01
#: Model error (mm, per axis) added to the displacement's covariance: the surface and the
#: linearisation are not exact to better than this.
DISPLACEMENT_FLOOR_MM = 0.2


def fiducial_error_bound(n_fiducials: int, fiducial_sigma_mm: float, alpha: float = FIDUCIAL_CHECK_ALPHA) -> float:
    """RMS fiducial error (mm) after a fit that FLE explains with probability 1 - alpha: the
    errors of F anchors with per-axis sigma are at most ~ sigma^2 chi2(3F), so their RMS is at most
    sigma sqrt(chi2_{1-alpha}(3F) / F)."""
    from scipy.stats import chi2

    return float(fiducial_sigma_mm * np.sqrt(chi2.ppf(1.0 - alpha, 3 * n_fiducials) / n_fiducials))


def offset_statistics(A: np.ndarray, inliers: np.ndarray, point_sigma_mm: float, J_fid: np.ndarray,
                      fiducial_sigma_mm: float, cov: np.ndarray) -> tuple[float, float]:
    """(kept, sd): a uniform offset b of the inliers along their normals leaves b * kept in their
    signed mean residual, and noise alone gives that mean a standard deviation sd (mm).

    A: (N, 6) d(residual)/d[omega, t] of every head point; inliers: (N,) bool; J_fid: (3F, 6)
    d(anchor error)/d[omega, t] (0 rows without anchors); cov: the fit's (6, 6) covariance
    (inverse information) with point_sigma_mm and fiducial_sigma_mm per axis. The fitted residuals
    are r = e + A x with x = -cov (A^T W e + J^T W_f e_f), so their inlier mean is a_e.e + a_f.e_f."""
    inl = np.asarray(inliers, dtype=bool)
    n = max(int(np.sum(inl)), 1)
    one = inl.astype(np.float64)
    wp = inl / point_sigma_mm ** 2
    u = cov @ (A.T @ one)  # (6,)
    a_e = (one - wp * (A @ u)) / n
    var = point_sigma_mm ** 2 * float(np.sum(a_e[inl] ** 2))
    if len(J_fid):
        a_f = -(J_fid @ u) / (fiducial_sigma_mm ** 2 * n)
        var += fiducial_sigma_mm ** 2 * float(np.sum(a_f ** 2))
    kept = float(np.sum(a_e * one))
    return kept, float(np.sqrt(max(var, 0.0)))


def icp_warnings(res) -> tuple[str, ...]:
    """Sentences for what an IcpResult's own numbers say is wrong: an offset of the head points
    (one-sided residuals), fiducial errors after the fit beyond what their FLE explains, a fit
    that did not converge."""
    out = []
    z = abs(res.bias_mm) / max(res.bias_se_mm, 1e-9)
    if abs(res.offset_mm) >= OFFSET_WARN_MM and z > OFFSET_Z:
        side = "outside" if res.offset_mm > 0 else "inside"
        out.append(f"the head points lie about {abs(res.offset_mm):.1f} mm {side} the scalp surface "
                   f"(one-sided residuals, {z:.0f} standard errors): the MRI's skin, the pointer tip or pressure "
                   "on the skin is off; the predicted TRE includes it")
    fe = np.asarray(res.fiducial_errors_mm)
    if len(fe):
        rms = float(np.sqrt(np.mean(fe ** 2)))
        bound = fiducial_error_bound(len(fe), res.fiducial_sigma_mm)
        if rms > bound:
            out.append(f"the fiducial errors after the surface fit (RMS {rms:.1f} mm) exceed what the fiducial "
                       f"localisation error explains ({bound:.1f} mm): the head points pull against the fiducials")
    if not res.converged:
        out.append(f"the surface fit did not converge in {res.iterations} iterations")
    return tuple(out)


def displacement_statistic(res, T_a_from_b_fiducials: np.ndarray, target_a: np.ndarray) -> tuple[float, float]:
    """(how far the combined fit moved the target from where the fiducial fit puts it, mm; the
    Hausman statistic d^T (Cov_fid - Cov_combined + floor)^-1 d, chi-square with 3 dof when both
    fits are right) for one target (3,) in frame a."""
    from navcore.transforms import apply

    t = np.asarray(target_a, dtype=np.float64).reshape(3)
    d = apply(res.T_a_from_b, apply(np.linalg.inv(T_a_from_b_fiducials), t)) - t
    S = res.fiducial_only_covariance(t)[0] - res.target_covariance(t)[0]
    S = 0.5 * (S + S.T)
    w, V = np.linalg.eigh(S)
    w = np.maximum(w, 0.0) + DISPLACEMENT_FLOOR_MM ** 2
    h = float(np.sum((V.T @ d) ** 2 / w))
    return float(np.linalg.norm(d)), h


def fiducials_vs_surface_warning(res, T_a_from_b_fiducials: np.ndarray, target_a: np.ndarray,
                                 target: str = "the target", alpha: float = DISPLACEMENT_ALPHA) -> str | None:
    """A sentence when the surface fit moved a target (3,) (frame a, mm) away from the fiducial
    fit by more than the two fits' uncertainties explain (`displacement_statistic` beyond the
    chi-square(3) 1 - alpha quantile), else None: then the combined result may be worse than the
    fiducials alone. Needs an IcpResult fitted with anchor fiducials."""
    from scipy.stats import chi2

    if not np.all(np.isfinite(res.covariance_fiducials)):
        return None
    moved, h = displacement_statistic(res, T_a_from_b_fiducials, target_a)
    if h > chi2.ppf(1.0 - alpha, 3):
        return (f"the surface fit moved {target} by {moved:.1f} mm from the fiducial fit, more than the two fits' "
                f"uncertainties explain (p < {alpha:g}): it may be worse than the fiducials alone; check the head "
                "points and the fiducials")
    return None
