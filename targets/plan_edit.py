"""Edits of a plan, as pure functions Plan -> new Plan (the workbench's undo stack keeps the
plans before and after each edit; no GUI here).

Every placement goes through targets.planner.place_target (the same code `navtms plan` uses),
so a target clicked in the workbench is planned exactly as `navtms plan --mri X,Y,Z` would plan
it. Positions are `mri` (scanner RAS+) mm, angles in degrees (screen values, `*_deg`).
Changing a fiducial re-plans every target (the head axes, and so the handle direction, follow
the fiducials), keeping each target's handle angle, offset and entry rule. A coil pose imported
from another tool (entry_method "imported") is kept exactly: fiducials leave it alone, its
options cannot be changed, and moving it makes it a planned target.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from navcore.errors import PlanError
from navcore.points import NamedPoints
from targets.plan import Plan, PlannedTarget
from targets.planner import fiducial_lookup, place_target

CLICK_SOURCE = "subject MRI coordinate given by the planner"
FIDUCIAL_NAMES = ("nasion", "lpa", "rpa")


def _index(plan: Plan, name: str) -> int:
    for i, t in enumerate(plan.targets):
        if t.name == name:
            return i
    raise PlanError(f"the plan has no target '{name}'")


def _check_new_name(plan: Plan, name: str, ignore: str | None = None) -> str:
    name = str(name).strip()
    if not name:
        raise PlanError("a target needs a name")
    if any(t.name == name and t.name != ignore for t in plan.targets):
        raise PlanError(f"the plan already has a target named '{name}'")
    return name


def unique_name(plan: Plan, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever the plan does not have yet."""
    names = {t.name for t in plan.targets}
    if base not in names:
        return base
    i = 2
    while f"{base}-{i}" in names:
        i += 1
    return f"{base}-{i}"


IMPORTED = "imported"


def _replan(plan: Plan, t: PlannedTarget, **changes) -> PlannedTarget:
    """t placed again on `plan` with some of its inputs changed (a scalp rule's entry is kept)."""
    if t.entry_method == IMPORTED:
        if not changes:
            return t                          # an imported pose is kept exactly
        raise PlanError(f"'{t.name}' is a coil pose imported from another tool and is kept as it is; "
                        "move it to plan it here")
    given = t.entry_method == "given"
    args = dict(source=t.source, notes=t.notes, mni_mm=t.mni_mm, handle_angle_deg=t.handle_angle_deg,
                offset_mm=t.offset_mm, entry_method="closest" if given else t.entry_method,
                entry_mri_mm=t.entry_mri_mm if given else None)
    pos = changes.pop("target_mri_mm", t.target_mri_mm)
    args.update(changes)
    return place_target(plan, t.name, pos, **args)


def add_target(plan: Plan, name: str, target_mri_mm, source: str = CLICK_SOURCE, notes: str = "",
               handle_angle_deg: float | None = None, offset_mm: float = 5.0, entry_method: str = "closest",
               mni_mm=None, entry_mri_mm=None) -> Plan:
    """The plan with a new target at the end."""
    name = _check_new_name(plan, name)
    t = place_target(plan, name, target_mri_mm, source=source, notes=notes, mni_mm=mni_mm, entry_mri_mm=entry_mri_mm,
                     handle_angle_deg=handle_angle_deg, offset_mm=offset_mm, entry_method=entry_method)
    return replace(plan, targets=plan.targets + (t,))


def move_target(plan: Plan, name: str, target_mri_mm) -> Plan:
    """The target moved to a new cortical point by the planner: it is now a subject MRI
    coordinate (its MNI coordinate and any scalp rule's entry no longer apply; the old source
    is kept in the notes)."""
    i = _index(plan, name)
    t = plan.targets[i]
    note = t.notes.split("Moved by the planner")[0].strip()
    was = t.source if t.source != CLICK_SOURCE else ""
    if was:
        note = (note + " " if note else "") + f"Moved by the planner from: {was}."
    elif "Moved by the planner" in t.notes:
        note = t.notes
    if t.entry_method == IMPORTED:            # planned here from now on, with the default coil rules
        t = replace(t, entry_method="closest", handle_angle_deg=45.0, offset_mm=5.0, notes="")
    new = _replan(plan, t, target_mri_mm=np.asarray(target_mri_mm, float), source=CLICK_SOURCE, notes=note,
                  mni_mm=None, entry_mri_mm=None)
    return replace(plan, targets=plan.targets[:i] + (new,) + plan.targets[i + 1:])


