"""`navtms session new|calibrate|register|show`: the operator's steps before navigating.

    navtms session new DIR --plan PLAN [--camera CAM] [--pointer-tip X,Y,Z] [--tolerance-mm 3]
                           [--tolerance-deg 3] [--twist-deg D] [--lock-to-target] [--filter]
    navtms session calibrate DIR --source SPEC [--pivot] [--coil]
    navtms session register DIR --source SPEC [--head-points N] [--samples N] [--override]
    navtms session show DIR
Keyboard driven in the terminal (Enter samples a point); no GUI toolkit.
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
    cal.add_argument("--source", required=True)
    cal.add_argument("--pivot", action="store_true", help="pivot calibration of the pointer tip")
    cal.add_argument("--pivot-poses", type=int, default=150, metavar="N",
                     help="pointer poses to collect for the pivot (default 150, as the workbench; ~5 s at 30 Hz, use "
                          "more for a slow swing); every pose collected is used (or all until the source ends)")
    cal.add_argument("--coil", action="store_true", help="touch coil centre, handle and side")
    cal.add_argument("--device", action="append", default=[], metavar="BODY=DEVICE", help=_device_help())
    reg = sub.add_parser("register", help="collect the plan's fiducials with the pointer and register")
    reg.add_argument("folder")
    reg.add_argument("--source", required=True)
    reg.add_argument("--samples", type=int, default=20, help="samples per point (median)")
    reg.add_argument("--head-points", type=int, default=0, help="also sweep N head points for ICP")
    reg.add_argument("--fle-mm", type=float, default=2.0,
                     help="RMS fiducial localisation error, mm, for the TRE and the surface fit (default 2, as navtms register)")
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
    from navtms.workflow import calibrate_coil_interactive, collect_pivot

    s = load_session(args.folder)
    if not (args.pivot or args.coil):
        raise SessionError("say what to calibrate: --pivot, --coil or both")
    source, read = _open(s, args.source, ("pointer", "coil", "head"), args.device)
    try:
        if args.pivot:
            input("Put the pointer tip in a divot; press Enter and swing it in two directions: ")
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
            s = s.with_(T_coilbody_from_coil=T)
            s.save()
            print("coil calibrated: T_coilbody_from_coil saved")
    finally:
        source.close()
    return 0


def _register(args) -> int:
    from navtms.session import FIDUCIALS_FILE, HEAD_POINTS_FILE, load_session
    from navtms.workflow import (collect_fiducials_interactive, collect_head_points, register_session,
                                 registration_report)
    from navcore.points import write_points
    from targets.plan import load_plan

    s = load_session(args.folder)
    if s.pointer_tip_mm is None:
        raise SessionError(f"{s.folder}: the pointer tip is not calibrated; run navtms session calibrate --pivot")
    if not s.plan:
        raise SessionError(f"{s.folder}: the session names no plan, so there are no planned fiducials")
    plan = load_plan(s.resolve(s.plan), load_surfaces=args.head_points > 0)
    if len(plan.fiducials) < 3:
        raise SessionError(f"{s.plan}: the plan has {len(plan.fiducials)} fiducials; registration needs 3 or more")
    source, read = _open(s, args.source, ("pointer", "head"), args.device)
    try:
        fids = collect_fiducials_interactive(read, s.pointer_tip_mm, plan.fiducials.names, n=args.samples)
        write_points(s.path(FIDUCIALS_FILE), fids)
        head = None
        if args.head_points > 0:
            input(f"Sweep the pointer over the scalp ({args.head_points} points); press Enter to start: ")
            head = collect_head_points(read, s.pointer_tip_mm, n=args.head_points)
            from navcore.points import NamedPoints

            write_points(s.path(HEAD_POINTS_FILE),
                         NamedPoints(tuple(f"h{i + 1}" for i in range(len(head))), head, "head"))
    finally:
        source.close()
    s = register_session(s, plan.fiducials, fids, head_points=head, scalp=plan.scalp if head is not None else None,
                         fle_mm=args.fle_mm, override=args.override)
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
