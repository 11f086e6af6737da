"""`navtms session new|calibrate|register|show`: the operator's steps before navigating.

    navtms session new DIR --plan PLAN [--camera CAM] [--pointer-tip X,Y,Z] [--tolerance-mm 3]
                           [--tolerance-deg 3] [--twist-deg D] [--lock-to-target] [--filter]
    navtms session calibrate DIR --source SPEC [--pivot] [--coil]
    navtms session calibrate DIR [--pivot-from POSELOG | --pointer-tip X,Y,Z]
                                 [--coil-points FILE | --coil-transform FILE]
    navtms session register DIR --source SPEC [--head-points N] [--samples N] [--override]
    navtms session register DIR --from registration.json [--override]
    navtms session show DIR
Keyboard driven in the terminal (Enter samples a point, q or Ctrl-D stops: "stopped by the
operator", exit 2, nothing replaced); no GUI toolkit. From files, for scripted runs: see
navtms.session_files. Every registration attempt is kept apart in attempts/NNN (navtms.attempts);
only an accepted one becomes the session's registration.
"""
from __future__ import annotations

import json

from navcore.errors import SessionError

NAME = "session"
HELP = "make a session from a plan, calibrate pointer/coil, collect fiducials and register"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="step", metavar="STEP", required=True)
    new = sub.add_parser("new", help="make a session folder from a plan")
    new.add_argument("folder")
    new.add_argument("--plan", required=True, help="plan folder (navtms plan)")
    new.add_argument("--camera", help="camera calibration file (navtms calibrate-camera)")
    for b in ("coil", "head", "pointer"):
        new.add_argument(f"--{b}-body", help=f"{b} marker body file (default data/bodies/{b}.json)")
    new.add_argument("--pointer-tip", help="pointer tip X,Y,Z in the pointer body frame (mm), if known")
    new.add_argument("--tolerance-mm", type=float, default=3.0)
    new.add_argument("--tolerance-deg", type=float, default=3.0)
    new.add_argument("--twist-deg", type=float, help="also require |twist| within this (deg)")
    new.add_argument("--lock-to-target", action="store_true", help="refuse pulses while off target")
    new.add_argument("--filter", action="store_true", help="One-Euro filter the poses")
    new.add_argument("--coil-model", metavar="NAME|FILE",
                     help="coil drawn as the planned ghost and the live coil: figure8-70, figure8-cooled, double-cone, "
                          "h-type, or an STL/PLY/OBJ mesh (mm)")
    new.add_argument("--coil-model-transform", metavar="FILE",
                     help="4x4 T_coil_from_mesh (4 lines of 4 numbers, mm) for a mesh not drawn in the coil frame")
    cal = sub.add_parser("calibrate", help="pivot-calibrate the pointer and/or calibrate the coil frame")
    cal.add_argument("folder")
    cal.add_argument("--source", help="live or recorded source for --pivot / --coil (prompts)")
    tip = cal.add_mutually_exclusive_group()
    tip.add_argument("--pivot", action="store_true", help="pivot calibration of the pointer tip (with --source)")
    tip.add_argument("--pivot-from", metavar="POSELOG", help="pivot calibration from a pose log of the pointer (no prompts)")
    tip.add_argument("--pointer-tip", metavar="X,Y,Z", help="the pointer tip in the pointer body frame (mm), known")
    coil = cal.add_mutually_exclusive_group()
    coil.add_argument("--coil", action="store_true", help="touch coil centre, handle and side (with --source)")
    coil.add_argument("--coil-points", metavar="FILE",
                      help="centre, handle, side in the coil body frame (CSV name,x_mm,y_mm,z_mm or .mrk.json)")
    coil.add_argument("--coil-transform", metavar="FILE",
                      help="T_coilbody_from_coil: 4 lines of 4 numbers (mm) or JSON {\"T_coilbody_from_coil\": 4x4}")
    cal.add_argument("--pivot-poses", type=int, default=150, metavar="N",
                     help="pointer poses to collect for the pivot (default 150, as the workbench; ~5 s at 30 Hz, use "
                          "more for a slow swing); every pose collected is used (or all until the source ends)")
    cal.add_argument("--device", action="append", default=[], metavar="BODY=DEVICE", help=_device_help())
    reg = sub.add_parser("register", help="collect the plan's fiducials with the pointer and register")
    reg.add_argument("folder")
    where = reg.add_mutually_exclusive_group(required=True)
    where.add_argument("--source", help="live or recorded source of the tracked pointer (prompts)")
    where.add_argument("--from", dest="from_file", metavar="REGISTRATION_JSON",
                       help="what navtms register wrote (fiducials in the head body frame); recomputed and checked")
    reg.add_argument("--samples", type=int, default=20, help="samples per point (median)")
    reg.add_argument("--head-points", type=int, default=0, help="also sweep N head points for ICP")
    reg.add_argument("--fle-mm", type=float, default=None,
                     help="RMS fiducial localisation error, mm, for the TRE and the surface fit (default 2, as navtms register; with --from: the file's)")
    reg.add_argument("--override", action="store_true", help="accept an FRE above 3 mm")
    reg.add_argument("--device", action="append", default=[], metavar="BODY=DEVICE", help=_device_help())
    show = sub.add_parser("show", help="print the session")
    show.add_argument("folder")
    cap = sub.add_parser("digitise-cap", help="touch EEG electrodes with the pointer; save and export them")
    cap.add_argument("folder")
    cap.add_argument("--source", required=True)
    labels = cap.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="electrode labels in the order to touch them, e.g. Nz,LPA,RPA,F3,F4,Cz")
    labels.add_argument("--cap", help="a cap file (.elc, .sfp, .bvct, CSV) whose labels to touch, in its order")
    cap.add_argument("--samples", type=int, default=20, help="samples per electrode (median)")
    cap.add_argument("--out", help="also write the electrodes (.elc, .sfp, .bvct or .csv; mri frame when registered)")
    cap.add_argument("--force", action="store_true", help="replace an existing --out file")


