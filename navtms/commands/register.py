"""`navtms register`: patient-to-image registration from fiducials (and head points).

    navtms register --image-fiducials F --tracker-fiducials G [--head-points H --mri MRI]
                    [--plan PLAN] [--fle-mm 2] [--target x,y,z] --out registration.json
                    [--json] [--force] [--max-fre-mm 3] [--override]

F: the planned fiducials in the MRI (frame `mri`, mm); G: the same names touched with the
tracked pointer (frame `tracker`: the tracker's, or the head reference body's, frame, mm);
H: extra points digitised on the scalp (frame `tracker`; names optional). Point files are CSV
(`name,x_mm,y_mm,z_mm`, or `x,y,z` for head points), 3D Slicer `.mrk.json` or `.fcsv`; names match
case-insensitively and through the fiducial aliases (Nasion/nas, LPA/left, RPA/right). PLAN: a plan
folder; the predicted TRE is then reported at every planned target, and its fiducials and scalp
stand in for F and the MRI when those are not given. The registration file (JSON,
format_version 1) holds `T_mri_from_tracker`, the FRE, per-point errors, the predicted TRE at
--target and every planned target and, with head points, the surface (ICP) fit's residuals
(signed bias, RMS, max), inlier and outlier counts, the change it made and its warnings. The work is done by
registration.pipeline.register, the same function the session and the demo use (same FRE
gates: a warning above 2 mm, refused above 3 mm unless --override; same ICP settings and TRE).
"""
from __future__ import annotations

import json

import numpy as np

from navcore.errors import InputFileError, RegistrationError
from navcore.fileio import check_output_path, to_jsonable, write_json
from navcore.points import read_points
from registration.pipeline import WARN_FRE_MM, RegistrationResult, RegistrationSettings, register

NAME = "register"
HELP = "register the patient to the MRI from fiducials (+ head points): T_mri_from_tracker, FRE, TRE"
DESCRIPTION = (
    "Fit the rigid transform T_mri_from_tracker from fiducials planned in the MRI and the same "
    "fiducials touched in the tracker frame (matched by name, at least 3), optionally refined by "
    "surface matching of digitised head points onto the MRI scalp. Reports the fiducial "
    "registration error (FRE) per point and overall, and the predicted target registration error "
    "(TRE) at --target. Point files: CSV name,x_mm,y_mm,z_mm or 3D Slicer .mrk.json.")
FORMAT_VERSION = 1


def add_arguments(p) -> None:
    p.add_argument("--image-fiducials", metavar="F",
                   help="fiducials in the MRI (mri mm): CSV, .mrk.json or .fcsv (default: the --plan's fiducials)")
    p.add_argument("--tracker-fiducials", required=True, metavar="G", help="the same fiducials touched in the tracker frame (mm)")
    p.add_argument("--head-points", metavar="H",
                   help="points digitised on the scalp in the tracker frame (needs --mri or --plan for the scalp)")
    p.add_argument("--plan", metavar="PLAN",
                   help="a plan folder: the predicted TRE at every planned target; its scalp and fiducials are used "
                        "when --mri / --image-fiducials are not given")
    p.add_argument("--mri", metavar="MRI", help="the subject's T1 (.nii, .nii.gz, .mgz or a DICOM series folder), for the scalp surface")
    p.add_argument("--fle-mm", type=float, default=2.0, help="RMS fiducial localisation error, mm (default 2)")
    p.add_argument("--head-point-sigma-mm", type=float, default=1.0,
                   help="expected per-axis error of the head points, mm (default 1), for the surface fit and its TRE")
    p.add_argument("--target", metavar="x,y,z",
                   help="a target in mri mm for the predicted TRE (e.g. --target -38,44,26)")
    p.add_argument("--max-fre-mm", type=float, default=3.0,
                   help="refuse a fiducial fit whose FRE exceeds this (default 3, as the session; "
                        "a warning above 2)")
    p.add_argument("--override", action="store_true",
                   help="accept an FRE above --max-fre-mm knowingly (the file says it was overridden)")
    p.add_argument("--out", required=True, help="registration file to write (JSON)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of text")


