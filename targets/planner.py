"""From a T1 MRI and target requests to a Plan (the work behind `navtms plan`).

Target requests (TargetRequest.kind):
  "library": a name from the target library (MNI or subject coordinates);
  "mni":     an MNI152 coordinate (x, y, z) mm;
  "mri":     a subject scanner-RAS coordinate (x, y, z) mm;
  "beam-f3": Beam F3 from tape measurements (tragus-tragus, nasion-inion, circumference) in cm,
             placed on the subject's scalp (needs nasion, LPA, RPA fiducials; inion found or given);
             no values: the three measurements are taken on the scalp mesh. "beam-f4": right side.
  "five-cm": 5 cm anterior of a motor hotspot (x, y, z mri mm) along the scalp.
  "ten-twenty": a 10-20 position (name, e.g. "F3") measured on the scalp, the cortex under it.
  "eeg-cap": an electrode of an EEG cap (values: its mri mm position, targets.interop.eegcap):
             the entry is the scalp point closest to it, the target the cortex under it.
  "pose":    a coil pose imported from another tool (values: the 16 numbers of T_mri_from_coil,
             row-major; targets.interop): kept exactly; the entry is the scalp point closest to
             the coil centre, the target the first brain-surface point along the coil's +z axis
             (the entry when there is no brain surface). A coil centre outside the MRI's field of
             view is refused (the file was made on another image or in another space).
The stages (start_plan, resolve_request, register_plan_to_mni, place_target,
add_requested_targets) are shared by `navtms plan` (build_plan) and the workbench.
MNI targets need T_mri_from_mni: given (transform file) or computed by targets.mni.
All positions are `mri` mm.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from navcore.errors import GeometryError, PlanError
from navcore.mri import MRIVolume, load_mri
from navcore.points import NamedPoints, read_points
from targets.library import LibraryTarget, get_target, load_library
from targets.placement import HeadAxes, closest_point_on_mesh, place_coil
from targets.plan import Plan, PlannedTarget
from targets.surface_cache import cached_brain, cached_scalp, file_sha256
from targets.surfaces import Surface


@dataclass(frozen=True)
class TargetRequest:
    """kind: "library", "mni", "mri", "beam-f3", "beam-f4", "five-cm" or "ten-twenty" (name: the
    10-20 position, e.g. "F3"); name: library name or label;
    values: (3,) coordinates (mm) or Beam F3 measurements (cm)."""

    kind: str
    name: str = ""
    values: tuple[float, ...] = ()
    source: str = ""


@dataclass
class PlanOptions:
    """handle_angle_deg: from the posterior midline, positive outwards (None: 45, DLPFC rule).
    offset_mm: coil face to scalp. entry_method: "closest" or "normal".
    resolution_mm: MNI registration resolution. with_brain: make the brain surface too."""

    handle_angle_deg: float | None = None
    offset_mm: float = 5.0
    entry_method: str = "closest"
    resolution_mm: float = 3.0
    with_brain: bool = True
    brain_mask_path: Path | None = None
    cache_dir: Path | None = None
    user_library: Path | None = None
    inion_mri_mm: np.ndarray | None = None
    log: object = field(default=None)


def fiducial_lookup(fid: NamedPoints | None) -> dict[str, np.ndarray]:
    """{'nasion', 'lpa', 'rpa', 'inion' (when present)} -> (3,) mm; names matched case-insensitively."""
    if fid is None:
        return {}
    aliases = {"nasion": "nasion", "nas": "nasion", "lpa": "lpa", "left": "lpa", "rpa": "rpa", "right": "rpa",
               "inion": "inion", "in": "inion"}
    out = {}
    for n in fid.names:
        k = aliases.get(n.strip().lower())
        if k:
            out[k] = np.asarray(fid[n], dtype=np.float64)
    return out


def signed_distance_to_surface(surface: Surface, p) -> float:
    """Distance (mm) from p to the surface, negative inside (normal-side test at the closest point)."""
    q, i = closest_point_on_mesh(surface, p)
    d = float(np.linalg.norm(np.asarray(p) - q))
    return d if (np.asarray(p) - q) @ surface.normals[i] > 0 else -d


def _log(opts: PlanOptions, msg: str) -> None:
    if callable(opts.log):
        opts.log(msg)


@dataclass(frozen=True)
class ResolvedTarget:
    """A request turned into positions (mri mm) before placement: target_mri_mm is None for an
    MNI target until the MNI transform is known (and for an imported pose); entry_mri_mm is a
    scalp rule's scalp point; pose an imported coil pose."""

    name: str
    target_mri_mm: np.ndarray | None
    mni_mm: np.ndarray | None
    source: str
    notes: str = ""
    entry_mri_mm: np.ndarray | None = None
    pose: np.ndarray | None = None        # an imported T_mri_from_coil, kept as it is


