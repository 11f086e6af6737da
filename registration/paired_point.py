"""Paired-point rigid registration (weighted Kabsch / Horn, reflection-safe).

Given the same named points written in two frames, `a` (e.g. mri) and `b` (e.g. tracker),
find the rigid `T_a_from_b` minimising sum_i w_i |p_a,i - T_a_from_b p_b,i|^2. Points are
matched by name; the fit needs at least 3 common, non-collinear points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from navcore.errors import RegistrationError
from navcore.points import NamedPoints
from navcore.transforms import apply, make_transform

#: Points closer than this (mm) to their common line / each other make the fit degenerate.
MIN_SPREAD_MM = 1.0


@dataclass(frozen=True)
class PairedPointResult:
    """A paired-point fit.

    T_a_from_b: 4x4 rigid, maps frame-b points (mm) into frame a.
    names: the matched point names used, in order.
    errors_mm: (N,) distance |p_a - T p_b| per point (mm), the fiducial registration errors.
    fre_mm: root mean square of errors_mm (unweighted), mm.
    weights: (N,) the weights used.
    """

    T_a_from_b: np.ndarray
    names: tuple[str, ...]
    errors_mm: np.ndarray
    fre_mm: float
    weights: np.ndarray

    def per_point(self) -> dict[str, float]:
        """{name: error mm}."""
        return {n: float(e) for n, e in zip(self.names, self.errors_mm)}


def _check_points(p: np.ndarray, what: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise RegistrationError(f"{what} must be an (N, 3) array, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise RegistrationError(f"{what} hold NaN or infinite coordinates")
    return p


def check_configuration(p: np.ndarray, what: str = "points") -> None:
    """Raise RegistrationError when points (N, 3) mm are fewer than 3, coincident or collinear
    (second-largest spread about the centroid below MIN_SPREAD_MM)."""
    if len(p) < 3:
        raise RegistrationError(f"{what}: {len(p)} point(s) given; a rigid fit needs at least 3")
    c = p - p.mean(axis=0)
    s = np.linalg.svd(c, compute_uv=False) / np.sqrt(len(p))
    if s[0] < MIN_SPREAD_MM:
        raise RegistrationError(f"{what} are (nearly) coincident; spread them out")
    if s[1] < MIN_SPREAD_MM:
        raise RegistrationError(f"{what} are (nearly) collinear; a rigid fit needs points off one line")


def rigid_fit(points_a: np.ndarray, points_b: np.ndarray, weights: np.ndarray | None = None,
              check: bool = True) -> np.ndarray:
    """Weighted least-squares rigid `T_a_from_b` (4x4) with points_a ~ T points_b.

    points_a, points_b: (N, 3) mm, row i of each is the same physical point.
    weights: (N,) >= 0, default all ones. Uses the SVD (Kabsch) with a determinant fix, so the
    result is always a proper rotation (never a reflection)."""
    a = _check_points(points_a, "points in frame a")
    b = _check_points(points_b, "points in frame b")
    if a.shape != b.shape:
        raise RegistrationError(f"point sets differ in size ({len(a)} vs {len(b)})")
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (len(a),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise RegistrationError("weights must be one finite, non-negative number per point")
    if check:
        used = w > 0
        check_configuration(a[used], "points in frame a")
        check_configuration(b[used], "points in frame b")
    ws = w.sum()
    if ws <= 0:
        raise RegistrationError("all weights are zero")
    ca = (w[:, None] * a).sum(0) / ws
    cb = (w[:, None] * b).sum(0) / ws
    H = ((b - cb) * w[:, None]).T @ (a - ca)  # 3x3 cross-covariance, b -> a
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    D = np.diag([1.0, 1.0, d if d != 0 else 1.0])
    R = Vt.T @ D @ U.T
    return make_transform(R, ca - R @ cb)


def _names_problem(names_a: list[str], names_b: list[str], a: NamedPoints, b: NamedPoints, how: str) -> str:
    """'x, y <how> the <a.frame> points; z <how> the <b.frame> points' ('' when both lists are empty)."""
    parts = [f"{', '.join(names)} {how} the {pts.frame} points" for names, pts in ((names_a, a), (names_b, b)) if names]
    return "; ".join(parts)


def match_names(a: NamedPoints, b: NamedPoints, required: list[str] | None = None) -> list[str]:
    """Names common to a and b (in a's order). Raises RegistrationError naming any `required`
    name missing from either set."""
    if required:
        problem = _names_problem([n for n in required if n not in a], [n for n in required if n not in b],
                                 a, b, "missing from")
        if problem:
            raise RegistrationError(problem)
    return [n for n in a.names if n in b]


def register_paired_points(a: NamedPoints, b: NamedPoints, weights: dict[str, float] | None = None,
                           strict: bool = True) -> PairedPointResult:
    """Fit `T_a_from_b` from the points named alike in `a` (frame a) and `b` (frame b).

    weights: optional {name: weight}; names not listed weigh 1.
    strict: when True (default), a name present in only one of the sets is refused (it is
    almost always a typo); the error names it. When False, unmatched names are ignored.
    Raises RegistrationError for < 3 common points, collinear/coincident points or NaN."""
    common = match_names(a, b)
    if strict:
        problem = _names_problem([n for n in a.names if n not in b], [n for n in b.names if n not in a],
                                 a, b, "only in")
        if problem:
            raise RegistrationError("unmatched point names: " + problem)
    if weights:
        unknown = [n for n in weights if n not in common]
        if unknown:
            raise RegistrationError(f"weights given for unknown point(s): {', '.join(unknown)}")
    if len(common) < 3:
        raise RegistrationError(f"only {len(common)} point name(s) are common to both sets "
                                f"({', '.join(common) or 'none'}); a rigid fit needs at least 3")
    pa = a.subset(common).positions
    pb = b.subset(common).positions
    w = np.array([float((weights or {}).get(n, 1.0)) for n in common])
    T = rigid_fit(pa, pb, w)
    err = np.linalg.norm(pa - apply(T, pb), axis=1)
    return PairedPointResult(T_a_from_b=T, names=tuple(common), errors_mm=err,
                             fre_mm=float(np.sqrt(np.mean(err ** 2))), weights=w)
