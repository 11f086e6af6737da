"""Depth-adjusted motor threshold and stimulator output.

The motor threshold (MT, % MSO) is measured at the hand knob, whose cortex lies d_M1 mm under
the scalp; a target d_target mm deep needs more output. Stokes et al.'s linear adjustment:

    MT_target = MT + k * (d_target - d_M1)          (% MSO; d in mm along the coil axis)

with k, % MSO per mm, from:
- stokes2005: 3.0  Stokes MG, Chambers CD, Gould IC, Henderson TR, Janko NE, Allen NB,
  Mattingley JB (2005) Simple metric for scaling motor threshold based on scalp-cortex
  distance: application to studies using transcranial magnetic stimulation. Journal of
  Neurophysiology 94(6):4520-4527. VERIFIED, abstract (mendeley.com and concepedia copies):
  "for every millimeter from the stimulating coil, an additional 3% of TMS output is required".
- stokes2007: 2.8  Stokes MG, Chambers CD, Gould IC, English T, McNaught E, McDonald O,
  Mattingley JB (2007) Distance-adjusted motor threshold for transcranial magnetic
  stimulation. Clinical Neurophysiology 118(7):1617-1625. VERIFIED, abstract (c.coek.info copy
  of the paper, Results): "For each additional millimetre separating the stimulating coil from
  the scalp surface, an additional 2.8% of absolute stimulator output (0.062 T) was required to
  reach MT"; coil-scalp distance set with 5 and 10 mm acrylic separators, 50 and 70 mm
  figure-eight coils, no difference between hemispheres or coils.
- stokes2013: 2.7  Stokes MG, Barker AT, Dervinis M, Verbruggen F, Maizey L, Adams RC,
  Chambers CD (2013) Biophysical determinants of transcranial magnetic stimulation: effects of
  excitability and depth of targeted area. Journal of Neurophysiology 109(2):437-444; figure-8
  biphasic coil. UNVERIFIED: no stored copy of the paper or its abstract was found; value,
  coil and citation as given in the issue.

Capping (a clinic setting, not a published figure): the adjustment is limited to
+/- max_adjust_pct_mso (default 15 % MSO) and the output to 100 % MSO; every cap sets a flag
that goes into the record and the report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from navcore.errors import NavtmsError

K_PCT_PER_MM = {
    "stokes2005": (3.0, "Stokes et al. 2005, J Neurophysiol 94(6):4520-4527 (abstract)", True),
    "stokes2007": (2.8, "Stokes et al. 2007, Clin Neurophysiol 118(7):1617-1625 (abstract)", True),
    "stokes2013": (2.7, "Stokes et al. 2013, J Neurophysiol 109(2):437-444 (figure-8 biphasic)", False),
}
DEFAULT_K = "stokes2005"
DEFAULT_MAX_ADJUST_PCT_MSO = 15.0


@dataclass(frozen=True)
class DepthAdjustment:
    """mt_pct_mso: measured MT; d_m1_mm, d_target_mm: scalp-cortex distances along the coil
    axis; k_name/k_pct_per_mm/k_source/k_verified: the slope used; raw_pct_mso: MT + k*dd;
    adjusted_mt_pct_mso: after the cap; capped: the cap changed it; flags: sentences for the
    report."""

    mt_pct_mso: float
    d_m1_mm: float
    d_target_mm: float
    k_name: str
    k_pct_per_mm: float
    k_source: str
    k_verified: bool
    raw_pct_mso: float
    adjusted_mt_pct_mso: float
    capped: bool
    flags: tuple[str, ...]

    def to_json(self) -> dict:
        return dict(self.__dict__, flags=list(self.flags))


def adjust_mt(mt_pct_mso: float, d_m1_mm: float, d_target_mm: float, k_name: str = DEFAULT_K,
              max_adjust_pct_mso: float = DEFAULT_MAX_ADJUST_PCT_MSO) -> DepthAdjustment:
    """MT moved to the target's depth (module docstring). NavtmsError for a non-finite or
    non-positive input or an unknown k."""
    if k_name not in K_PCT_PER_MM:
        raise NavtmsError(f"unknown depth slope '{k_name}'; use one of {', '.join(K_PCT_PER_MM)}")
    vals = (mt_pct_mso, d_m1_mm, d_target_mm, max_adjust_pct_mso)
    if not all(math.isfinite(v) for v in vals) or not 0 < mt_pct_mso <= 100 or d_m1_mm <= 0 or d_target_mm <= 0 \
            or max_adjust_pct_mso < 0:
        raise NavtmsError(f"depth adjustment needs an MT in (0, 100] % MSO and positive depths "
                          f"(got MT {mt_pct_mso}, d_M1 {d_m1_mm} mm, d_target {d_target_mm} mm)")
    k, source, verified = K_PCT_PER_MM[k_name]
    raw = mt_pct_mso + k * (d_target_mm - d_m1_mm)
    adj = min(max(raw, mt_pct_mso - max_adjust_pct_mso), mt_pct_mso + max_adjust_pct_mso)
    flags = []
    if adj != raw:
        flags.append(f"depth adjustment {raw - mt_pct_mso:+.1f}% MSO capped at {adj - mt_pct_mso:+.1f}% MSO "
                     f"(limit +/-{max_adjust_pct_mso:g})")
    if adj > 100.0:
        flags.append(f"adjusted MT {adj:.1f}% MSO exceeds the stimulator; capped at 100% MSO")
        adj = 100.0
    if not verified:
        flags.append(f"slope {k:g} %/mm ({source}) not verified against the paper")
    return DepthAdjustment(float(mt_pct_mso), float(d_m1_mm), float(d_target_mm), k_name, k, source, verified,
                           float(raw), float(adj), adj != raw, tuple(flags))


def output_pct_mso(mt_pct_mso: float, pct_of_mt: float) -> tuple[float, bool]:
    """Stimulator output for `pct_of_mt` % of an MT (% MSO), rounded to 1 % MSO as stimulators
    are set, and whether it had to be capped at 100 % MSO."""
    out = float(round(mt_pct_mso * pct_of_mt / 100.0))
    return (100.0, True) if out > 100.0 else (out, False)
