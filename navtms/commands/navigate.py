"""`navtms navigate --session DIR --source camera:0|video:FILE|replay:DIR|poses:FILE|igtl:HOST:PORT`.

Live navigation: the loop runs on its own threads; the viewer window (when a display exists)
renders the latest state on its own timer at a lower CPU priority than tracking. Keys: p pulse,
n next target, q quit. Without a display (or with --headless) the status is printed once a
second and keys are read from the terminal (type p / n / q and Enter). Per-frame and per-pulse
logs are appended to the session folder (frames.csv, timing.csv, pulses.csv).

With a window, the scene is loaded and the window opened before the loop starts (a short
recording is not over before anything is drawn). --max-frames N / --seconds S stop the run after
N processed frames / S seconds of navigation (scripted and headless runs). SIGINT (Ctrl-C) and
SIGTERM both stop the loop after the frame in hand: the logs are closed with whole rows and the
summary is printed.

Exit status: 0 the source ended, q was pressed or --max-frames/--seconds was reached; 1 the
source was lost (the session and its logs are kept); 2 bad input or a failed run; 130 stopped by
SIGINT; 143 stopped by SIGTERM (128 + the signal number, as a shell reports a killed process).
"""
from __future__ import annotations

import signal
import sys
import threading
import time

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
    p.add_argument("--protocol-record", type=float, metavar="START_S",
                   help="fire the session's recorded treatment protocol (navtms protocol --use): its trains and "
                        "bursts, the first pulse START_S after the first frame")
    lock = p.add_mutually_exclusive_group()
    lock.add_argument("--lock-to-target", dest="lock", action="store_true", default=None,
                      help="refuse pulses while off target (default: as the session says)")
    lock.add_argument("--no-lock-to-target", dest="lock", action="store_false")
    p.add_argument("--igtl-port", type=int, help="also publish the coil pose and errors over OpenIGTLink")
    p.add_argument("--record-poses", metavar="FILE",
                   help="append every processed frame's estimated poses to a pose log (replay it with navtms replay)")
    p.add_argument("--max-frames", type=_positive_int, metavar="N", help="stop after N processed frames")
    p.add_argument("--seconds", type=_positive_float, metavar="S", help="stop after S seconds of navigation")
    _add_igtl_and_record_options(p)


def _add_igtl_and_record_options(p) -> None:
    from pathlib import Path

    from igtl.devices import DEVICE_HELP

    p.add_argument("--device", action="append", default=[], metavar="BODY=DEVICE", help=DEVICE_HELP)
    p.add_argument("--igtl-host", metavar="HOST",
                   help="interface the OpenIGTLink output listens on (default 127.0.0.1, this machine only; "
                        "0.0.0.0 serves other machines - OpenIGTLink has no authentication, so only on a "
                        "trusted network); implies --igtl-port 18945 when no port is given")
    p.add_argument("--record", type=Path, metavar="DIR",
                   help="record every processed frame (image, if any, and poses as estimated) to a new "
                        "recording folder; replay it with replay:DIR")


def _positive_int(text: str) -> int:
    import argparse

    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of frames of at least 1")
    return v


def _positive_float(text: str) -> float:
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return v


