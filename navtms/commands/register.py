"""`navtms register`: patient-to-image registration from fiducials (and head points).

    navtms register --image-fiducials F --tracker-fiducials G [--head-points H --mri MRI]
                    [--fle-mm 2] [--target x,y,z] --out registration.json [--json] [--force]

F: the planned fiducials in the MRI (frame `mri`, mm); G: the same names touched with the
tracked pointer (frame `tracker`: the tracker's, or the head reference body's, frame, mm);
H: extra points digitised on the scalp (frame `tracker`). Point files are CSV
(`name,x_mm,y_mm,z_mm`) or 3D Slicer `.mrk.json`. The registration file (JSON, format_version 1)
holds `T_mri_from_tracker`, the FRE, per-point errors, the predicted TRE at --target and, with
head points, the surface (ICP) fit's residuals and the change it made.
"""
from __future__ import annotations

import json

import numpy as np

from navcore.errors import InputFileError, RegistrationError
from navcore.fileio import check_output_path, to_jsonable, write_json
from navcore.points import read_points
from registration.paired_point import register_paired_points
from registration.tre import expected_fre, predicted_tre

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
    p.add_argument("--image-fiducials", required=True, metavar="F", help="fiducials in the MRI (mri mm): CSV or .mrk.json")
    p.add_argument("--tracker-fiducials", required=True, metavar="G", help="the same fiducials touched in the tracker frame (mm)")
    p.add_argument("--head-points", metavar="H", help="points digitised on the scalp in the tracker frame (needs --mri)")
    p.add_argument("--mri", metavar="MRI", help="the subject's T1 (.nii, .nii.gz, .mgz or a DICOM series folder), for the scalp surface")
    p.add_argument("--fle-mm", type=float, default=2.0, help="RMS fiducial localisation error, mm (default 2)")
    p.add_argument("--head-point-sigma-mm", type=float, default=1.0,
                   help="expected per-axis error of the head points, mm (default 1), for the surface fit and its TRE")
    p.add_argument("--target", metavar="x,y,z",
                   help="a target in mri mm for the predicted TRE (write --target=x,y,z when x is negative)")
    p.add_argument("--max-fre-mm", type=float, default=10.0,
                   help="refuse a fiducial fit whose FRE exceeds this (swapped or mistyped names; default 10)")
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


def compute(args) -> dict:
    """Everything `register` reports, as a JSON-ready dict (nothing is written)."""
    check_output_path(args.out, args.force, "registration file")
    if not (np.isfinite(args.fle_mm) and args.fle_mm >= 0):
        raise RegistrationError(f"--fle-mm must be a non-negative number of mm, got {args.fle_mm}")
    if not (np.isfinite(args.head_point_sigma_mm) and args.head_point_sigma_mm > 0):
        raise RegistrationError(f"--head-point-sigma-mm must be a positive number of mm, got {args.head_point_sigma_mm}")
    if args.head_points and not args.mri:
        raise RegistrationError("--head-points needs --mri (the scalp surface is made from the MRI)")
    target = parse_target(args.target) if args.target else None

    img = read_points(args.image_fiducials, frame="mri")
    check_sides(img, args.image_fiducials)
    trk = read_points(args.tracker_fiducials, frame="tracker")
    fit = register_paired_points(img, trk)
    if fit.fre_mm > args.max_fre_mm:
        worst = fit.names[int(np.argmax(fit.errors_mm))]
        raise RegistrationError(f"the fiducial fit is implausible (FRE {fit.fre_mm:.1f} mm > {args.max_fre_mm:g} mm, "
                                f"worst '{worst}' {fit.errors_mm.max():.1f} mm); check for swapped or mistyped names")
    fid_mri = img.subset(fit.names).positions
    result: dict = {
        "kind": "registration",
        "T_mri_from_tracker": fit.T_a_from_b,
        "method": "paired-point",
        "fiducial_names": list(fit.names),
        "fre_mm": fit.fre_mm,
        "fiducial_errors_mm": fit.per_point(),
        "fle_mm": float(args.fle_mm),
        "expected_fre_mm": expected_fre(len(fit.names), args.fle_mm),
        "inputs": {"image_fiducials": str(args.image_fiducials), "tracker_fiducials": str(args.tracker_fiducials),
                   "head_points": args.head_points, "mri": args.mri},
    }
    if target is not None:
        result["target_mri_mm"] = target
        result["predicted_tre_fiducials_mm"] = float(predicted_tre(fid_mri, target, args.fle_mm)[0])
        result["predicted_tre_mm"] = result["predicted_tre_fiducials_mm"]
    if args.head_points:
        from navcore.mri import load_mri
        from registration.icp import icp_register
        from targets.surfaces import scalp_surface

        hp = read_points(args.head_points, frame="tracker")
        surf = scalp_surface(load_mri(args.mri))
        icp = icp_register(surf, hp.positions, fit.T_a_from_b, fiducials_a=fid_mri,
                           fiducials_b=trk.subset(fit.names).positions,
                           point_sigma_mm=args.head_point_sigma_mm,
                           fiducial_sigma_mm=max(args.fle_mm / np.sqrt(3.0), 0.1))
        result["T_mri_from_tracker"] = icp.T_a_from_b
        result["T_mri_from_tracker_fiducials_only"] = fit.T_a_from_b
        result["method"] = "paired-point + surface (ICP)"
        result["icp"] = icp.summary()
        result["icp"]["residuals_mm"] = {n: float(r) for n, r in zip(hp.names, icp.residuals_mm)}
        result["icp"]["outliers"] = [n for n, ok in zip(hp.names, icp.inliers) if not ok]
        result["icp"]["fiducial_errors_mm"] = {n: float(e) for n, e in zip(fit.names, icp.fiducial_errors_mm)}
        if target is not None:
            before = fit.T_a_from_b
            moved = np.linalg.norm(icp.T_a_from_b @ np.linalg.inv(before) @ np.append(target, 1.0) - np.append(target, 1.0))
            result["icp"]["target_moved_mm"] = float(moved)
            result["icp"]["predicted_tre_mm"] = float(icp.predicted_tre(target)[0])
            result["predicted_tre_mm"] = result["icp"]["predicted_tre_mm"]
    return result


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
    if "icp" in r:
        s = r["icp"]
        lines.append(f"surface fit: {s['n_inliers']}/{s['n_points']} head points used, residual mean "
                     f"{s['residual_mean_mm']:.2f} / RMS {s['residual_rms_mm']:.2f} / max {s['residual_max_mm']:.2f} mm; "
                     f"changed the fiducial fit by {s['change_translation_mm']:.2f} mm, {s['change_rotation_deg']:.2f} deg")
        if "predicted_tre_mm" in s:
            lines.append(f"predicted TRE at target after the surface fit: {s['predicted_tre_mm']:.2f} mm "
                         f"(the fit moved the target by {s['target_moved_mm']:.2f} mm)")
        if s["outliers"]:
            lines.append(f"  ignored as off the scalp: {', '.join(s['outliers'])}")
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
