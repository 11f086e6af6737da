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
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from navcore.errors import RegistrationError
from navcore.transforms import apply, check_rigid, make_transform, rotation_angle

TUKEY_C = 4.685
#: Vertices blended into each local tangent plane.
NEIGHBOURS = 4
#: Per-iteration shrink of the robust scale's lower bound (graduated non-convexity).
ANNEAL_RATE = 0.7


@dataclass(frozen=True)
class SurfaceIndex:
    """A surface prepared for closest-point queries: vertices (N, 3) mm and unit normals (N, 3)
    in frame `a`, and a cKDTree on the vertices. Build once per surface (about 20 ms)."""

    vertices: np.ndarray
    normals: np.ndarray
    tree: cKDTree = field(repr=False)

    @classmethod
    def build(cls, surface) -> "SurfaceIndex":
        """From any object with `vertices` and `normals` (e.g. targets.surfaces.Surface)."""
        v = np.asarray(surface.vertices, dtype=np.float64)
        n = np.asarray(surface.normals, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 3 or n.shape != v.shape:
            raise RegistrationError("the surface needs (N, 3) vertices and matching (N, 3) normals")
        return cls(v, n, cKDTree(v))

    def signed_distance(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(signed distance (M,) mm from the local tangent plane, positive outside; its unit
        normal (M, 3)) for points (M, 3) mm in frame a."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        d, _, n = self.local_planes(p)
        return d, n

    def local_planes(self, points: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For points (M, 3) mm: (signed distance (M,) mm, foot point (M, 3), unit normal (M, 3))
        of the local tangent plane, blended from the k nearest vertices with weights
        (1 - d_i / d_{k+1})^2 that fade to zero as a vertex leaves the neighbourhood, so the
        distance is continuous as the point moves (no jumps when the nearest vertex changes)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        dist, ii = self.tree.query(p, k=k + 1)
        w = np.clip(1.0 - dist[:, :k] / np.maximum(dist[:, k:k + 1], 1e-12), 0.0, None) ** 2
        w += 1e-12
        w /= w.sum(axis=1, keepdims=True)
        foot = np.einsum("mk,mkj->mj", w, self.vertices[ii[:, :k]])
        nrm = np.einsum("mk,mkj->mj", w, self.normals[ii[:, :k]])
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        d = np.sum((p - foot) * nrm, axis=1)
        return d, foot, nrm


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
    bias_mm: signed mean residual of the inliers (mm, + outside): a one-sided fit (the points lie
        off the surface on one side: skin model, pointer tip or skin shift) shows here, not in RMS.
    bias_se_mm: its standard error (scatter / sqrt(inliers), mm).
    bias_pose_shift: (6,) change of [rotation vector, translation] the fit makes per mm of a
        uniform offset of all head points along their normals (first order).
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
    bias_mm: float = 0.0
    bias_se_mm: float = 0.0
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
        b = self.bias_mm / max(1.0 - self.bias_absorbed, 0.2)
        return np.linalg.norm(self._jacobian(targets_a) @ (b * self.bias_pose_shift), axis=1)

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
                "residual_mean_mm": float(ri.mean()), "residual_rms_mm": float(np.sqrt(np.mean(ri ** 2))),
                "residual_scatter_mm": float(self.point_scatter_mm),
                "residual_max_mm": float(ri.max()), "residual_max_all_mm": float(r.max()),
                "fiducial_errors_mm": [float(e) for e in self.fiducial_errors_mm],
                "iterations": self.iterations, "converged": self.converged,
                "change_translation_mm": self.change_translation_mm,
                "change_rotation_deg": self.change_rotation_deg,
                "warnings": list(self.warnings)}


#: A one-sided fit is flagged when |bias| exceeds this (mm) and BIAS_SIGMAS standard errors.
BIAS_WARN_MM = 0.25
BIAS_SIGMAS = 2.5
#: Probability of a false alarm of the fiducial-error check (chi-square of the anchors' errors).
FIDUCIAL_CHECK_ALPHA = 0.01


def fiducial_error_bound(n_fiducials: int, fiducial_sigma_mm: float, alpha: float = FIDUCIAL_CHECK_ALPHA) -> float:
    """RMS fiducial error (mm) after a fit that FLE explains with probability 1 - alpha: the
    errors of F anchors with per-axis sigma are at most ~ sigma^2 chi2(3F), so their RMS is at most
    sigma sqrt(chi2_{1-alpha}(3F) / F)."""
    from scipy.stats import chi2

    return float(fiducial_sigma_mm * np.sqrt(chi2.ppf(1.0 - alpha, 3 * n_fiducials) / n_fiducials))


def icp_warnings(res: IcpResult) -> tuple[str, ...]:
    """Sentences for what the fit's own numbers say is wrong: a one-sided residual, fiducial
    errors after the fit beyond what their FLE explains, a fit that did not converge."""
    out = []
    if abs(res.bias_mm) > BIAS_WARN_MM and abs(res.bias_mm) > BIAS_SIGMAS * res.bias_se_mm:
        side = "outside" if res.bias_mm > 0 else "inside"
        out.append(f"the head points lie on average {abs(res.bias_mm):.1f} mm {side} the scalp surface "
                   f"(one-sided, {abs(res.bias_mm) / max(res.bias_se_mm, 1e-9):.0f} standard errors): the MRI's skin, "
                   "the pointer tip or pressure on the skin is off; the predicted TRE includes it")
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


def fiducials_vs_surface_warning(moved_mm: float, tre_fiducials_mm: float, tre_icp_mm: float,
                                 target: str = "the target", k: float = 2.5) -> str | None:
    """A sentence when the surface fit moved a target by more than the fiducial-only fit's own
    uncertainty explains (k standard deviations of the difference of the two estimates, which is
    sqrt(TRE_fid^2 - TRE_icp^2) per axis-RMS when both are right), else None. Then the result
    may be worse than the fiducials alone."""
    sd = float(np.sqrt(max(tre_fiducials_mm ** 2 - tre_icp_mm ** 2, 0.25 * tre_fiducials_mm ** 2)))
    if moved_mm > k * sd:
        return (f"the surface fit moved {target} by {moved_mm:.1f} mm, more than the fiducials' own uncertainty "
                f"explains ({k * sd:.1f} mm): it may be worse than the fiducials alone; check the head points")
    return None


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
    bias_se = scatter / np.sqrt(max(len(ri), 1))
    # first-order covariance of the 6 pose parameters (rotation vector rad, translation mm) about
    # the centroid of the fitted points: inverse of the Gauss-Newton information matrix, with the
    # head points' noise the larger of the stated and the observed scatter (a posteriori)
    sigma_post = max(point_sigma_mm, scatter)
    c = q.mean(axis=0)
    A = np.hstack([np.cross(q - c, n), n])
    wi = inl.astype(np.float64) / sigma_post ** 2
    H = (A * wi[:, None]).T @ A
    if use_fid:
        J = np.concatenate([_skew_rows(apply(T, fb) - c), np.broadcast_to(np.eye(3), (len(fb), 3, 3))], axis=2)
        H += wf * J.reshape(-1, 6).T @ J.reshape(-1, 6)
    cov = np.linalg.pinv(H)
    # a uniform offset b of every inlier along its normal moves the fit by b * shift (first order)
    # and leaves b * (1 - absorbed) in the residuals' mean
    shift = -cov @ (A.T @ wi)
    absorbed = float(-np.mean((A @ shift)[inl])) if np.any(inl) else 0.0
    ch_t = float(np.linalg.norm(q.mean(0) - apply(T0, p).mean(0)))
    ch_r = float(np.degrees(rotation_angle(T0[:3, :3].T @ T[:3, :3])))
    fe = np.linalg.norm(apply(T, fb) - fa, axis=1) if use_fid else np.zeros(0)
    rms = float(np.sqrt(np.mean(d[w > 0] ** 2))) if np.any(w > 0) else np.inf
    if rms > max_rms_mm:
        raise RegistrationError(f"the surface fit is poor (inlier RMS {rms:.1f} mm > {max_rms_mm} mm); "
                                "the head points do not match this scalp")
    res = IcpResult(T_a_from_b=T, residuals_mm=d, inliers=inl, weights=w, iterations=it,
                    converged=converged, change_translation_mm=ch_t, change_rotation_deg=ch_r,
                    fiducial_errors_mm=fe, covariance=cov, covariance_centre_mm=c, bias_mm=bias,
                    bias_se_mm=float(bias_se), bias_pose_shift=shift, bias_absorbed=absorbed,
                    point_sigma_mm=float(point_sigma_mm), fiducial_sigma_mm=float(fiducial_sigma_mm),
                    point_scatter_mm=scatter)
    return dataclasses.replace(res, warnings=icp_warnings(res))
