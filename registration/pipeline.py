"""The one registration pipeline: fiducials (+ head points on the scalp) -> T_mri_from_b, FRE,
per-fiducial errors, predicted TRE at the targets, ICP figures, warnings and the verdict.

Used by `navtms register` (frame b = `tracker`), the session workflow and the demo (frame b =
`head`, the head reference body) and the desktop app, so one patient gets one verdict:

1. Paired-point fit of the fiducials matched by name (registration.paired_point; Arun/Horn
   SVD). FRE = RMS of the per-fiducial distances under that fit (mm).
2. Gates on that FRE: above `warn_fre_mm` (2 mm) a warning; above `max_fre_mm` (3 mm) refused
   unless `override` (then accepted with a warning saying so). A refused result runs no ICP.
3. With head points and a scalp surface: robust ICP of the head points onto the scalp
   (registration.icp), the fiducials kept as anchors with per-axis sigma FLE / sqrt(3) and the
   head points with `head_point_sigma_mm`.
4. Predicted TRE at each target (mri mm): Fitzpatrick, West & Maurer 1998 (registration.tre)
   for the fiducial fit; after ICP, the ICP fit's first-order covariance with the head points'
   a posteriori noise plus the error of a one-sided offset (IcpResult.predicted_tre).
   The reported `predicted_tre_mm` is that of the final transform.
5. The surface fit's warnings (IcpResult.warnings: an offset of the head points (one-sided
   residuals), fiducial errors after the fit beyond what FLE explains, no convergence) and, per
   target, a warning when the fit moved the target away from the fiducial fit by more than the
   two fits' uncertainties explain (registration.icp_checks.fiducials_vs_surface_warning, a
   Hausman test) join `warnings`: the JSON of `navtms register` and the workbench's registration
   panel show them all.

FLE: `fle_mm` in the settings (RMS 3D, mm; default 2 mm); None estimates it from the FRE
(FRE / sqrt(1 - 2/N), needs >= 3 fiducials). All lengths mm, all transforms 4x4 float64.
No I/O here: callers read the files and write the results.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

import numpy as np

from navcore.errors import RegistrationError
from navcore.points import NamedPoints
from navcore.transforms import apply

WARN_FRE_MM = 2.0
MAX_FRE_MM = 3.0
DEFAULT_FLE_MM = 2.0

METHOD_PAIRED = "paired-point"
METHOD_ICP = "paired-point+icp"


@dataclass(frozen=True)
class RegistrationSettings:
    """How to register (the same for every caller unless a caller is told otherwise).

    fle_mm: RMS 3D fiducial localisation error (mm) for the TRE and the ICP anchors; None =
        estimated from the FRE. head_point_sigma_mm: per-axis error of the head points (mm).
    warn_fre_mm / max_fre_mm: the FRE gates (mm); override: accept above max_fre_mm.
    require_all_names: refuse a fiducial named in only one of the two sets (a typo guard; the
        session sets it False because the operator may skip a fiducial)."""

    fle_mm: Optional[float] = DEFAULT_FLE_MM
    head_point_sigma_mm: float = 1.0
    warn_fre_mm: float = WARN_FRE_MM
    max_fre_mm: float = MAX_FRE_MM
    override: bool = False
    require_all_names: bool = True

    def check(self) -> None:
        """Raise RegistrationError (one sentence) for a setting that makes no sense."""
        if self.fle_mm is not None and not (math.isfinite(self.fle_mm) and self.fle_mm >= 0):
            raise RegistrationError(f"the fiducial localisation error must be a non-negative number of mm, got {self.fle_mm}")
        if not (math.isfinite(self.head_point_sigma_mm) and self.head_point_sigma_mm > 0):
            raise RegistrationError(f"the head point sigma must be a positive number of mm, got {self.head_point_sigma_mm}")
        if not (0 < self.warn_fre_mm <= self.max_fre_mm):
            raise RegistrationError(f"the FRE gates must satisfy 0 < warn ({self.warn_fre_mm}) <= refuse ({self.max_fre_mm}) mm")


@dataclass(frozen=True)
class IcpStats:
    """The surface fit. residuals_mm: signed distance of each head point from the scalp after
    the fit (mm, + outside), by name; outliers: names of points given weight 0;
    fiducial_errors_mm: each anchor fiducial's distance under the final fit (mm);
    change_*: what the ICP changed in the fiducial fit; target_moved_mm: how far it moved each
    target (mm). summary: IcpResult.summary() (counts, residual mean/RMS/max, iterations)."""

    summary: dict
    residuals_mm: dict
    outliers: tuple[str, ...]
    fiducial_errors_mm: dict
    change_translation_mm: float
    change_rotation_deg: float
    target_moved_mm: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RegistrationResult:
    """Outcome of `register` (see the module docstring).

    T_mri_from_b: the final registration (4x4, mm; b = tracker or head), the fiducial fit when
        no ICP ran. T_mri_from_b_fiducials: the paired-point fit.
    names: fiducials used; fiducial_errors_mm: {name: mm} under the paired-point fit; fre_mm:
        their RMS (the gated figure); fle_mm: FLE used; expected_fre_mm: FRE expected for it.
    predicted_tre_mm: {target name: mm} for the final transform; predicted_tre_fiducials_mm:
        the same for the fiducial fit alone (Fitzpatrick). icp: IcpStats or None.
    accepted: False when refused; refusal: why (one sentence, '' when accepted);
    overridden: accepted above max_fre_mm because the caller overrode; warnings: sentences."""

    T_mri_from_b: np.ndarray
    T_mri_from_b_fiducials: np.ndarray
    method: str
    names: tuple[str, ...]
    fiducial_errors_mm: dict
    fre_mm: float
    fle_mm: float
    expected_fre_mm: float
    predicted_tre_mm: dict
    predicted_tre_fiducials_mm: dict
    icp: Optional[IcpStats]
    accepted: bool
    refusal: str = ""
    overridden: bool = False
    warnings: tuple[str, ...] = ()
    settings: RegistrationSettings = RegistrationSettings()

    @property
    def warning(self) -> str:
        """All warnings as one line ('' when none)."""
        return "; ".join(self.warnings)

    @property
    def predicted_tre_max_mm(self) -> float:
        return max(self.predicted_tre_mm.values()) if self.predicted_tre_mm else math.nan

    def raise_if_refused(self) -> "RegistrationResult":
        """Raise RegistrationError(refusal) when refused; else return self."""
        if not self.accepted:
            raise RegistrationError(self.refusal)
        return self


def _head_points(head_points) -> Optional[NamedPoints]:
    if head_points is None:
        return None
    if isinstance(head_points, NamedPoints):
        return head_points if len(head_points.names) else None
    p = np.asarray(head_points, dtype=np.float64).reshape(-1, 3)
    if not len(p):
        return None
    return NamedPoints(tuple(f"h{i + 1}" for i in range(len(p))), p, "b")


def _targets(targets) -> dict[str, np.ndarray]:
    if targets is None:
        return {}
    out = {}
    for name, p in dict(targets).items():
        xyz = np.asarray(p, dtype=np.float64).reshape(-1)
        if xyz.shape != (3,) or not np.all(np.isfinite(xyz)):
            raise RegistrationError(f"target {name!r} must be three finite numbers x,y,z in mri mm")
        out[str(name)] = xyz
    return out


def register(fiducials_mri: NamedPoints, fiducials_b: NamedPoints,
             head_points: Union[NamedPoints, np.ndarray, None] = None, scalp_mesh=None,
             settings: RegistrationSettings = RegistrationSettings(),
             targets: Optional[Mapping[str, np.ndarray]] = None) -> RegistrationResult:
    """Register mri <- b from fiducials (frame mri / frame b, matched by name) and, when both
    `head_points` ((N, 3) mm in frame b, or NamedPoints) and `scalp_mesh` (vertices/normals in
    mri mm, e.g. targets.surfaces.Surface) are given, head points on the scalp.

    targets: {name: (3,) mri mm} for the predicted TRE. Returns a RegistrationResult (refused
    results are returned, not raised: see raise_if_refused). Raises RegistrationError for
    unusable input (too few or degenerate fiducials, bad settings, a failed surface fit)."""
    from registration.paired_point import register_paired_points
    from registration.tre import expected_fre, fle_from_fre, predicted_tre

    settings.check()
    tg = _targets(targets)
    fit = register_paired_points(fiducials_mri, fiducials_b, strict=settings.require_all_names)
    names = tuple(fit.names)
    fre = float(fit.fre_mm)
    fle = float(settings.fle_mm) if settings.fle_mm is not None else fle_from_fre(len(names), fre)
    fid_mri = fiducials_mri.subset(list(names)).positions
    fid_b = fiducials_b.subset(list(names)).positions
    pts = np.array(list(tg.values())).reshape(-1, 3)
    tre_fid = dict(zip(tg, (float(v) for v in predicted_tre(fid_mri, pts, fle)))) if tg else {}
    warnings: list[str] = []
    refusal, overridden = "", False
    if fre > settings.max_fre_mm:
        worst = names[int(np.argmax(fit.errors_mm))]
        detail = (f"FRE {fre:.2f} mm is above the {settings.max_fre_mm:.1f} mm limit "
                  f"(worst '{worst}' {float(np.max(fit.errors_mm)):.1f} mm)")
        if settings.override:
            overridden = True
            warnings.append(f"{detail} (overridden)")
        else:
            refusal = (f"the fiducial registration error is too high: {detail}; re-collect the fiducials "
                       "and check for swapped or mistyped names (or override knowingly)")
    elif fre > settings.warn_fre_mm:
        warnings.append(f"FRE {fre:.2f} mm is above {settings.warn_fre_mm:.1f} mm; consider re-collecting the fiducials")

    T, method, icp_stats, tre = fit.T_a_from_b, METHOD_PAIRED, None, dict(tre_fid)
    hp = _head_points(head_points)
    if not refusal and hp is not None and scalp_mesh is not None:
        from registration.icp import icp_register

        res = icp_register(scalp_mesh, hp.positions, fit.T_a_from_b, fiducials_a=fid_mri, fiducials_b=fid_b,
                           point_sigma_mm=settings.head_point_sigma_mm,
                           fiducial_sigma_mm=max(fle / math.sqrt(3.0), 0.1))
        from registration.icp_checks import fiducials_vs_surface_warning

        T, method = res.T_a_from_b, METHOD_ICP
        moved = {n: float(np.linalg.norm(apply(T, apply(np.linalg.inv(fit.T_a_from_b), p)) - p)) for n, p in tg.items()}
        tre = dict(zip(tg, (float(v) for v in res.predicted_tre(pts)))) if tg else {}
        # the surface fit's own honesty checks (one-sided residuals, fiducial tension, convergence)
        # and, per target, a move the fiducials' uncertainty does not explain
        warnings.extend(res.warnings)
        for n, p in tg.items():
            w = fiducials_vs_surface_warning(res, fit.T_a_from_b, p, target=n)
            if w:
                warnings.append(w)
        icp_stats = IcpStats(summary=res.summary(),
                             residuals_mm={n: float(r) for n, r in zip(hp.names, res.residuals_mm)},
                             outliers=tuple(n for n, ok in zip(hp.names, res.inliers) if not ok),
                             fiducial_errors_mm={n: float(e) for n, e in zip(names, res.fiducial_errors_mm)},
                             change_translation_mm=float(res.change_translation_mm),
                             change_rotation_deg=float(res.change_rotation_deg), target_moved_mm=moved)
    return RegistrationResult(
        T_mri_from_b=T, T_mri_from_b_fiducials=fit.T_a_from_b, method=method, names=names,
        fiducial_errors_mm=fit.per_point(), fre_mm=fre, fle_mm=fle,
        expected_fre_mm=expected_fre(len(names), fle), predicted_tre_mm=tre, predicted_tre_fiducials_mm=tre_fid,
        icp=icp_stats, accepted=not refusal, refusal=refusal, overridden=overridden, warnings=tuple(warnings),
        settings=settings)
