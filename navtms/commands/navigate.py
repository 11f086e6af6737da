"""`navtms navigate --session DIR --source camera:0|video:FILE|replay:DIR|poses:FILE|igtl:HOST:PORT`.

Live navigation: the loop runs on its own threads; the viewer window (when a display exists)
renders the latest state on its own timer at a lower CPU priority than tracking. Keys: p pulse,
n next target, q quit. Without a display (or with --headless) the status is printed once a
second and keys are read from the terminal (type p / n / q and Enter). Per-frame and per-pulse
logs are appended to the session folder (frames.csv, timing.csv, pulses.csv).
"""
from __future__ import annotations

import os
import sys
import threading

NAME = "navigate"
HELP = "navigate the coil to the session's targets with a live source (camera, video, recording)"


def add_arguments(p) -> None:
    p.add_argument("--session", required=True, help="a registered session folder")
    p.add_argument("--source", required=True,
                   help="camera:0[@WxH[@FPS]], video:FILE, images:DIR, replay:DIR, poses:FILE or igtl:HOST:PORT")
    p.add_argument("--headless", action="store_true", help="no window even when a display exists")
    p.add_argument("--no-keys", action="store_true", help="do not read keys from the terminal (headless)")
    p.add_argument("--pulse-line", metavar="DEVICE",
                   help="a text device/file/FIFO: each line read is a pulse (e.g. a stimulator's trigger tty)")
    p.add_argument("--protocol", metavar="N,HZ,GAP_S,TRAINS,START_S",
                   help="timed pulse trains for testing: N pulses at HZ, GAP_S between trains, TRAINS trains, "
                        "the first START_S after the first frame (e.g. 10,10,2,3,1.0)")
    lock = p.add_mutually_exclusive_group()
    lock.add_argument("--lock-to-target", dest="lock", action="store_true", default=None,
                      help="refuse pulses while off target (default: as the session says)")
    lock.add_argument("--no-lock-to-target", dest="lock", action="store_false")
    p.add_argument("--igtl-port", type=int, help="also publish the coil pose and errors over OpenIGTLink")
    p.add_argument("--record-poses", metavar="FILE",
                   help="append every processed frame's estimated poses to a pose log (replay it with navtms replay)")


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args) -> int:
    from navcore.errors import NavtmsError
    from navigation.csvlog import CsvLog
    from navigation.loop import NavigationLoop, lower_thread_priority
    from navigation.pulses import PULSE_COLUMNS, KeyTrigger, LineTrigger, ProtocolTrigger, PulseLog, parse_protocol
    from navtms.replay import _scene_spec, build_estimator
    from navtms.session import FRAMES_FILE, PULSES_FILE, TIMING_FILE, load_session, make_navigator
    from navigation.sinks import FrameLogSink, IGTLSink
    from viewer.sink import ViewSink
    from tracking.filters import PoseFilter
    from tracking.sources import open_source
    from viewer.state import LatestState

    proto = parse_protocol(args.protocol) if args.protocol is not None else None   # bad input: before anything opens
    session = load_session(args.session)
    nav = make_navigator(session)
    live = args.source.startswith(("camera:", "igtl:"))
    source = open_source(args.source) if live else open_source(args.source, realtime=True)
    closers = [source.close]
    try:
        estimator = build_estimator(session, source)
        lock = session.lock_to_target if args.lock is None else bool(args.lock)
        plog = CsvLog(session.path(PULSES_FILE), "pulse", PULSE_COLUMNS)
        closers.append(plog.close)
        pulses = PulseLog(nav, plog, lock_to_target=lock, on_sample=lambda s: print(_pulse_line(s), flush=True))
        flog = FrameLogSink(session.path(FRAMES_FILE), session.path(TIMING_FILE))
        closers.append(flog.close)
        latest = LatestState()
        fre = session.registration.fre_mm
        sinks = [flog, ViewSink(latest, fre, pulses)]
        if args.igtl_port:
            from igtl.server import IGTLServer

            server = IGTLServer(args.igtl_port)
            closers.append(server.close)
            sinks.append(IGTLSink(server, nav, fre))
        protocol = None
        if proto is not None:
            protocol = ProtocolTrigger(pulses, offsets_ns=proto.offsets_ns())
        pose_log = None
        if args.record_poses:
            from tracking.poselog import PoseLogWriter

            pose_log = PoseLogWriter(args.record_poses)
            closers.append(pose_log.close)
        loop = NavigationLoop(source, nav, estimator=estimator, pose_filter=PoseFilter() if session.filter else None,
                              sinks=sinks, pulses=pulses, protocol=protocol, mode="latest", live=live,
                              pose_log=pose_log)
        flog.loop = loop
        clock = loop.clock
        key = KeyTrigger(pulses, clock=clock)

        def pulse_key():
            d = key()
            if not d.fired:
                print(f"pulse refused: {d.refusal}", flush=True)

        def next_target():
            t = nav.next_target()
            print(f"target: {t.name}", flush=True)

        if args.pulse_line:
            LineTrigger(pulses, args.pulse_line, clock=clock).start()
        print(f"navigating {len(nav.targets)} target(s) from {args.source}; FRE {fre:.2f} mm, "
              f"predicted TRE {nav.predicted_tre_mm:.2f} mm; lock to target {'on' if lock else 'off'}", flush=True)
        loop.start()
        if _has_display() and not args.headless:
            from viewer.window import NavigationWindow

            spec = _scene_spec(session)
            if spec is None:
                raise NavtmsError(f"{session.folder}: the window needs the session's plan with a scalp surface")
            win = NavigationWindow(spec, latest)
            win.on_key("p", pulse_key)
            win.on_key("n", next_target)
            win.interactor.AddObserver("TimerEvent", lambda *_: (not loop.running) and win.close())
            lower_thread_priority(10)   # rendering yields to tracking (threads already started keep theirs)
            win.start()
            loop.stop()
        else:
            if not args.no_keys and sys.stdin is not None and sys.stdin.isatty():
                threading.Thread(target=_terminal_keys, args=(loop, pulse_key, next_target), daemon=True).start()
            while not loop.join(1.0):
                print(_status(latest), flush=True)
        loop.join()
        st = loop.stats
        print(f"loop {st.state}: {st.frames_processed} frames processed, {st.dropped} dropped, "
              f"{pulses.fired_count} pulses" + (f"; {st.error}" if st.error else ""))
        if st.state == "source lost":
            print("the session and its logs are kept; run navtms navigate again when the source is back",
                  file=sys.stderr)
            return 1
        if st.state == "failed":
            raise NavtmsError(st.error)
        return 0
    finally:
        for c in reversed(closers):
            c()


def _terminal_keys(loop, pulse_key, next_target) -> None:
    for line in sys.stdin:
        k = line.strip().lower()
        if k == "p":
            pulse_key()
        elif k == "n":
            next_target()
        elif k == "q":
            loop.stop()
            return


def _status(latest) -> str:
    _, s = latest.get()
    if s is None:
        return "waiting for frames"
    if s.status and s.stale:
        return f"STALE ({s.status})"
    if not s.pose_is_current:
        return "coil or head not visible" + (" (stale)" if s.stale else "")
    return (f"{s.active_target}: distance {s.distance_mm:.1f} mm, tilt {s.tilt_deg:.1f} deg, "
            f"twist {s.twist_deg:.1f} deg{'  ON TARGET' if s.on_target else ''}")


def _pulse_line(s) -> str:
    if not s.fired:
        return f"pulse {s.index} refused ({s.refusal})"
    if s.errors is None:
        return f"pulse {s.index}: coil not visible at the pulse"
    return (f"pulse {s.index}: distance {s.errors.distance_mm:.1f} mm, tilt {s.errors.tilt_deg:.1f} deg"
            + (" on target" if s.on_target else ""))