def _device_help() -> str:
    from igtl.devices import DEVICE_HELP

    return DEVICE_HELP


def _vec3(text: str, what: str):
    import numpy as np

    try:
        v = np.array([float(x) for x in text.split(",")])
        if v.shape != (3,) or not np.all(np.isfinite(v)):
            raise ValueError
    except ValueError:
        raise SessionError(f"{what} {text!r} is not X,Y,Z in mm") from None
    return v


def run(args) -> int:
    if getattr(args, "step", None) == "register":
        args.fle_mm_given = args.fle_mm is not None
        args.fle_mm = 2.0 if args.fle_mm is None else float(args.fle_mm)
    return {"new": _new, "calibrate": _calibrate, "register": _register, "show": _show,
            "digitise-cap": _digitise_cap}[args.step](args)


def _new(args) -> int:
    from pathlib import Path

    from navigation.navigator import Tolerances
    from navtms.session import create_session
    from targets.plan import load_plan

    coil_model = _coil_model_arg(args)
    plan = load_plan(args.plan, load_surfaces=False)
    repo_bodies = Path(__file__).resolve().parents[2] / "data" / "bodies"
    bodies = {b: str(Path(getattr(args, f"{b}_body") or repo_bodies / f"{b}.json").resolve())
              for b in ("coil", "head", "pointer")}
    s = create_session(args.folder, plan.targets, plan=str(Path(args.plan).resolve()),
                       camera=str(Path(args.camera).resolve()) if args.camera else None, bodies=bodies,
                       pointer_tip_mm=_vec3(args.pointer_tip, "--pointer-tip") if args.pointer_tip else None,
                       tolerances=Tolerances(args.tolerance_mm, args.tolerance_deg, args.twist_deg),
                       lock_to_target=args.lock_to_target, filter=args.filter, coil_model=coil_model)
    print(f"session {s.folder}: {len(s.targets)} target(s): {', '.join(t.name for t in s.targets)}")
    return 0


def _open(session, spec, names, devices=()):
    from igtl.devices import source_options
    from navtms.replay import build_estimator
    from navtms.workflow import pose_reader
    from navigation.sources import open_source

    source = open_source(spec, **source_options(spec, devices))
    return source, pose_reader(source, build_estimator(session, source, names))