def parse_target(text: str) -> np.ndarray:
    """'x,y,z' (mm) -> (3,) float array; raises RegistrationError with one sentence."""
    parts = [s.strip() for s in str(text).split(",")]
    try:
        xyz = np.array([float(s) for s in parts])
    except ValueError:
        raise RegistrationError(f"--target {text!r} must be three numbers x,y,z in mri mm") from None
    if xyz.shape != (3,) or not np.all(np.isfinite(xyz)):
        raise RegistrationError(f"--target {text!r} must be three finite numbers x,y,z in mri mm")
    return xyz


def check_sides(img, path) -> None:
    """Refuse image fiducials whose LPA lies to the right of RPA (mri is RAS: +x = right):
    the names were swapped when planning. (A swap in the tracker file cannot be caught from
    three points; head points catch it.)"""
    lower = {n.lower(): n for n in img.names}
    if "lpa" in lower and "rpa" in lower and img[lower["lpa"]][0] > img[lower["rpa"]][0]:
        raise InputFileError(path, "LPA lies to the right of RPA in the MRI (RAS, +x = right); "
                                   "the two names look swapped")


def settings_from_args(args) -> RegistrationSettings:
    """The pipeline settings of the command line (the gates are the session's: warn above
    2 mm FRE, refuse above 3 mm unless --override)."""
    return RegistrationSettings(fle_mm=args.fle_mm, head_point_sigma_mm=args.head_point_sigma_mm,
                                max_fre_mm=args.max_fre_mm, warn_fre_mm=min(WARN_FRE_MM, args.max_fre_mm),
                                override=args.override, require_all_names=True)


def result_dict(r: RegistrationResult, inputs: dict, target=None) -> dict:
    """The registration file's content (JSON-ready dict) of a pipeline result."""
    out: dict = {
        "kind": "registration",
        "T_mri_from_tracker": r.T_mri_from_b,
        "method": r.method,
        "fiducial_names": list(r.names),
        "fre_mm": r.fre_mm,
        "fiducial_errors_mm": dict(r.fiducial_errors_mm),
        "fle_mm": r.fle_mm,
        "expected_fre_mm": r.expected_fre_mm,
        "warnings": list(r.warnings),
        "overridden": r.overridden,
        "inputs": inputs,
    }
    if target is not None:
        out["target_mri_mm"] = target
        out["predicted_tre_fiducials_mm"] = r.predicted_tre_fiducials_mm["target"]
        out["predicted_tre_mm"] = r.predicted_tre_mm["target"]
    if r.predicted_tre_mm:
        out["predicted_tre_per_target_mm"] = dict(r.predicted_tre_mm)
        out["predicted_tre_fiducials_per_target_mm"] = dict(r.predicted_tre_fiducials_mm)
    if r.icp is not None:
        out["T_mri_from_tracker_fiducials_only"] = r.T_mri_from_b_fiducials
        icp = dict(r.icp.summary)
        icp.update(residuals_mm=dict(r.icp.residuals_mm), outliers=list(r.icp.outliers),
                   fiducial_errors_mm=dict(r.icp.fiducial_errors_mm))
        if target is not None:
            icp["target_moved_mm"] = r.icp.target_moved_mm["target"]
            icp["predicted_tre_mm"] = r.predicted_tre_mm["target"]
        icp["target_moved_per_target_mm"] = dict(r.icp.target_moved_mm)
        out["icp"] = icp
    return out