BEAM_SOURCE = ("Beam W, Borckardt JJ, Reeves ST, George MS (2009), Brain Stimulation 2(1):50-54, "
               "doi:10.1016/j.brs.2008.09.006")
TEN_TWENTY_SOURCE = "10-20 system (Jasper 1958), measured on the subject's scalp"


def start_plan(mri_path: str | Path, fiducials: NamedPoints | str | Path | None = None,
               opts: PlanOptions | None = None) -> tuple[Plan, MRIVolume]:
    """An empty plan on this MRI: surfaces (cached), fiducials (a file, NamedPoints or none), no
    targets. Returns (plan, the loaded MRI). Raises PlanError / InputFileError."""
    opts = opts or PlanOptions()
    mri_path = Path(mri_path)
    mri = load_mri(mri_path)
    if float(mri.data.max()) <= 0 or np.count_nonzero(mri.data > 0) < 1000:
        raise PlanError(f"{mri_path}: the MRI holds no head (all, or almost all, voxels are zero)")
    sha = file_sha256(mri_path)
    fid = read_points(fiducials, frame="mri") if isinstance(fiducials, (str, Path)) else fiducials
    look = fiducial_lookup(fid)
    if fid is not None and len(fid) and not {"nasion", "lpa", "rpa"} <= set(look):
        raise PlanError(f"{fiducials if isinstance(fiducials, (str, Path)) else 'the fiducials'}: "
                        "the fiducials must name nasion, LPA and RPA")
    try:
        scalp, hit = cached_scalp(mri, cache_dir=opts.cache_dir, content_sha256=sha)
    except GeometryError as e:
        raise PlanError(f"{mri_path}: no scalp surface can be made ({e})") from e
    _log(opts, f"scalp surface: {scalp.n_triangles} triangles ({'cache' if hit else 'built'})")
    brain = None
    if opts.with_brain:
        try:
            brain, hit = cached_brain(mri, opts.brain_mask_path, cache_dir=opts.cache_dir, content_sha256=sha)
            _log(opts, f"brain surface: {brain.n_triangles} triangles ({'cache' if hit else 'built'})")
        except GeometryError as e:
            _log(opts, f"no brain surface ({e}); scalp-cortex distances are left empty")
    plan = Plan(mri_path=mri_path.resolve(), mri_sha256=sha, targets=(),
                fiducials=fid if fid is not None else NamedPoints((), np.zeros((0, 3)), "mri"),
                scalp=scalp, brain=brain)
    return plan, mri


def plan_axes(plan: Plan) -> HeadAxes:
    """The head axes of a plan: from its nasion, LPA and RPA, else the MRI axes through the
    scalp's centroid (targets.placement)."""
    look = fiducial_lookup(plan.fiducials)
    if {"nasion", "lpa", "rpa"} <= set(look):
        return HeadAxes.from_fiducials(look["nasion"], look["lpa"], look["rpa"])
    return HeadAxes.from_mri_axes(plan.scalp.vertices.mean(axis=0))