def _calibrate(args) -> int:
    from navtms.session import load_session
    from navtms.workflow import ask, calibrate_coil_interactive, collect_pivot

    s = load_session(args.folder)
    if not (args.pivot or args.coil or args.pivot_from or args.pointer_tip or args.coil_points or args.coil_transform):
        raise SessionError("say what to calibrate: --pivot, --pivot-from, --pointer-tip, --coil, --coil-points "
                           "or --coil-transform")
    if (args.pivot or args.coil) and not args.source:
        raise SessionError("--pivot and --coil collect with the tracked pointer: name it with --source")
    tip, T = _calibration_files(args)       # every file read and checked before anything is saved
    if tip is not None:
        s = s.with_(pointer_tip_mm=tip)
        s.save()
    source = read = None
    if args.pivot or args.coil:
        source, read = _open(s, args.source, ("pointer", "coil", "head"), args.device)
    try:
        if args.pivot:
            ask(None, "Put the pointer tip in a divot; press Enter and swing it in two directions: ", "pivot calibration")
            res = collect_pivot(read, n=args.pivot_poses, min_poses=min(100, args.pivot_poses))
            sd = res.tip_sd_mm()[0]
            print(f"pointer tip {res.tip_tool.round(2).tolist()} mm from {res.n_poses} poses, "
                  f"{100 * res.inlier_fraction:.0f} % inliers within {res.threshold_mm:.2f} mm; RMS {res.rms_all_mm:.2f} mm "
                  f"over all poses, {res.rms_mm:.2f} mm over the inliers; tip SD {sd[0]:.2f} mm (worst axis)")
            s = s.with_(pointer_tip_mm=res.tip_tool)
            s.save()
        if args.coil:
            if s.pointer_tip_mm is None:
                raise SessionError(f"{s.folder}: the pointer tip is not calibrated; run with --pivot first")
            T = calibrate_coil_interactive(read, s.pointer_tip_mm)
        if T is not None:
            s = s.with_(T_coilbody_from_coil=T)
            s.save()
            print("coil calibrated: T_coilbody_from_coil saved")
    finally:
        if source is not None:
            source.close()
    return 0


def _calibration_files(args):
    """(pointer tip (3,) or None, T_coilbody_from_coil or None) from --pivot-from, --pointer-tip,
    --coil-points, --coil-transform."""
    from navtms.session_files import coil_calibration_from_points, pointer_tip_from_pose_log, read_transform

    tip = T = None
    if args.pivot_from:
        res = pointer_tip_from_pose_log(args.pivot_from)
        tip = res.tip_tool
        print(f"pointer tip {res.tip_tool.round(2).tolist()} mm, RMS {res.rms_mm:.2f} mm "
              f"({int(res.inliers.sum())} of {len(res.inliers)} poses)")
    elif args.pointer_tip:
        tip = _vec3(args.pointer_tip, "--pointer-tip")
    if args.coil_points:
        T = coil_calibration_from_points(args.coil_points)
    elif args.coil_transform:
        T = read_transform(args.coil_transform)
    return tip, T


def _register(args) -> int:
    from navtms.session import load_session
    from navtms.workflow import (ask, collect_fiducials_interactive, collect_head_points, register_attempt,
                                 registration_report, session_settings)
    from targets.plan import load_plan

    s = load_session(args.folder)
    settings = session_settings(args.fle_mm, args.override)
    if args.from_file:
        return _register_from(args, s)
    if s.pointer_tip_mm is None:
        raise SessionError(f"{s.folder}: the pointer tip is not calibrated; run navtms session calibrate --pivot")
    if not s.plan:
        raise SessionError(f"{s.folder}: the session names no plan, so there are no planned fiducials")
    plan = load_plan(s.resolve(s.plan), load_surfaces=args.head_points > 0)
    if len(plan.fiducials) < 3:
        raise SessionError(f"{s.plan}: the plan has {len(plan.fiducials)} fiducials; registration needs 3 or more")
    source, read = _open(s, args.source, ("pointer", "head"), args.device)

    def collect():
        fids = collect_fiducials_interactive(read, s.pointer_tip_mm, plan.fiducials.names, n=args.samples)
        head = None
        if args.head_points > 0:
            ask(None, f"Sweep the pointer over the scalp ({args.head_points} points); press Enter to start: ",
                "head point collection", fids)
            head = collect_head_points(read, s.pointer_tip_mm, n=args.head_points)
        return fids, head

    try:
        s, _ = register_attempt(s, plan.fiducials, collect, scalp=plan.scalp if args.head_points > 0 else None,
                                settings=settings, source=str(args.source))
    finally:
        source.close()
    print(f"attempt {s.registration.attempt} accepted")
    print(registration_report(s.registration))
    return 0