def compute(args) -> dict:
    """Everything `register` reports, as a JSON-ready dict (nothing is written)."""
    check_output_path(args.out, args.force, "registration file")
    if not (np.isfinite(args.fle_mm) and args.fle_mm >= 0):
        raise RegistrationError(f"--fle-mm must be a non-negative number of mm, got {args.fle_mm}")
    if not (np.isfinite(args.head_point_sigma_mm) and args.head_point_sigma_mm > 0):
        raise RegistrationError(f"--head-point-sigma-mm must be a positive number of mm, got {args.head_point_sigma_mm}")
    if not (np.isfinite(args.max_fre_mm) and args.max_fre_mm > 0):
        raise RegistrationError(f"--max-fre-mm must be a positive number of mm, got {args.max_fre_mm}")
    plan_arg = getattr(args, "plan", None)
    if args.head_points and not (args.mri or plan_arg):
        raise RegistrationError("--head-points needs --mri or --plan (the scalp surface is made from the MRI)")
    if not args.image_fiducials and not plan_arg:
        raise RegistrationError("give the MRI fiducials: --image-fiducials F (or a --plan that holds them)")
    target = parse_target(args.target) if args.target else None
    plan = None
    if plan_arg:
        from targets.plan import load_plan

        plan = load_plan(plan_arg, load_surfaces=bool(args.head_points and not args.mri))
    targets = {} if target is None else {"target": target}
    if plan is not None:
        for t in plan.targets:
            targets[t.name] = np.asarray(t.target_mri_mm, dtype=np.float64)

    if args.image_fiducials:
        img = read_points(args.image_fiducials, frame="mri")
        check_sides(img, args.image_fiducials)
    else:
        img = plan.fiducials
        if len(img) < 3:
            raise InputFileError(plan_arg, "the plan holds fewer than 3 fiducials; give --image-fiducials")
    trk = read_points(args.tracker_fiducials, frame="tracker")
    hp = scalp = None
    if args.head_points:
        hp = read_points(args.head_points, frame="tracker")
        if args.mri:
            from navcore.mri import load_mri
            from targets.surfaces import scalp_surface

            scalp = scalp_surface(load_mri(args.mri))
        else:
            scalp = plan.scalp
    r = register(img, trk, hp, scalp, settings_from_args(args), targets or None)
    r.raise_if_refused()
    out = result_dict(r, {"image_fiducials": str(args.image_fiducials or plan_arg),
                          "tracker_fiducials": str(args.tracker_fiducials),
                          "head_points": args.head_points, "mri": args.mri, "plan": plan_arg}, target)
    notes = [n for pts in (img, trk, hp) if pts is not None for n in pts.notes]
    if notes:
        out["notes"] = notes
    return out


def _text(r: dict) -> str:
    lines = [f"registration ({r['method']}): T_mri_from_tracker"]
    lines += ["  " + "  ".join(f"{v:10.4f}" for v in row) for row in np.asarray(r["T_mri_from_tracker"])]
    lines.append(f"FRE {r['fre_mm']:.2f} mm RMS over {len(r['fiducial_names'])} fiducials "
                 f"(expected {r['expected_fre_mm']:.2f} mm for FLE {r['fle_mm']:.1f} mm)")
    for n, e in r["fiducial_errors_mm"].items():
        lines.append(f"  {n:>12s}  {e:6.2f} mm")
    if "predicted_tre_fiducials_mm" in r:
        t = r["target_mri_mm"]
        lines.append(f"predicted TRE at target ({t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f}) mm from the fiducials: "
                     f"{r['predicted_tre_fiducials_mm']:.2f} mm")
    for w in r.get("warnings", ()):
        lines.append(f"WARNING: {w}")
    if "icp" in r:
        s = r["icp"]
        lines.append(f"surface fit: {s['n_inliers']}/{s['n_points']} head points used ({s['n_outliers']} outliers), "
                     f"residual bias {s['residual_bias_mm']:+.2f} mm (+ outside; SE {s['residual_bias_se_mm']:.2f}) / RMS "
                     f"{s['residual_rms_mm']:.2f} / max {s['residual_max_mm']:.2f} mm; "
                     f"changed the fiducial fit by {s['change_translation_mm']:.2f} mm, {s['change_rotation_deg']:.2f} deg")
        if "predicted_tre_mm" in s:
            lines.append(f"predicted TRE at target after the surface fit: {s['predicted_tre_mm']:.2f} mm "
                         f"(the fit moved the target by {s['target_moved_mm']:.2f} mm)")
        if s["outliers"]:
            lines.append(f"  ignored as off the scalp: {', '.join(s['outliers'])}")
    per = r.get("predicted_tre_per_target_mm", {})
    if len(per) > 1 or (per and "target" not in per):
        fid = r.get("predicted_tre_fiducials_per_target_mm", {})
        lines.append("predicted TRE per target (fiducials alone -> final):")
        for n, v in per.items():
            lines.append(f"  {n:>20s}  {fid.get(n, float('nan')):6.2f} -> {v:6.2f} mm")
    for n in r.get("notes", ()):
        lines.append(f"note: {n}")
    return "\n".join(lines)


def run(args) -> int:
    result = compute(args)
    write_json(args.out, result, format_version=FORMAT_VERSION)
    if args.json:
        print(json.dumps(to_jsonable({"format_version": FORMAT_VERSION, **result}), indent=2))
    else:
        print(_text(result))
        print(f"wrote {args.out}")
    return 0
