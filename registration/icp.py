"""Surface registration: robust rigid ICP of digitised head points onto the scalp surface.

The head points are written in frame `b` (usually `tracker` or `head`), the surface in frame
`a` (`mri`). Starting from an initial `T_a_from_b` (usually the fiducial fit), each iteration
pairs every point with its closest surface vertex (scipy cKDTree) and minimises the
point-to-plane distance along that vertex's normal (a linearised 6-dof Gauss-Newton step),
with Tukey biweights whose scale is re-estimated from the residuals (median absolute
deviation), so points off the scalp get weight 0 and do not drag the fit. The scale starts
wide (covering 90 % of the initial distances twice over) and shrinks each iteration, so that in
the first iterations genuinely misplaced points still pull (graduated non-convexity) instead
of being rejected as outliers, which would lock in a wrong local minimum. Fiducials may be
kept as weighted point-to-point anchors. All lengths are mm, angles radians inside.
Closest-point queries live in registration.surface_index, the fit's honesty checks (offset,
fiducial tension, fiducials-vs-combined displacement) in registration.icp_checks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.errors import RegistrationError
from navcore.transforms import apply, check_rigid, make_transform, rotation_angle
from registration.icp_checks import (fiducial_error_bound, fiducials_vs_surface_warning,  # noqa: F401 (re-exported)
                                     icp_warnings, offset_statistics)
from registration.surface_index import NEIGHBOURS, SurfaceIndex  # noqa: F401 (re-exported)

TUKEY_C = 4.685
#: Per-iteration shrink of the robust scale's lower bound (graduated non-convexity).
ANNEAL_RATE = 0.7


@dataclass(frozen=True)
class IcpResult:
    """Outcome of `icp_register`.

    T_a_from_b: 4x4 rigid, the refined registration (mm).
    residuals_mm: (N,) signed distance of each transformed head point from the surface (mm,
        positive outside the head).
    inliers: (N,) bool, points with non-zero final robust weight.
    weights: (N,) final robust weights in [0, 1].
    iterations: iterations run; converged: the step fell below the tolerance.
    change_translation_mm: how far the head points' centroid moved from the initial fit (mm).
    change_rotation_deg: rotation angle between the initial and refined fit (degrees).
    fiducial_errors_mm: (F,) distance of each anchor fiducial after the fit (mm), empty if none.
    covariance: (6, 6) first-order covariance of [rotation vector (rad), translation (mm)] of
        the final fit, about `covariance_centre_mm` (frame a), with the head points' noise taken
        as the larger of the stated point_sigma_mm and their observed scatter (a posteriori).
    covariance_fiducials: (6, 6) the same for the anchors alone (what the fiducial-only fit
        knows), NaN without anchors.
    bias_mm: signed mean residual of the inliers (mm, + outside): a one-sided fit (the points lie
        off the surface on one side: skin model, pointer tip or skin shift) shows here, not in RMS.
    bias_se_mm: its standard deviation under noise alone, first order from the fit
        (registration.icp_checks.offset_statistics; smaller than scatter / sqrt(inliers) because
        the fit absorbs part of the noise too).
    offset_mm, offset_se_mm: the uniform offset of the head points along their normals that the
        bias implies (bias / (1 - bias_absorbed)) and its standard error (mm).
    bias_pose_shift: (6,) change of [rotation vector, translation] the fit makes per mm of a
        uniform offset of all head points along their normals (first order);
        bias_absorbed: the share of such an offset the fit absorbs (not left in the bias).
    point_sigma_mm, fiducial_sigma_mm: the stated per-axis noise; point_scatter_mm: the observed
        scatter (SD about the bias) of the inlier residuals.
    warnings: one sentence per problem found (see `icp_warnings`).
    """

    T_a_from_b: np.ndarray
    residuals_mm: np.ndarray
    inliers: np.ndarray
    weights: np.ndarray
    iterations: int
    converged: bool
    change_translation_mm: float
    change_rotation_deg: float
    fiducial_errors_mm: np.ndarray
    covariance: np.ndarray = field(default_factory=lambda: np.full((6, 6), np.nan))
    covariance_centre_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    covariance_fiducials: np.ndarray = field(default_factory=lambda: np.full((6, 6), np.nan))
    bias_mm: float = 0.0
    bias_se_mm: float = 0.0
    offset_mm: float = 0.0
    offset_se_mm: float = 0.0
    bias_pose_shift: np.ndarray = field(default_factory=lambda: np.zeros(6))
    bias_absorbed: float = 0.0
    point_sigma_mm: float = 1.0
    fiducial_sigma_mm: float = 2.0
    point_scatter_mm: float = 0.0
    warnings: tuple = ()

    def _jacobian(self, targets_a: np.ndarray) -> np.ndarray:
        r = np.asarray(targets_a, dtype=np.float64).reshape(-1, 3) - self.covariance_centre_mm
        return np.concatenate([_skew_rows(r), np.broadcast_to(np.eye(3), (len(r), 3, 3))], axis=2)

    def systematic_tre(self, targets_a: np.ndarray) -> np.ndarray:
        """Estimated error (mm) at targets (M, 3) from the one-sided offset of the head points:
        the observed bias, corrected for the part the fit absorbed, pushed through the fit."""
        return np.linalg.norm(self._jacobian(targets_a) @ (self.offset_mm * self.bias_pose_shift), axis=1)

    def target_covariance(self, targets_a: np.ndarray) -> np.ndarray:
        """(M, 3, 3) mm^2: first-order covariance of where the fit maps targets (M, 3) or (3,)."""
        J = self._jacobian(targets_a)
        return np.einsum("mij,jk,mlk->mil", J, self.covariance, J)

    def fiducial_only_covariance(self, targets_a: np.ndarray) -> np.ndarray:
        """(M, 3, 3) mm^2: the same for a fit of the anchor fiducials alone (NaN without anchors)."""
        J = self._jacobian(targets_a)
        return np.einsum("mij,jk,mlk->mil", J, self.covariance_fiducials, J)

    def predicted_tre(self, targets_a: np.ndarray) -> np.ndarray:
        """Predicted RMS TRE (mm) at targets (M, 3) or (3,) in frame a, to first order: the random
        part from the fit's covariance (head points with their a posteriori noise along the
        normals, anchors with fiducial_sigma_mm per axis) and the systematic part of a one-sided
        offset (`systematic_tre`), added in quadrature. Other systematic errors (a skin shift that
        is not one-sided) are not seen."""
        J = self._jacobian(targets_a)
        rand = np.einsum("mij,jk,mik->m", J, self.covariance, J)
        return np.sqrt(rand + self.systematic_tre(targets_a) ** 2)

    @property
    def n_inliers(self) -> int:
        return int(np.sum(self.inliers))

    @property
    def n_outliers(self) -> int:
        return int(len(self.inliers) - np.sum(self.inliers))

    def summary(self) -> dict:
        """Residual statistics (mm) over the inliers and all points, and the change made.
        residual_bias_mm is the signed mean (+ outside); residual_mean_mm the mean absolute value."""
        r = np.abs(self.residuals_mm)
        ri = r[self.inliers] if np.any(self.inliers) else r
        return {"n_points": int(len(r)), "n_inliers": self.n_inliers, "n_outliers": self.n_outliers,
                "residual_bias_mm": float(self.bias_mm), "residual_bias_se_mm": float(self.bias_se_mm),
                "offset_mm": float(self.offset_mm), "offset_se_mm": float(self.offset_se_mm),
                "residual_mean_mm": float(ri.mean()), "residual_rms_mm": float(np.sqrt(np.mean(ri ** 2))),
                "residual_scatter_mm": float(self.point_scatter_mm),
                "residual_max_mm": float(ri.max()), "residual_max_all_mm": float(r.max()),
                "fiducial_errors_mm": [float(e) for e in self.fiducial_errors_mm],
                "iterations": self.iterations, "converged": self.converged,
                "change_translation_mm": self.change_translation_mm,
                "change_rotation_deg": self.change_rotation_deg,
                "warnings": list(self.warnings)}


def _tukey(r: np.ndarray, scale: float) -> np.ndarray:
    u = r / (TUKEY_C * scale)
    w = (1.0 - u ** 2) ** 2
    w[np.abs(u) >= 1.0] = 0.0
    return w


def _cost(idx: SurfaceIndex, T: np.ndarray, p: np.ndarray, scale: float, wp: float,
          fa: np.ndarray, fb: np.ndarray, wf: float) -> float:
    """Tukey cost of the point-to-plane residuals plus the anchors' squared distances."""
    d, _ = idx.signed_distance(apply(T, p))
    k = TUKEY_C * scale
    u2 = np.minimum((d / k) ** 2, 1.0)
    rho = k ** 2 / 6.0 * (1.0 - (1.0 - u2) ** 3)
    cost = wp * float(np.sum(rho))
    if len(fa):
        cost += wf * float(np.sum((apply(T, fb) - fa) ** 2))
    return cost