def _register_from(args, s) -> int:
    """session register --from registration.json: its inputs through the session's pipeline, checked
    against the file's transform and the session's plan, kept as an attempt (navtms.session_files)."""
    from navtms.session_files import RegistrationFile
    from navtms.workflow import register_attempt, registration_report, session_settings
    from targets.plan import load_plan

    f = RegistrationFile(args.from_file)
    plan_fids = load_plan(s.resolve(s.plan), load_surfaces=False).fiducials if s.plan else None
    f.check_plan(plan_fids)
    fle = args.fle_mm if args.fle_mm_given else (f.fle_mm if f.fle_mm is not None else args.fle_mm)
    settings = session_settings(fle, args.override or f.overridden)
    scalp = f.scalp()
    s, _ = register_attempt(s, f.image_fiducials, lambda: (f.head_fiducials, f.head_points), scalp=scalp,
                            settings=settings, source=f"file:{f.path}",
                            check=lambda r: f.check_same(r.T_mri_from_b))
    print(f"attempt {s.registration.attempt} accepted (from {f.path})")
    print(registration_report(s.registration))
    return 0


def _show(args) -> int:
    from navtms.session import load_session

    s = load_session(args.folder)
    print(json.dumps({"folder": str(s.folder), "plan": s.plan, "camera": s.camera,
                      "targets": [t.name for t in s.targets], "active_target": s.active_target,
                      "pointer_tip_mm": None if s.pointer_tip_mm is None else s.pointer_tip_mm.tolist(),
                      "registered": s.registration is not None,
                      "fre_mm": None if s.registration is None else s.registration.fre_mm,
                      "predicted_tre_mm": None if s.registration is None else s.registration.predicted_tre_mm,
                      "warning": None if s.registration is None else s.registration.warning,
                      "tolerances": s.tolerances.to_dict(), "lock_to_target": s.lock_to_target}, indent=2))
    return 0


def _coil_model_arg(args):
    """{"model", "T_coil_from_mesh"} from --coil-model / --coil-model-transform, checked (the mesh is
    read once here, so a bad file is refused before the session is made)."""
    from pathlib import Path

    from navcore.errors import InputFileError

    if not args.coil_model:
        if args.coil_model_transform:
            raise InputFileError(Path(args.coil_model_transform), "--coil-model-transform needs --coil-model")
        return None
    from viewer.coil_library import COILS, coil_mesh, load_transform

    T = load_transform(args.coil_model_transform) if args.coil_model_transform else None
    model = args.coil_model if args.coil_model in COILS else str(Path(args.coil_model).resolve())
    coil_mesh(model, T)
    return {"model": model, "T_coil_from_mesh": T}


def _digitise_cap(args) -> int:
    from navcore.fileio import check_output_path
    from navtms.eeg import ELECTRODES_HEAD, ELECTRODES_MRI, digitise_cap
    from navtms.session import load_session
    from targets.interop.eegcap import read_cap, write_cap

    s = load_session(args.folder)
    out = check_output_path(args.out, args.force, "electrode file") if args.out else None
    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else list(read_cap(args.cap).names)
    source, read = _open(s, args.source, ("pointer", "head"))
    try:
        head, mri = digitise_cap(s, read, labels, n=args.samples)
    finally:
        source.close()
    print(f"{len(head)} electrode(s) saved: {s.path(ELECTRODES_HEAD)}"
          + (f", {s.path(ELECTRODES_MRI)}" if mri is not None else " (not registered: head frame only)"))
    if out:
        write_cap(out, mri if mri is not None else head)
        print(f"written: {out}")
    return 0
