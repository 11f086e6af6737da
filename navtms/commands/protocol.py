"""`navtms protocol SESSION_DIR ...`: record the protocol of a session (protocol.json in the
session folder).

With `--use NAME|FILE` (a library protocol, see `navtms protocols`, or a protocol file): the
whole protocol is recorded with the motor threshold it used (the plan's threshold.json, latest
on or before --date, or --threshold-mso), checked against the safety tables (refused unless
--override-reason is given; the reason goes into the record and the report), and, for a
depth-adjusted protocol, the MT moved to the target's scalp-cortex distance along the planned
coil axis (Stokes et al.; --k chooses the published slope). Without --use, the flat figures
(--frequency, --pulses, --intensity-mt) are recorded as given.
"""
from __future__ import annotations

import datetime as _dt

from navcore.errors import NavtmsError

NAME = "protocol"
HELP = "record a session's stimulation protocol (a library protocol with safety check and depth-adjusted dose, or the figures)"


def add_arguments(p) -> None:
    p.add_argument("session", help="session folder")
    p.add_argument("--use", metavar="NAME|FILE", help="protocol from the library (navtms protocols) or a protocol file")
    p.add_argument("--library", help="the clinic's protocol library file (besides the standard one)")
    p.add_argument("--override-reason", help="record a protocol outside the safety tables, with this reason")
    p.add_argument("--override-by", default="", help="who decided the override")
    p.add_argument("--m1-target", help="plan target of the motor hotspot for the depth adjustment "
                                       "(default 'hotspot', else the first 'm1...')")
    p.add_argument("--k", default="stokes2005", choices=("stokes2005", "stokes2007", "stokes2013"),
                   help="depth slope (%% MSO per mm): Stokes 2005 (3.0), 2007 (2.8), 2013 (2.7)")
    p.add_argument("--max-adjust", type=float, default=15.0, help="largest depth adjustment (%% MSO, default 15)")
    p.add_argument("--date", default=_dt.date.today().isoformat(), help="YYYY-MM-DD (default today)")
    p.add_argument("--frequency", type=float, help="stimulation frequency (Hz)")
    p.add_argument("--pulses", type=int, help="pulses planned for the session")
    p.add_argument("--intensity-mt", type=float, help="intensity as %% of the motor threshold (e.g. 120)")
    p.add_argument("--threshold-mso", type=float, help="motor threshold used (%% MSO); default from threshold.json")
    p.add_argument("--output-mso", type=float, help="stimulator output used (%% MSO), if set by hand")
    p.add_argument("--target", default="", help="target name")
    p.add_argument("--patient", default="", help="patient id for the reports")
    p.add_argument("--notes", default="")


def _threshold(args, session):
    """(value % MSO or None, method, date, site)."""
    from navtms.threshold import load_thresholds, threshold_on

    if args.threshold_mso is not None:
        return args.threshold_mso, "given by the operator", args.date, ""
    if session.plan:
        m = threshold_on(load_thresholds(session.resolve(session.plan)), args.date)
        if m:
            return m.threshold_pct, m.describe_method(), m.date, m.site
    return None, "", "", ""


def _with_record(args, session):
    import warnings

    from navtms.session_protocol import Protocol
    from navtms.treatment import axis_depths, build_record
    from targets.plan import load_plan
    from therapy.library import find_protocol
    from therapy.protocol import CoilRef, MotorThresholdRef, Override, TargetRef

    for opt in ("frequency", "pulses", "intensity_mt", "output_mso"):
        if getattr(args, opt) is not None:
            raise NavtmsError(f"--{opt.replace('_', '-')} comes from the protocol given with --use; leave it out")
    proto = find_protocol(args.use, args.library)
    value, method, date, site = _threshold(args, session)
    if value is None:
        raise NavtmsError("no motor threshold: record one with navtms threshold or give --threshold-mso")
    target = args.target or session.targets[session.target_index()].name
    depths = None
    if proto.intensity.depth_adjusted:
        if not session.plan:
            raise NavtmsError(f"{args.session}: the session names no plan; the depth adjustment needs its surfaces")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = load_plan(session.resolve(session.plan), checksum="skip")
        depths = axis_depths(plan, target, args.m1_target)
    override = Override(args.override_reason, args.override_by, args.date) if args.override_reason else None
    real_target = TargetRef(target, "mri", f"the session's plan target; the protocol's: {proto.target.name} "
                                          f"({proto.target.derivation})")
    cm = session.coil_model.get("model") if isinstance(session.coil_model, dict) else None
    coil = CoilRef(str(cm), proto.coil.orientation) if cm else None
    rec = build_record(proto, MotorThresholdRef(float(value), method, date, site), depths=depths, k_name=args.k,
                       max_adjust_pct_mso=args.max_adjust, override=override, target=real_target, coil=coil)
    return Protocol(args.date, proto.pattern.rate_hz, proto.pulses_per_session, proto.intensity.pct, rec.mt_pct_mso,
                    rec.output_pct_mso, target=target, patient=args.patient, notes=args.notes, record=rec.to_json()), rec


def run(args) -> int:
    from navtms.session_protocol import Protocol, write_protocol
    from navtms.session import load_session

    session = load_session(args.session)
    if args.use:
        proto, rec = _with_record(args, session)
        path = write_protocol(args.session, proto)
        print(f"{path}: {rec.protocol.name}: {rec.protocol.describe()}")
        d = rec.depth
        if d:
            print(f"  depth along the coil axis: {d['target']} {d['d_target_mm']:.1f} mm, {d['m1_target']} "
                  f"{d['d_m1_mm']:.1f} mm; MT {d['mt_pct_mso']:g} -> {d['adjusted_mt_pct_mso']:.1f}% MSO "
                  f"(k {d['k_pct_per_mm']:g} %/mm, {d['k_source']})")
        print(f"  stimulator output {rec.output_pct_mso:g}% MSO ({rec.protocol.intensity.pct:g}% of "
              f"{rec.mt_pct_mso:.1f}% MSO); safety check {'passed' if rec.safety['ok'] else 'FAILED, overridden'}")
        for f in rec.flags:
            print(f"  flag: {f}")
        return 0
    if args.override_reason:
        raise NavtmsError("--override-reason applies to a protocol given with --use")
    thr, *_ = _threshold(args, session)
    proto = Protocol(args.date, args.frequency, args.pulses, args.intensity_mt, thr, args.output_mso,
                     target=args.target, patient=args.patient, notes=args.notes)
    path = write_protocol(args.session, proto)
    print(f"{path}: {proto.describe()}" + ("" if thr is not None else " (no motor threshold recorded)"))
    return 0
