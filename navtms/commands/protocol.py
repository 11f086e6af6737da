"""`navtms protocol SESSION_DIR --date D --frequency HZ --pulses N --intensity-mt PCT`: record
what the operator delivered in a session (protocol.json in the session folder). The motor
threshold (% MSO) is given with --threshold-mso or taken from the plan's threshold.json (the
latest measurement on or before the date); the stimulator output is threshold x intensity."""
from __future__ import annotations

import datetime as _dt

NAME = "protocol"
HELP = "record a session's stimulation protocol (frequency, pulses, intensity relative to the motor threshold)"


def add_arguments(p) -> None:
    p.add_argument("session", help="session folder")
    p.add_argument("--date", default=_dt.date.today().isoformat(), help="YYYY-MM-DD (default today)")
    p.add_argument("--frequency", type=float, help="stimulation frequency (Hz)")
    p.add_argument("--pulses", type=int, help="pulses planned for the session")
    p.add_argument("--intensity-mt", type=float, help="intensity as %% of the motor threshold (e.g. 120)")
    p.add_argument("--threshold-mso", type=float, help="motor threshold used (%% MSO); default from threshold.json")
    p.add_argument("--output-mso", type=float, help="stimulator output used (%% MSO), if set by hand")
    p.add_argument("--target", default="", help="target name")
    p.add_argument("--patient", default="", help="patient id for the reports")
    p.add_argument("--notes", default="")


def run(args) -> int:
    from navtms.course import Protocol, write_protocol
    from navtms.session import load_session
    from navtms.threshold import load_thresholds, threshold_on

    thr = args.threshold_mso
    if thr is None:
        s = load_session(args.session)
        if s.plan:
            m = threshold_on(load_thresholds(s.resolve(s.plan)), args.date)
            thr = m.threshold_pct if m else None
    proto = Protocol(args.date, args.frequency, args.pulses, args.intensity_mt, thr, args.output_mso,
                     target=args.target, patient=args.patient, notes=args.notes)
    path = write_protocol(args.session, proto)
    print(f"{path}: {proto.describe()}" + ("" if thr is not None else " (no motor threshold recorded)"))
    return 0