def _skew_rows(q: np.ndarray) -> np.ndarray:
    """(M, 3, 3): for each q, the matrix J with J @ omega = omega x q, i.e. -[q]x."""
    J = np.zeros((len(q), 3, 3))
    J[:, 0, 1], J[:, 0, 2] = q[:, 2], -q[:, 1]
    J[:, 1, 0], J[:, 1, 2] = -q[:, 2], q[:, 0]
    J[:, 2, 0], J[:, 2, 1] = q[:, 1], -q[:, 0]
    return J


def _refine(idx: SurfaceIndex, p: np.ndarray, T_start: np.ndarray, d0: np.ndarray, fa: np.ndarray,
            fb: np.ndarray, wp: float, wf: float, max_iterations: int, tolerance_mm: float,
            min_scale_mm: float) -> tuple[np.ndarray, int, bool]:
    """One annealed, damped Gauss-Newton ICP run from T_start: (T_a_from_b, iterations, converged)."""
    use_fid = len(fa) > 0
    anneal0 = max(float(np.percentile(np.abs(d0), 90)) / TUKEY_C * 2.0, min_scale_mm)
    T = T_start.copy()
    converged = False
    w = np.ones(len(p))
    it = 0
    for it in range(1, max_iterations + 1):
        q = apply(T, p)
        d, n = idx.signed_distance(q)
        mad_scale = max(1.4826 * float(np.median(np.abs(d - np.median(d)))), min_scale_mm)
        anneal = anneal0 * ANNEAL_RATE ** (it - 1)  # wide at first, so far-but-right points still pull
        scale = max(mad_scale, anneal)
        annealing = anneal > mad_scale
        w = _tukey(d, scale)
        if np.count_nonzero(w) < 6:
            raise RegistrationError(f"only {np.count_nonzero(w)} head points lie near the scalp; "
                                    "check the initial (fiducial) registration and the points")
        # linearise about the centroid of the current points for conditioning
        c = q.mean(axis=0)
        qc = q - c
        A_pts = np.hstack([np.cross(qc, n), n])  # d(residual)/d[omega, t]
        ww = w * wp
        H = (A_pts * ww[:, None]).T @ A_pts
        g = (A_pts * ww[:, None]).T @ d
        if use_fid:
            fq = apply(T, fb)
            J = np.concatenate([_skew_rows(fq - c), np.broadcast_to(np.eye(3), (len(fq), 3, 3))], axis=2)
            J = J.reshape(-1, 6)
            rf = (fq - fa).reshape(-1)
            H += wf * J.T @ J
            g += wf * J.T @ rf
        try:
            x = -np.linalg.solve(H + 1e-9 * np.eye(6), g)
        except np.linalg.LinAlgError as e:
            raise RegistrationError("the head points do not constrain the registration (degenerate layout)") from e
        # damped step: halve it until the robust cost (fresh closest points, same scale) drops,
        # which stops the 2-cycles that correspondence switching can cause in plain ICP
        cost0 = _cost(idx, T, p, scale, wp, fa, fb, wf)
        frac = 1.0
        for _ in range(8):
            xs = frac * x
            R = Rotation.from_rotvec(xs[:3]).as_matrix()
            step = make_transform(R, c + xs[3:] - R @ c)  # rotate about c, then translate
            if _cost(idx, step @ T, p, scale, wp, fa, fb, wf) <= cost0:
                break
            frac *= 0.5
        else:
            if annealing:
                continue  # no descent at this scale; the next, narrower one may have one
            converged = True  # no descent direction left: a minimum
            break
        T = step @ T
        move = np.max(np.linalg.norm(apply(step, q) - q, axis=1))
        if move < tolerance_mm and not annealing:
            converged = True
            break
    return T, it, converged


