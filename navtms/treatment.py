"""A session's treatment record: the protocol it follows (therapy.protocol) with the motor
threshold it used, the depth adjustment, the safety check and the stimulator output.

The record is the `record` block of SESSION/protocol.json (navtms.session_protocol.Protocol keeps the
flat figures the course report reads, and this block keeps the whole story):
{"protocol": Protocol.to_json() (with intensity.mt and any override), "safety":
SafetyReport.to_json(), "depth": {DepthAdjustment + the axis crossings, mri mm} or null,
"mt_pct_mso": the MT used (% MSO, after depth adjustment), "output_pct_mso": the stimulator
output, "output_capped": bool, "flags": [sentences for the report]}.

Depth: the scalp-to-cortex distance along the coil axis (targets.placement.
depth_along_coil_axis) of the course target's planned coil and of the motor hotspot's (the
plan target named by `m1_target`, default 'hotspot', else the first whose name starts with
'm1'), on the plan's scalp and brain surfaces.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from navcore.errors import NavtmsError, PlanError
from therapy.dose import DEFAULT_K, DEFAULT_MAX_ADJUST_PCT_MSO, adjust_mt, output_pct_mso
from therapy.protocol import CoilRef, MotorThresholdRef, Override, Protocol, TargetRef
from therapy.safety import require_safe


@dataclass(frozen=True)
class TreatmentRecord:
    protocol: Protocol
    safety: dict
    depth: Optional[dict]
    mt_pct_mso: float
    output_pct_mso: float
    output_capped: bool
    flags: tuple[str, ...]

    def to_json(self) -> dict:
        return {"protocol": self.protocol.to_json(), "safety": self.safety, "depth": self.depth,
                "mt_pct_mso": self.mt_pct_mso, "output_pct_mso": self.output_pct_mso,
                "output_capped": self.output_capped, "flags": list(self.flags)}


def m1_target_name(plan, wanted: Optional[str] = None) -> str:
    names = [t.name for t in plan.targets]
    if wanted:
        plan.target(wanted)            # PlanError naming the targets
        return wanted
    if "hotspot" in names:
        return "hotspot"
    m1 = [n for n in names if n.lower().startswith("m1")]
    if not m1:
        raise PlanError("the plan has no motor hotspot target ('hotspot' or a name starting with 'm1'); "
                        "run navtms hotspot first or name it with --m1-target")
    return m1[0]


def axis_depths(plan, target_name: str, m1_name: Optional[str] = None) -> dict:
    """Scalp-cortex distances (mm) along the planned coil axes of the target and of M1."""
    from targets.placement import depth_along_coil_axis

    if plan.scalp is None or plan.brain is None:
        raise PlanError("the plan has no brain surface (or no scalp): the depth adjustment needs both; "
                        "plan again with a brain surface or record the protocol without depth adjustment")
    m1 = m1_target_name(plan, m1_name)
    dt = depth_along_coil_axis(plan.target(target_name).T_mri_from_coil, plan.scalp, plan.brain)
    dm = depth_along_coil_axis(plan.target(m1).T_mri_from_coil, plan.scalp, plan.brain)
    return {"target": target_name, "m1_target": m1, "d_target_mm": dt.scalp_cortex_mm, "d_m1_mm": dm.scalp_cortex_mm,
            "target_scalp_mri_mm": dt.scalp_mri_mm.tolist(), "target_cortex_mri_mm": dt.cortex_mri_mm.tolist(),
            "m1_scalp_mri_mm": dm.scalp_mri_mm.tolist(), "m1_cortex_mri_mm": dm.cortex_mri_mm.tolist()}


def build_record(protocol: Protocol, mt: MotorThresholdRef, *, depths: Optional[dict] = None,
                 k_name: str = DEFAULT_K, max_adjust_pct_mso: float = DEFAULT_MAX_ADJUST_PCT_MSO,
                 override: Optional[Override] = None, target: Optional[TargetRef] = None,
                 coil: Optional[CoilRef] = None) -> TreatmentRecord:
    """The record of one session: safety first (ProtocolSafetyError unless overridden), then the
    dose. depths: axis_depths() when the protocol is depth-adjusted (NavtmsError without).
    target, coil: what the session really used (default: the protocol's own)."""
    p = replace(protocol, intensity=replace(protocol.intensity, mt=mt), target=target or protocol.target,
                coil=coil or protocol.coil)
    if override is not None:
        p = p.with_override(override)
    rep = require_safe(p)
    flags = [f"outside the safety tables, overridden ({p.override.reason}): {f.text}" for f in rep.failures]
    mt_used = mt.value_pct_mso
    depth = None
    if p.intensity.depth_adjusted:
        if depths is None:
            raise NavtmsError(f"protocol '{p.name}' is depth-adjusted: the plan's depths at the target and M1 are needed")
        adj = adjust_mt(mt.value_pct_mso, depths["d_m1_mm"], depths["d_target_mm"], k_name, max_adjust_pct_mso)
        depth = {**depths, **adj.to_json()}
        mt_used = adj.adjusted_mt_pct_mso
        flags += list(adj.flags)
    out, capped = output_pct_mso(mt_used, p.intensity.pct)
    if capped:
        flags.append(f"{p.intensity.pct:g}% of {mt_used:.1f}% MSO exceeds the stimulator; output capped at 100% MSO")
    return TreatmentRecord(p, rep.to_json(), depth, float(mt_used), out, capped, tuple(flags))


def record_from_json(obj, path: str | Path) -> TreatmentRecord:
    """Read the record block back (the protocol is validated; figures are taken as written)."""
    from navcore.errors import InputFileError
    from therapy.protocol import protocol_from_json

    if not isinstance(obj, dict) or not isinstance(obj.get("safety"), dict):
        raise InputFileError(path, "the protocol record block is malformed (no 'safety')")
    try:
        return TreatmentRecord(protocol_from_json(obj.get("protocol"), path), obj["safety"], obj.get("depth"),
                               float(obj["mt_pct_mso"]), float(obj["output_pct_mso"]), bool(obj["output_capped"]),
                               tuple(str(f) for f in obj.get("flags") or ()))
    except (KeyError, TypeError, ValueError):
        raise InputFileError(path, "the protocol record block is malformed (MT, output or flags)") from None
