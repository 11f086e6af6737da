"""The Register workspace's data, without Qt: one registration attempt (fiducials touched in a
fixed order, head points swept), its provisional fit for the live view, scalp coverage, and the
pipeline's result turned into lines for the screen.

Frames: collected points are in `head` (the head reference body), planned ones in `mri`; mm.
The registration itself is registration.pipeline via navtms.workflow.session_registration (the
one pipeline the CLI and the demo use); accepting stores it with workflow.record_from_result.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from navcore.points import NamedPoints

COVERAGE_RADIUS_MM = 15.0


class PointState(enum.Enum):
    PENDING = "to touch"
    COLLECTED = "collected"
    REFUSED = "refused"


@dataclass
class FiducialEntry:
    name: str
    state: PointState = PointState.PENDING
    position_head_mm: Optional[np.ndarray] = None
    spread_mm: float = math.nan
    message: str = ""


@dataclass
class Attempt:
    """One attempt: the plan's fiducials in its order, the head points (head mm), the result."""

    fiducials: list[FiducialEntry]
    head_points: list[np.ndarray] = field(default_factory=list)
    result: object = None          # registration.pipeline.RegistrationResult of the last fit

    @staticmethod
    def for_names(names) -> "Attempt":
        return Attempt([FiducialEntry(n) for n in names])

    def entry(self, name: str) -> FiducialEntry:
        return next(e for e in self.fiducials if e.name == name)

    def next_pending(self) -> Optional[str]:
        return next((e.name for e in self.fiducials if e.state is not PointState.COLLECTED), None)

    def collected(self) -> NamedPoints:
        got = [e for e in self.fiducials if e.state is PointState.COLLECTED]
        return NamedPoints(tuple(e.name for e in got), np.array([e.position_head_mm for e in got]).reshape(-1, 3), "head")

    def head_points_array(self) -> np.ndarray:
        return np.asarray(self.head_points, float).reshape(-1, 3)


def provisional_T(fiducials_mri: NamedPoints, attempt: Attempt) -> Optional[np.ndarray]:
    """T_mri_from_head (4x4 mm) of the fiducials collected so far (paired points, >= 3), for
    drawing the live pointer tip and the head points on the scalp; None before that."""
    from registration.paired_point import register_paired_points

    got = attempt.collected()
    common = [n for n in got.names if n in fiducials_mri.names]
    if len(common) < 3:
        return None
    try:
        return register_paired_points(fiducials_mri.subset(common), got.subset(common)).T_a_from_b
    except Exception:  # noqa: BLE001 - degenerate so far (collinear): no provisional view
        return None


def coverage_fraction(points_mri: np.ndarray, scalp_vertices: np.ndarray, above_mri_z: float,
                      radius_mm: float = COVERAGE_RADIUS_MM) -> float:
    """Share of the scalp vertices above `above_mri_z` (mri mm; e.g. the lowest fiducial) lying
    within radius_mm of a head point (mri mm): how much of the reachable scalp the sweep covered."""
    from scipy.spatial import cKDTree

    v = np.asarray(scalp_vertices, float)
    v = v[v[:, 2] >= above_mri_z]
    p = np.asarray(points_mri, float).reshape(-1, 3)
    if not len(v):
        return math.nan
    if not len(p):
        return 0.0
    d, _ = cKDTree(p).query(v, distance_upper_bound=radius_mm)
    return float(np.mean(np.isfinite(d)))


def result_lines(r) -> list[str]:
    """The pipeline result in words: per-fiducial errors (also when refused), FRE, the verdict,
    ICP figures (residuals, signed bias, outliers, post-ICP fiducial check), predicted TRE."""
    lines = [f"FRE {r.fre_mm:.2f} mm (expected {r.expected_fre_mm:.2f} mm for FLE {r.fle_mm:.2f} mm)"]
    lines += [f"  {n}: {e:.2f} mm" for n, e in r.fiducial_errors_mm.items()]
    lines.append("ACCEPTABLE" if r.accepted else f"REFUSED: {r.refusal}")
    lines += [f"WARNING: {w}" for w in r.warnings]
    if r.icp is not None:
        s, res = r.icp.summary, np.array(list(r.icp.residuals_mm.values()), float)
        inl = np.array([n not in set(r.icp.outliers) for n in r.icp.residuals_mm], bool)
        bias = float(np.mean(res[inl])) if inl.any() else math.nan
        lines.append(f"head points: {s['n_points']} ({s['n_inliers']} used, {len(r.icp.outliers)} outliers); "
                     f"residual RMS {s['residual_rms_mm']:.2f} mm, signed bias {bias:+.2f} mm "
                     f"({'outside' if bias > 0 else 'inside'} the scalp on average)")
        lines.append("after ICP, fiducials: " + ", ".join(f"{n} {e:.2f} mm" for n, e in r.icp.fiducial_errors_mm.items()))
        lines.append(f"ICP moved the fit {r.icp.change_translation_mm:.2f} mm / {r.icp.change_rotation_deg:.2f} deg")
    lines += [f"predicted TRE at {n}: {v:.2f} mm" for n, v in r.predicted_tre_mm.items()]
    return lines


def signed_bias_mm(r) -> float:
    """Mean signed head-point residual over the inliers (mm, + outside the scalp), NaN without ICP."""
    if r is None or r.icp is None:
        return math.nan
    out = set(r.icp.outliers)
    v = [x for n, x in r.icp.residuals_mm.items() if n not in out]
    return float(np.mean(v)) if v else math.nan