def resolve_request(r: TargetRequest, plan: Plan, library: dict | None = None,
                    inion_mri_mm: np.ndarray | None = None, mri: MRIVolume | None = None) -> ResolvedTarget:
    """One request -> positions on this plan's subject (scalp rules run on plan.scalp; an
    imported pose is checked against the MRI's field of view, so it needs `mri`)."""
    look = fiducial_lookup(plan.fiducials)
    if r.kind == "library":
        t: LibraryTarget = get_target(r.name, library if library is not None else load_library())
        return ResolvedTarget(t.name, t.position_mm if t.space == "mri" else None,
                              t.position_mm if t.space == "mni" else None, t.citation(), t.description)
    if r.kind == "mni":
        return ResolvedTarget(r.name or "mni-{:g}_{:g}_{:g}".format(*r.values), None, np.array(r.values, float),
                              "MNI coordinate given by the planner")
    if r.kind == "mri":
        return ResolvedTarget(r.name or "mri-{:g}_{:g}_{:g}".format(*r.values), np.array(r.values, float), None,
                              "subject MRI coordinate given by the planner")
    if r.kind in ("beam-f3", "beam-f4", "ten-twenty"):
        from targets.scalp_rules import beam_f3_on_scalp, ten_twenty_point

        if not {"nasion", "lpa", "rpa"} <= set(look):
            what = "Beam F3" if r.kind != "ten-twenty" else "a 10-20 position"
            raise PlanError(f"{what} needs the nasion, LPA and RPA fiducials (--fiducials)")
        inion = inion_mri_mm if inion_mri_mm is not None else look.get("inion")
        if r.kind == "ten-twenty":
            res = ten_twenty_point(plan.scalp, look["nasion"], look["lpa"], look["rpa"], r.name, inion_mri_mm=inion,
                                   brain=plan.brain)
            return ResolvedTarget(r.name, res.cortex_mri_mm, None, TEN_TWENTY_SOURCE, res.notes, res.scalp_mri_mm)
        vals = tuple(r.values) if r.values else (None, None, None)
        res = beam_f3_on_scalp(plan.scalp, look["nasion"], look["lpa"], look["rpa"], *vals, inion_mri_mm=inion,
                               side="left" if r.kind == "beam-f3" else "right", brain=plan.brain)
        return ResolvedTarget(r.name or r.kind, res.cortex_mri_mm, None, BEAM_SOURCE, res.notes, res.scalp_mri_mm)
    if r.kind == "pose":
        from targets.interop.common import check_pose_in_mri

        if mri is None:
            raise PlanError(f"the imported coil pose '{r.name}' needs the MRI to check its field of view")
        T = np.array(r.values, dtype=np.float64).reshape(4, 4)
        check_pose_in_mri(r.name, T, mri.T_mri_from_voxel, mri.shape, r.source)
        return ResolvedTarget(r.name, None, None, r.source, pose=T)
    if r.kind == "eeg-cap":
        from targets.scalp_rules import _cortex_under

        e = closest_point_on_mesh(plan.scalp, np.array(r.values, float))[0]
        gap = float(np.linalg.norm(e - np.array(r.values, float)))
        return ResolvedTarget(r.name, _cortex_under(plan.scalp, e, plan.brain), None, r.source,
                              f"electrode {gap:.1f} mm from the scalp surface", e)
    if r.kind == "five-cm":
        from targets.scalp_rules import five_cm_rule

        res = five_cm_rule(plan.scalp, np.array(r.values, float), plan_axes(plan), brain=plan.brain)
        return ResolvedTarget(r.name or "five-cm", res.cortex_mri_mm, None, "5 cm rule (Pascual-Leone et al. 1996, "
                              "Lancet 348:233-237, doi:10.1016/S0140-6736(96)01219-6)", res.notes, res.scalp_mri_mm)
    raise PlanError(f"unknown target kind {r.kind!r}")


def register_plan_to_mni(plan: Plan, mri: MRIVolume, resolution_mm: float = 3.0, log=None) -> Plan:
    """The plan with T_mri_from_mni from navtms's own affine registration to MNI152 (targets.mni),
    started from the fiducials when the plan has them."""
    from targets.mni import register_mri_to_mni

    look = fiducial_lookup(plan.fiducials)
    fids = {k: look[k] for k in ("nasion", "lpa", "rpa")} if {"nasion", "lpa", "rpa"} <= set(look) else None
    reg = register_mri_to_mni(mri, fiducials=fids, resolution_mm=resolution_mm)
    if callable(log):
        log(f"MNI registration: {reg.seconds:.1f} s (init {reg.init})")
    return replace(plan, T_mri_from_mni=reg.T_mri_from_mni,
                   mni_transform_source=(f"navtms affine registration to MNI152 2009a (Mattes MI, "
                                         f"{reg.resolution_mm:g} mm, init {reg.init}, {reg.seconds:.1f} s)"))


WARNING_PREFIX = "WARNING: the target lies"


def place_target(plan: Plan, name: str, target_mri_mm, *, source: str = "", notes: str = "", mni_mm=None,
                 entry_mri_mm=None, handle_angle_deg: float | None = None, offset_mm: float = 5.0,
                 entry_method: str = "closest") -> PlannedTarget:
    """A PlannedTarget on this plan's scalp (coil placement, distances, the outside-the-brain
    warning in its notes). All mm in `mri`; entry_mri_mm: a scalp rule's entry (else by
    entry_method). Raises GeometryError for a placement that cannot be made."""
    pos = np.asarray(target_mri_mm, dtype=np.float64).reshape(3)
    notes = notes.split(WARNING_PREFIX)[0].strip()
    if plan.brain is not None:
        sd = signed_distance_to_surface(plan.brain, pos)
        if sd > 2.0:
            notes = (notes + " " if notes else "") + f"{WARNING_PREFIX} {sd:.1f} mm outside the brain surface."
    pl = place_coil(pos, plan.scalp, plan_axes(plan), brain=plan.brain, entry_method=entry_method, offset_mm=offset_mm,
                    handle_angle_deg=handle_angle_deg, entry_mri_mm=entry_mri_mm)
    return PlannedTarget(
        name=name, target_mri_mm=pl.target_mri_mm, entry_mri_mm=pl.entry_mri_mm, T_mri_from_coil=pl.T_mri_from_coil,
        source=source, notes=notes, mni_mm=None if mni_mm is None else np.asarray(mni_mm, dtype=np.float64),
        handle_angle_deg=pl.handle_angle_deg, offset_mm=pl.offset_mm,
        entry_method=pl.entry_method, scalp_target_distance_mm=pl.scalp_target_distance_mm,
        scalp_cortex_distance_mm=pl.scalp_cortex_distance_mm)