class _Signals:
    """SIGINT and SIGTERM stop the run (after the frame in hand) instead of killing the process;
    `received` is the first signal number; a second one raises KeyboardInterrupt (the run
    is closed by its context manager). Only the main thread may install handlers: elsewhere
    (e.g. the desktop app's worker) the handlers are left alone."""

    def __init__(self, stop):
        self.stop, self.received, self._old = stop, None, {}

    def _handle(self, signum, _frame) -> None:
        if self.received is not None:      # a second signal while stopping: give up waiting
            raise KeyboardInterrupt
        self.received = signum
        self.stop()

    def __enter__(self) -> "_Signals":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def run(args) -> int:
    from navcore.errors import NavtmsError
    from navigation.loop import LoopState, lower_thread_priority
    from navigation.pulses import parse_protocol
    from navigation.wiring import LoopMode, RunOptions, build_run
    from navtms.session import FRAMES_FILE, PULSES_FILE, TIMING_FILE, load_session, navigation_setup
    from viewer.display import has_display
    from viewer.sink import ViewSink
    from viewer.state import LatestState
    from igtl.devices import source_options
    from navtms.commands.track import check_outputs

    proto = parse_protocol(args.protocol) if args.protocol is not None else None   # bad input: before anything opens
    if args.protocol_record is not None:
        from navtms.session_protocol import session_schedule

        if proto is not None:
            raise NavtmsError("give --protocol or --protocol-record, not both")
        proto = session_schedule(args.session, args.protocol_record)
    check_outputs(None, args.record)
    device_options = source_options(args.source, args.device)
    session = load_session(args.session)
    setup = navigation_setup(session)
    opts = RunOptions(frames_path=session.path(FRAMES_FILE), timing_path=session.path(TIMING_FILE),
                      pulses_path=session.path(PULSES_FILE), mode=LoopMode.LATEST, realtime=True,
                      lock_to_target=args.lock, protocol=proto, record_poses=args.record_poses,
                      igtl_port=args.igtl_port, pulse_line=args.pulse_line, source_options=device_options,
                      igtl_host=args.igtl_host, record=args.record,
                      on_pulse=lambda s: print(_pulse_line(s), flush=True), max_frames=args.max_frames)
    with build_run(setup, args.source, opts) as run:
        nav = run.navigator
        latest = LatestState()
        run.add_sink(ViewSink(latest, run.fre_mm, run.pulses))

        def pulse_key():
            d = run.pulse()
            if not d.fired:
                print(f"pulse refused: {d.refusal}", flush=True)

        def next_target():
            t = run.next_target()
            print(f"target: {t.name}", flush=True)

        print(f"navigating {len(nav.targets)} target(s) from {args.source}; FRE {run.fre_mm:.2f} mm, "
              f"predicted TRE {nav.predicted_tre_mm:.2f} mm; lock to target {'on' if run.lock_to_target else 'off'}",
              flush=True)
        win = None
        if has_display() and not args.headless:   # scene loaded and window open before the first frame
            from navtms.replay import _scene_spec
            from viewer.window import NavigationWindow

            spec = _scene_spec(session)
            if spec is None:
                raise NavtmsError(f"{session.folder}: the window needs the session's plan with a scalp surface")
            win = NavigationWindow(spec, latest)
            win.on_key("p", pulse_key)
            win.on_key("n", next_target)
        with _Signals(run.stop) as signals:
            run.start()
            deadline = None if args.seconds is None else time.monotonic() + args.seconds

            def out_of_time() -> bool:
                return deadline is not None and time.monotonic() >= deadline

            if win is not None:
                def on_timer(*_):
                    if out_of_time():
                        run.stop()
                    if not run.running:
                        win.close()
                win.interactor.AddObserver("TimerEvent", on_timer)
                lower_thread_priority(10)   # rendering yields to tracking (threads already started keep theirs)
                win.start()
                run.stop()
            else:
                if not args.no_keys and sys.stdin is not None and sys.stdin.isatty():
                    threading.Thread(target=_terminal_keys, args=(run, pulse_key, next_target), daemon=True).start()
                while not run.join(0.05 if deadline is not None else 1.0):
                    if out_of_time():
                        run.stop()
                    elif deadline is None or _second_passed():
                        print(_status(latest), flush=True)
            run.join()
        st = run.stats
        print(f"loop {st.state}: {st.frames_processed} frames processed, {st.dropped} dropped, "
              f"{run.pulses.fired_count} pulses" + (f"; {st.error}" if st.error else "")
              + (f"; stopped by {signal.Signals(signals.received).name}" if signals.received else ""), flush=True)
        if st.state == LoopState.SOURCE_LOST:
            print("the session and its logs are kept; run navtms navigate again when the source is back",
                  file=sys.stderr)
            return 1
        if st.state == LoopState.FAILED:
            raise NavtmsError(st.error)
        return 128 + int(signals.received) if signals.received else 0


_last_status = [0.0]


def _second_passed() -> bool:
    """True once a second (the headless status line's rate when polling faster for --seconds)."""
    now = time.monotonic()
    if now - _last_status[0] >= 1.0:
        _last_status[0] = now
        return True
    return False


def _terminal_keys(run, pulse_key, next_target) -> None:
    for line in sys.stdin:
        k = line.strip().lower()
        if k == "p":
            pulse_key()
        elif k == "n":
            next_target()
        elif k == "q":
            run.stop()
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
