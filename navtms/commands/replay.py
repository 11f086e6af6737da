"""`navtms replay RECORDING --session DIR --out REPORT_DIR`: the whole loop, headless, on a recording."""
from __future__ import annotations

import json


NAME = "replay"
HELP = "replay a recording (camera footage or pose log) through a session's navigation and write a report"
DESCRIPTION = (HELP + ". RECORDING is a navtms recording folder, a video, an image folder, a pose log "
               "(.csv) or a source spec (replay:DIR, video:FILE, images:DIR, poses:FILE). The report folder "
               "gets frames.csv, pulses.csv, timing.csv, summary.json, errors.png, bullseye.png and viewer "
               "snapshots.")


def add_arguments(p) -> None:
    p.add_argument("recording", help="recording folder, video, image folder, pose log or source spec")
    p.add_argument("--session", required=True, help="session folder (registration, targets, tolerances)")
    p.add_argument("--out", required=True, help="report folder to create (must not exist or be empty)")
    p.add_argument("--pulses", help="a pulses.csv whose pulse times are replayed")
    p.add_argument("--protocol", metavar="N,HZ,GAP_S,TRAINS,START_S",
                   help="timed pulse trains: N pulses at HZ, GAP_S between trains, TRAINS trains, "
                        "starting START_S after the first frame (e.g. 10,10,2,3,1.0)")
    p.add_argument("--protocol-record", type=float, metavar="START_S",
                   help="fire the session's recorded treatment protocol (navtms protocol --use): its trains and "
                        "bursts, the first pulse START_S after the first frame")
    lock = p.add_mutually_exclusive_group()
    lock.add_argument("--lock-to-target", dest="lock", action="store_true", default=None,
                      help="refuse pulses while off target (default: as the session says)")
    lock.add_argument("--no-lock-to-target", dest="lock", action="store_false")
    p.add_argument("--retrack", action="store_true",
                   help="re-estimate poses from the images even when the recording carries poses")
    p.add_argument("--show", action="store_true", help="also show the navigation window (needs a display)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    from navigation.csvlog import read_log
    from navigation.pulses import parse_protocol
    from navtms.replay import recording_spec, replay_session
    from tracking.poselog import parse_time_ns

    spec = recording_spec(args.recording)
    times = None
    if args.pulses:
        rows = read_log(args.pulses, "pulse")
        times = [parse_time_ns(r["time_s"]) for r in rows]
    proto = parse_protocol(args.protocol) if args.protocol is not None else None
    if args.protocol_record is not None:
        from navcore.errors import NavtmsError
        from navtms.session_protocol import session_schedule

        if proto is not None:
            raise NavtmsError("give --protocol or --protocol-record, not both")
        proto = session_schedule(args.session, args.protocol_record)
    summary = replay_session(spec, args.session, args.out, headless=not args.show, pulse_times_ns=times,
                             protocol=proto, lock_to_target=args.lock, retrack=args.retrack)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        d, t, p = summary["distance_mm"], summary["tilt_deg"], summary["pulses"]
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"   # noqa: E731
        print(f"{summary['frames']} frames, coil visible in {summary['frames_visible']}; "
              f"distance median {fmt(d['median'])} mm, tilt median {fmt(t['median'])} deg")
        print(f"pulses: {p['fired']} fired, {p['refused']} refused, {p['within_tolerance']} within tolerance")
        if "latency_us" in summary:
            print(f"latency capture->errors p50 {summary['latency_us']['p50']:.0f} us, "
                  f"p99 {summary['latency_us']['p99']:.0f} us")
        print(f"report: {args.out}")
    return 0