def add_requested_targets(plan: Plan, mri: MRIVolume | None, requests: list[TargetRequest],
                          opts: PlanOptions | None = None) -> Plan:
    """The plan with these requests placed after its targets: each resolved, the MNI transform
    registered once when an MNI target needs it and the plan has none (needs `mri`), then placed.
    Raises PlanError for a name asked for twice or already in the plan."""
    opts = opts or PlanOptions()
    library = load_library(opts.user_library) if opts.user_library else load_library()
    resolved = [resolve_request(r, plan, library, opts.inion_mri_mm, mri) for r in requests]
    if any(r.mni_mm is not None and r.target_mri_mm is None for r in resolved) and plan.T_mri_from_mni is None:
        if mri is None:
            raise PlanError("an MNI target needs the MRI to register to MNI152")
        plan = register_plan_to_mni(plan, mri, opts.resolution_mm, log=opts.log)
    planned = list(plan.targets)
    for r in resolved:
        if r.pose is not None:             # an imported coil pose, kept as it is
            planned.append(imported_target(r.name, r.pose, r.source, plan.scalp, plan.brain))
            continue
        pos = r.target_mri_mm
        if pos is None:
            from targets.mni import mni_to_mri

            pos = mni_to_mri(plan.T_mri_from_mni, r.mni_mm)
        planned.append(place_target(plan, r.name, pos, source=r.source, notes=r.notes, mni_mm=r.mni_mm,
                                    entry_mri_mm=r.entry_mri_mm, handle_angle_deg=opts.handle_angle_deg,
                                    offset_mm=opts.offset_mm, entry_method=opts.entry_method))
    names = [p.name for p in planned]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PlanError(f"the target(s) {', '.join(dup)} are asked for more than once")
    return replace(plan, targets=tuple(planned))


def build_plan(mri_path: str | Path, requests: list[TargetRequest], fiducials_path: str | Path | None = None,
               T_mri_from_mni: np.ndarray | None = None, mni_transform_source: str = "",
               opts: PlanOptions | None = None) -> Plan:
    """Make a Plan: surfaces (cached), MNI transform when needed, one coil placement per target
    (start_plan, then add_requested_targets: the workbench calls the same two).
    Raises PlanError / InputFileError / GeometryError with one clear sentence."""
    opts = opts or PlanOptions()
    if not requests:
        raise PlanError("no target asked for; give --target, --mni, --mri or --beam-f3")
    plan, mri = start_plan(mri_path, fiducials_path, opts)
    plan = replace(plan, T_mri_from_mni=T_mri_from_mni, mni_transform_source=mni_transform_source)
    return add_requested_targets(plan, mri, requests, opts)


def imported_target(name: str, T_mri_from_coil: np.ndarray, source: str, scalp: Surface,
                     brain: Surface | None) -> PlannedTarget:
    """A PlannedTarget for an imported coil pose (mri mm): the pose exactly; entry = closest scalp
    point to the coil centre; target = first point along the coil's +z axis inside the brain
    surface (1 mm steps up to 60 mm past the entry), else the entry."""
    c, z = T_mri_from_coil[:3, 3], T_mri_from_coil[:3, 2]
    entry, _ = closest_point_on_mesh(scalp, c)
    target, notes, sc = entry, "imported coil pose; no brain surface: the target is the scalp entry", float("nan")
    if brain is not None:
        for d in np.arange(0.0, 60.0, 1.0):
            p = entry + d * z
            if signed_distance_to_surface(brain, p) <= 0:
                target, sc, notes = p, float(d), "imported coil pose; the target is where the coil axis meets the brain"
                break
        else:
            notes = "imported coil pose; the coil axis meets no brain surface within 60 mm: the target is the scalp entry"
    off = float(np.linalg.norm(c - entry))
    return PlannedTarget(name=name, target_mri_mm=np.asarray(target, float), entry_mri_mm=np.asarray(entry, float),
                         T_mri_from_coil=T_mri_from_coil, source=source, notes=notes, handle_angle_deg=float("nan"),
                         offset_mm=off, entry_method="imported",
                         scalp_target_distance_mm=float(np.linalg.norm(np.asarray(target) - entry)),
                         scalp_cortex_distance_mm=sc)