def icp_register(surface, points_b: np.ndarray, T_a_from_b_init: np.ndarray,
                 fiducials_a: np.ndarray | None = None, fiducials_b: np.ndarray | None = None,
                 point_sigma_mm: float = 1.0, fiducial_sigma_mm: float = 2.0,
                 max_iterations: int = 60, tolerance_mm: float = 1e-3,
                 min_scale_mm: float = 0.5, max_start_distance_mm: float = 40.0,
                 max_rms_mm: float = 4.0, restart_deg: float = 10.0) -> IcpResult:
    """Refine `T_a_from_b` so the head points (frame b) lie on the surface (frame a).

    surface: a `SurfaceIndex` or anything with vertices/normals (mm, frame a, outward normals).
    points_b: (N, 3) mm head points in frame b, N >= 6 (they should cover more than one side
        of the head, e.g. forehead, nose bridge and scalp, or the fit can slide).
    T_a_from_b_init: 4x4 starting registration, e.g. the paired-point fiducial fit.
    fiducials_a / fiducials_b: optional (F, 3) mm matched fiducials kept as anchors.
    point_sigma_mm, fiducial_sigma_mm: expected per-axis errors; each term is weighted by
        1/sigma^2, so anchors pull as much as their accuracy deserves.
    max_start_distance_mm: refuse when the initial registration puts the points a median of
        more than this from the surface (the start is wrong, ICP would only find a bad minimum).
    max_rms_mm: refuse a fit whose inlier RMS residual exceeds this.
    restart_deg: besides the given start, also start from it rotated by this angle about +-x,
        +-y, +-z through the points' centroid, and keep the lowest-cost result (escapes the
        local minima a nearly spherical head has; 0 disables).
    Returns an IcpResult. Raises RegistrationError on bad input, a bad start, a bad fit or
    when fewer than 6 points remain inliers."""
    idx = surface if isinstance(surface, SurfaceIndex) else SurfaceIndex.build(surface)
    p = np.asarray(points_b, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise RegistrationError(f"head points must be an (N, 3) array, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise RegistrationError("head points hold NaN or infinite coordinates")
    if len(p) < 6:
        raise RegistrationError(f"{len(p)} head points given; surface registration needs at least 6")
    try:
        T0 = check_rigid(T_a_from_b_init, "the initial registration")
    except Exception as e:  # GeometryError -> RegistrationError for callers of this module
        raise RegistrationError(str(e)) from e
    use_fid = fiducials_a is not None and fiducials_b is not None and len(fiducials_a) > 0
    if use_fid:
        fa = np.asarray(fiducials_a, dtype=np.float64).reshape(-1, 3)
        fb = np.asarray(fiducials_b, dtype=np.float64).reshape(-1, 3)
        if fa.shape != fb.shape or not (np.all(np.isfinite(fa)) and np.all(np.isfinite(fb))):
            raise RegistrationError("anchor fiducials must be two finite (F, 3) arrays of the same size")
    else:
        fa = fb = np.zeros((0, 3))
    wp = 1.0 / point_sigma_mm ** 2
    wf = 1.0 / fiducial_sigma_mm ** 2

    d0, _ = idx.signed_distance(apply(T0, p))
    if np.median(np.abs(d0)) > max_start_distance_mm:
        raise RegistrationError(f"the initial registration puts the head points a median {np.median(np.abs(d0)):.0f} mm "
                                f"from the scalp (not near the scalp); check the fiducials and their names")
    starts = [T0]
    if restart_deg > 0:  # also start rotated about the points' centroid, keep the best minimum
        c0 = apply(T0, p).mean(axis=0)
        for axis in np.vstack([np.eye(3), -np.eye(3)]):
            R = Rotation.from_rotvec(np.radians(restart_deg) * axis).as_matrix()
            starts.append(make_transform(R, c0 - R @ c0) @ T0)
    best = None
    for k, Ts in enumerate(starts):
        dk = d0 if k == 0 else idx.signed_distance(apply(Ts, p))[0]
        try:
            T, it, converged = _refine(idx, p, Ts, dk, fa, fb, wp, wf, max_iterations, tolerance_mm, min_scale_mm)
        except RegistrationError:
            if k == 0:
                raise
            continue
        cost = _cost(idx, T, p, max(point_sigma_mm, min_scale_mm), wp, fa, fb, wf)
        if best is None or cost < best[0] - 1e-9:
            best = (cost, T, it, converged)
    _, T, it, converged = best
    q = apply(T, p)
    d, n = idx.signed_distance(q)
    scale = max(1.4826 * float(np.median(np.abs(d - np.median(d)))), min_scale_mm)
    w = _tukey(d, scale)
    inl = w > 0
    ri = d[inl] if np.any(inl) else d
    bias = float(np.mean(ri))
    scatter = float(np.std(ri, ddof=1)) if len(ri) > 1 else 0.0
    # first-order covariance of the 6 pose parameters (rotation vector rad, translation mm) about
    # the centroid of the fitted points: inverse of the Gauss-Newton information matrix, with the
    # head points' noise the larger of the stated and the observed scatter (a posteriori)
    sigma_post = max(point_sigma_mm, scatter)
    c = q.mean(axis=0)
    A = np.hstack([np.cross(q - c, n), n])
    wi = inl.astype(np.float64) / sigma_post ** 2
    H = (A * wi[:, None]).T @ A
    Jf = np.zeros((0, 6))
    cov_fid = np.full((6, 6), np.nan)
    if use_fid:
        Jf = np.concatenate([_skew_rows(apply(T, fb) - c), np.broadcast_to(np.eye(3), (len(fb), 3, 3))],
                            axis=2).reshape(-1, 6)
        H_fid = wf * Jf.T @ Jf
        H += H_fid
        if len(fb) >= 3 and np.linalg.matrix_rank(Jf) == 6:
            cov_fid = np.linalg.inv(H_fid)
    cov = np.linalg.pinv(H)
    # a uniform offset b of every inlier along its normal moves the fit by b * shift (first order)
    # and leaves b * (1 - absorbed) in the residuals' mean, whose noise is bias_se
    shift = -cov @ (A.T @ wi)
    kept, bias_se = offset_statistics(A, inl, sigma_post, Jf, fiducial_sigma_mm, cov)
    absorbed = 1.0 - kept
    kept_safe = max(kept, 0.2)
    ch_t = float(np.linalg.norm(q.mean(0) - apply(T0, p).mean(0)))
    ch_r = float(np.degrees(rotation_angle(T0[:3, :3].T @ T[:3, :3])))
    fe = np.linalg.norm(apply(T, fb) - fa, axis=1) if use_fid else np.zeros(0)
    rms = float(np.sqrt(np.mean(d[w > 0] ** 2))) if np.any(w > 0) else np.inf
    if rms > max_rms_mm:
        raise RegistrationError(f"the surface fit is poor (inlier RMS {rms:.1f} mm > {max_rms_mm} mm); "
                                "the head points do not match this scalp")
    res = IcpResult(T_a_from_b=T, residuals_mm=d, inliers=inl, weights=w, iterations=it,
                    converged=converged, change_translation_mm=ch_t, change_rotation_deg=ch_r,
                    fiducial_errors_mm=fe, covariance=cov, covariance_centre_mm=c, covariance_fiducials=cov_fid,
                    bias_mm=bias, bias_se_mm=float(bias_se), offset_mm=bias / kept_safe,
                    offset_se_mm=float(bias_se) / kept_safe, bias_pose_shift=shift, bias_absorbed=absorbed,
                    point_sigma_mm=float(point_sigma_mm), fiducial_sigma_mm=float(fiducial_sigma_mm),
                    point_scatter_mm=scatter)
    return dataclasses.replace(res, warnings=icp_warnings(res))
