"""`navtms export`: a plan's targets, or a session's pulses, for another TMS tool."""
from __future__ import annotations

from pathlib import Path

from navcore.errors import InputFileError

NAME = "export"
HELP = "write a plan's targets or a session's pulses for SimNIBS, Brainsight, Localite or visor2"
DESCRIPTION = (HELP + ". Targets: --plan PLAN (simnibs .txt/.npy/.mat, brainsight .txt, localite .xml, visor2 .mrk). "
               "Pulses: --session DIR (brainsight samples .txt, localite TriggerMarkerList .xml). "
               "Conventions: docs/interop.md.")
SUFFIXES = {"simnibs": (".txt", ".npy", ".mat"), "brainsight": (".txt",), "localite": (".xml",), "visor2": (".mrk",)}


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--plan", type=Path, help="plan folder (its targets)")
    src.add_argument("--session", type=Path, help="session folder (its pulses.csv, or its newest replay's)")
    p.add_argument("--pulses", type=Path, help="a pulses.csv to export instead of the session's")
    p.add_argument("--format", required=True, choices=tuple(SUFFIXES), help="the other tool's format")
    p.add_argument("--target", action="append", default=[], metavar="NAME", help="only these plan targets")
    p.add_argument("--space", choices=("RAS", "LPS"), default="RAS",
                   help="Localite coordinateSpace (LPS for a Localite project made on the DICOM; default RAS)")
    p.add_argument("--out", type=Path, required=True, help="file to write")
    p.add_argument("--force", action="store_true", help="replace an existing file")


def run(args) -> int:
    from navcore.fileio import check_output_path
    from navtms.export import export, plan_targets, pulse_samples

    out = check_output_path(args.out, args.force, what=f"{args.format} file")
    if out.suffix.lower() not in SUFFIXES[args.format]:
        raise InputFileError(out, f"a {args.format} file ends in {' or '.join(SUFFIXES[args.format])}")
    if args.plan:
        targets = plan_targets(args.plan, args.target)
        export(args.format, out, targets=targets, space=args.space)
        print(f"{len(targets)} target(s) written: {out}")
        return 0
    from navtms.course import pulses_file

    if not args.pulses and not Path(args.session).is_dir():
        raise InputFileError(args.session, "the session folder does not exist")
    pulses = args.pulses or pulses_file(args.session)
    if pulses is None:
        raise InputFileError(args.session, "the session has no pulses.csv (no pulses were logged)")
    samples = pulse_samples(pulses)
    export(args.format, out, samples=samples, space=args.space)
    seen = sum(s.T_mri_from_coil is not None for s in samples)
    print(f"{len(samples)} pulse(s) written ({seen} with a coil pose): {out}")
    return 0
