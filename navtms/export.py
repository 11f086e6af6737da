"""Exports to other tools (the work behind `navtms export`): a plan's targets, a session's pulses.

Targets: every planned T_mri_from_coil, written by targets.interop (SimNIBS, Brainsight, Localite,
visor2). Pulses (pulses.csv, navigation.pulses) become samples: one per fired pulse, in order.
Brainsight sample columns from the pulse row: Index = pulse, Assoc. Target = target,
Dist. to Target = distance_mm, Target Error = axis_miss_mm (distance from the target to the coil
axis), Angular Error = tilt_deg, Twist Error = twist_deg, Comment = "t=<time_s> s" (the session's
monotonic clock; Date/Time are (null): navtms logs no wall-clock time per pulse), Creation Cause
= "TMS Pulse". Localite trigger markers: recordingTime = ms since the first pulse. A pulse
whose coil pose was not seen keeps its row with (null) position (Brainsight) or Localite's
untracked matrix, so pulse counts match.
"""
from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError
from navcore.transforms import transform_from_pose
from targets.interop import CoilPose


def plan_targets(plan_path: str | Path, names=()) -> list[CoilPose]:
    """The plan's targets as CoilPose (all, or those named)."""
    from targets.plan import load_plan

    plan = load_plan(plan_path, checksum="skip", load_surfaces=False)
    targets = [plan.target(n) for n in names] if names else list(plan.targets)
    return [CoilPose(t.name, t.T_mri_from_coil, "target") for t in targets]


def _truthy(v: str) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes")


def pulse_samples(pulses_csv: str | Path) -> list[CoilPose]:
    """Fired pulses of a pulses.csv as samples (T None when the coil was not seen)."""
    path = Path(pulses_csv)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(path, f"cannot be read as a pulses CSV ({e.__class__.__name__})") from e
    need = {"pulse", "time_s", "fired", "visible", "target", "tx_mm", "qw"}
    if rows and not need <= set(rows[0]):
        raise InputFileError(path, f"is not a navtms pulses.csv (missing {sorted(need - set(rows[0]))[0]!r})")
    out, t0 = [], None
    for r in rows:
        if not _truthy(r["fired"]):
            continue
        try:
            t_s = Decimal(r["time_s"])
        except InvalidOperation:
            raise InputFileError(path, f"pulse {r['pulse']}: time_s '{r['time_s']}' is not a number") from None
        t0 = t_s if t0 is None else t0
        T = None
        if _truthy(r["visible"]) and r["tx_mm"]:
            try:
                T = transform_from_pose(np.array([float(r[k]) for k in ("tx_mm", "ty_mm", "tz_mm")]),
                                        np.array([float(r[k]) for k in ("qw", "qx", "qy", "qz")]))
            except ValueError:
                raise InputFileError(path, f"pulse {r['pulse']}: the pose is not numbers") from None
        fields = {"Index": r["pulse"], "Assoc. Target": r["target"], "Dist. to Target": r.get("distance_mm", ""),
                  "Target Error": r.get("axis_miss_mm", ""), "Angular Error": r.get("tilt_deg", ""),
                  "Twist Error": r.get("twist_deg", ""), "Creation Cause": "TMS Pulse",
                  "Comment": f"t={r['time_s']} s", "recordingTime": str(int((t_s - t0) * 1000))}
        out.append(CoilPose(f"Sample {r['pulse']}", T, "sample", fields))
    if not out:
        raise InputFileError(path, "holds no fired pulses to export")
    return out


def export(fmt: str, out: Path, targets=(), samples=(), space: str = "RAS") -> Path:
    """Write targets and/or samples in `fmt` to `out` (caller checked the output path)."""
    from targets.interop import brainsight, localite, simnibs, visor2

    if fmt == "brainsight":
        return brainsight.write(out, targets, samples)
    if samples:
        if fmt != "localite":
            raise InputFileError(out, f"{fmt} has no file for pulses; export them as brainsight or localite")
        return localite.write_trigger_markers(out, samples, space)
    if fmt == "localite":
        return localite.write_instrument_markers(out, targets, space)
    if fmt == "simnibs":
        return simnibs.write(out, targets)
    if fmt == "visor2":
        return visor2.write(out, targets)
    raise ValueError(f"unknown format {fmt!r}")