def set_target_options(plan: Plan, name: str, handle_angle_deg: float | None = None, offset_mm: float | None = None,
                       entry_method: str | None = None) -> Plan:
    """The target re-placed with a new handle angle, coil offset and/or entry method."""
    i = _index(plan, name)
    t = plan.targets[i]
    ch = {}
    if handle_angle_deg is not None:
        ch["handle_angle_deg"] = float(handle_angle_deg)
    if offset_mm is not None:
        ch["offset_mm"] = float(offset_mm)
    if entry_method is not None:
        if entry_method not in ("closest", "normal"):
            raise PlanError(f"the entry method must be 'closest' or 'normal', not {entry_method!r}")
        ch["entry_method"], ch["entry_mri_mm"] = entry_method, None
    new = _replan(plan, t, **ch)
    return replace(plan, targets=plan.targets[:i] + (new,) + plan.targets[i + 1:])


def rename_target(plan: Plan, name: str, new_name: str) -> Plan:
    i = _index(plan, name)
    new_name = _check_new_name(plan, new_name, ignore=name)
    return replace(plan, targets=plan.targets[:i] + (replace(plan.targets[i], name=new_name),) + plan.targets[i + 1:])


def remove_target(plan: Plan, name: str) -> Plan:
    i = _index(plan, name)
    return replace(plan, targets=plan.targets[:i] + plan.targets[i + 1:])


def reorder_target(plan: Plan, name: str, new_index: int) -> Plan:
    """The target moved to position new_index (clamped) in the list."""
    i = _index(plan, name)
    rest = list(plan.targets[:i] + plan.targets[i + 1:])
    j = max(0, min(int(new_index), len(rest)))
    rest.insert(j, plan.targets[i])
    return replace(plan, targets=tuple(rest))


def set_fiducial(plan: Plan, name: str, position_mri_mm) -> Plan:
    """The plan with fiducial `name` (nasion, lpa, rpa or inion; any case) at this point; every
    target is re-planned once nasion, LPA and RPA are all known (the handle follows the head axes)."""
    key = str(name).strip().lower()
    if key not in (*FIDUCIAL_NAMES, "inion"):
        raise PlanError(f"'{name}' is not a fiducial; use nasion, LPA, RPA or inion")
    p = np.asarray(position_mri_mm, dtype=np.float64).reshape(3)
    names, pts = list(plan.fiducials.names), [np.asarray(plan.fiducials[n], float) for n in plan.fiducials.names]
    look_keys = [fiducial_lookup(NamedPoints((n,), np.zeros((1, 3)), "mri")) for n in names]
    idx = next((i for i, lk in enumerate(look_keys) if key in lk), None)
    if idx is None:
        names.append(key)
        pts.append(p)
    else:
        pts[idx] = p
    fid = NamedPoints(tuple(names), np.array(pts).reshape(-1, 3), "mri")
    new = replace(plan, fiducials=fid)
    if {"nasion", "lpa", "rpa"} <= set(fiducial_lookup(fid)) and key in FIDUCIAL_NAMES:
        new = replace(new, targets=tuple(_replan(new, t) for t in plan.targets))
    return new


def set_fiducials(plan: Plan, points: NamedPoints) -> Plan:
    """The plan with every fiducial in `points` (nasion, LPA, RPA, inion; other names refused)
    set, targets re-planned once (e.g. a fiducials file imported into the workbench)."""
    look = fiducial_lookup(points)
    if not look:
        raise PlanError("the points name no fiducial (nasion, LPA, RPA or inion)")
    new = plan
    for k, p in look.items():
        new = set_fiducial(new, k, p)
    return new
