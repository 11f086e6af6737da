"""`navtms plan MRI --target NAME ... --out PLAN_DIR`: the planner's day-before work."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from navcore.errors import InputFileError, PlanError

NAME = "plan"
HELP = "make a plan folder (surfaces, targets, coil placements) from a T1 MRI"
DESCRIPTION = (HELP + ". Coordinates are given as x,y,z in mm; write negative ones with '=', "
               "e.g. --mni=-38,44,26. Beam F3 takes tape measurements in cm: tragus-tragus, "
               "nasion-inion, head circumference.")


def _triple(text: str, what: str, n: int = 3) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        vals = ()
    if len(vals) != n or not all(np.isfinite(vals)):
        raise PlanError(f"{what} '{text}' must be {n} comma-separated numbers")
    return vals


def add_arguments(p) -> None:
    p.add_argument("mri", help="T1 MRI (.nii, .nii.gz, .mgz, or a DICOM series: its folder or one of its files)")
    p.add_argument("--target", action="append", default=[], metavar="NAME", help="library target (see 'navtms targets')")
    p.add_argument("--mni", action="append", default=[], metavar="X,Y,Z", help="MNI152 coordinate in mm")
    p.add_argument("--mri", dest="mri_xyz", action="append", default=[], metavar="X,Y,Z",
                   help="subject scanner-RAS coordinate in mm")
    p.add_argument("--beam-f3", action="append", default=[], metavar="TT,NI,CF",
                   help="Beam F3 from tragus-tragus, nasion-inion and circumference in cm ('auto': measured on the scalp)")
    p.add_argument("--beam-f4", action="append", default=[], metavar="TT,NI,CF", help="Beam F4 (right side), as --beam-f3")
    p.add_argument("--ten-twenty", action="append", default=[], metavar="POS",
                   help="a 10-20 position (e.g. F3) measured on the scalp; the target is the cortex under it")
    p.add_argument("--five-cm", action="append", default=[], metavar="X,Y,Z",
                   help="5 cm anterior of this motor hotspot (mri mm) along the scalp")
    p.add_argument("--targets-file", action="append", default=[], type=Path, metavar="FILE",
                   help="subject-space targets to import (Slicer .mrk.json or CSV name,x_mm,y_mm,z_mm; mri mm)")
    p.add_argument("--import", dest="import_files", action="append", default=[], type=Path, metavar="FILE",
                   help="coil targets from another tool, kept as they are: SimNIBS matsimnibs (.txt/.npy/.mat), "
                        "Brainsight .txt export, Localite InstrumentMarkerList .xml, visor2 .mrk (docs/interop.md)")
    p.add_argument("--eeg-cap", type=Path, metavar="FILE",
                   help="EEG electrode positions (.elc, .sfp, .bvct, CSV) with nasion/LPA/RPA, placed by --fiducials")
    p.add_argument("--cap-electrode", action="append", default=[], metavar="NAME",
                   help="plan a target under this cap electrode (e.g. F3; needs --eeg-cap)")
    p.add_argument("--cap-unit", choices=("mm", "cm", "m"), help="unit of an .sfp cap (default mm)")
    p.add_argument("--fiducials", type=Path, help="nasion, LPA, RPA (CSV name,x_mm,y_mm,z_mm or Slicer .mrk.json)")
    p.add_argument("--inion", metavar="X,Y,Z", help="inion in mri mm (otherwise found on the scalp)")
    p.add_argument("--mni-transform", type=Path, help="existing MRI<->MNI affine: FSL .mat, ITK/ANTs .txt, 4x4 text or JSON")
    p.add_argument("--mni-ref", type=Path, help="MNI reference image a FLIRT .mat was made with")
    p.add_argument("--mni-transform-inverse", action="store_true", help="the transform file maps the other way")
    p.add_argument("--brain-mask", type=Path, help="brain mask image (otherwise the T1 is skull-stripped)")
    p.add_argument("--no-brain", action="store_true", help="skip the brain surface")
    p.add_argument("--handle-angle", type=float, default=None, metavar="DEG",
                   help="handle angle from the posterior midline, positive outwards (default 45)")
    p.add_argument("--offset", type=float, default=5.0, metavar="MM", help="coil face to scalp distance (default 5)")
    p.add_argument("--entry", choices=("closest", "normal"), default="closest",
                   help="scalp entry: closest scalp point, or the point whose normal passes through the target")
    p.add_argument("--user-targets", type=Path, help="user target library JSON")
    p.add_argument("--cache-dir", type=Path, help="surface cache folder (default ~/.cache/navtms/surfaces)")
    p.add_argument("--out", type=Path, required=True, help="plan folder to write")
    p.add_argument("--force", action="store_true", help="replace an existing plan folder")


def _check_out(out: Path, force: bool) -> None:
    """The checks save_plan makes on its folder, made before the planning run starts."""
    from targets.plan import PLAN_FILE

    if out.exists() and not force:
        raise PlanError(f"{out}: the plan folder already exists; give --force to replace it")
    if out.exists() and not (out / PLAN_FILE).is_file():
        raise PlanError(f"{out}: exists and is not a plan folder; refusing to replace it")
    if not out.resolve().parent.is_dir():
        raise InputFileError(out.resolve().parent, "the folder that should hold the plan does not exist")


def run(args) -> int:
    from targets.mni_io import load_mni_transform
    from targets.plan import save_plan
    from targets.planner import PlanOptions, TargetRequest, build_plan

    out = Path(args.out)
    _check_out(out, args.force)   # refuse a bad --out before any slow work
    mri = Path(args.mri)
    if not mri.exists():
        raise InputFileError(mri, "the MRI file does not exist")
    reqs = [TargetRequest("library", name=n) for n in args.target]
    reqs += [TargetRequest("mni", values=_triple(v, "--mni")) for v in args.mni]
    reqs += [TargetRequest("mri", values=_triple(v, "--mri")) for v in args.mri_xyz]
    for kind, vals in (("beam-f3", args.beam_f3), ("beam-f4", args.beam_f4)):
        reqs += [TargetRequest(kind, values=() if v.strip().lower() == "auto" else _triple(v, f"--{kind}"))
                 for v in vals]
    reqs += [TargetRequest("ten-twenty", name=v.strip()) for v in args.ten_twenty]
    reqs += [TargetRequest("five-cm", values=_triple(v, "--five-cm")) for v in args.five_cm]
    for f in args.targets_file:
        from targets.plan import import_points

        pts = import_points(f)
        if not len(pts):
            raise InputFileError(f, "the targets file holds no points")
        reqs += [TargetRequest("mri", name=n, values=tuple(pts[n])) for n in pts.names]
    reqs += _imported_requests(args.import_files)
    if args.cap_electrode or args.eeg_cap:
        from targets.interop.eegcap import cap_electrodes_in_mri

        if not (args.cap_electrode and args.eeg_cap):
            raise PlanError("--cap-electrode and --eeg-cap go together")
        reqs += [TargetRequest("eeg-cap", name=n, values=tuple(xyz), source=src)
                 for n, xyz, src in cap_electrodes_in_mri(args.eeg_cap, args.fiducials, args.cap_electrode, args.cap_unit)]
    T = None
    src = ""
    if args.mni_transform:
        T = load_mni_transform(args.mni_transform, mri_path=mri, mni_ref_path=args.mni_ref,
                               inverse=args.mni_transform_inverse)
        src = f"loaded from {args.mni_transform}"
    opts = PlanOptions(handle_angle_deg=args.handle_angle, offset_mm=args.offset, entry_method=args.entry,
                       with_brain=not args.no_brain, brain_mask_path=args.brain_mask, cache_dir=args.cache_dir,
                       user_library=args.user_targets,
                       inion_mri_mm=np.array(_triple(args.inion, "--inion")) if args.inion else None,
                       log=lambda m: print(m, file=sys.stderr))
    plan = build_plan(mri, reqs, args.fiducials, T, src, opts)
    path = save_plan(plan, out, force=args.force)
    print(f"plan written: {path}")
    for t in plan.targets:
        sc = "" if not np.isfinite(t.scalp_cortex_distance_mm) else f", scalp-cortex {t.scalp_cortex_distance_mm:.1f} mm"
        print(f"  {t.name}: target {np.round(t.target_mri_mm, 1).tolist()} mm, entry {np.round(t.entry_mri_mm, 1).tolist()} mm, "
              f"scalp-target {t.scalp_target_distance_mm:.1f} mm{sc}, handle {t.handle_angle_deg:g} deg")
        if t.notes:
            print(f"    {t.notes}")
    return 0


def _imported_requests(files) -> list:
    """TargetRequest("pose") per target of each --import file; says what each import assumed."""
    from targets.interop import read_coil_poses
    from targets.planner import TargetRequest

    reqs = []
    for f in files:
        imp = read_coil_poses(f)
        if not imp.targets():
            raise PlanError(f"{f}: the file holds {len(imp.samples())} samples but no targets; a plan takes targets")
        print(f"imported {len(imp.targets())} target(s) from {imp.assumption}", file=sys.stderr)
        reqs += [TargetRequest("pose", name=p.name, values=tuple(np.asarray(p.T_mri_from_coil).ravel()),
                               source=f"imported from {imp.assumption}") for p in imp.targets()]
    return reqs
