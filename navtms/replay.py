"""Headless replay of a recording through the whole navigation loop, with a report.

replay_session(recording, session_dir, out_dir) runs FrameSource -> (MarkerTracker) ->
(PoseFilter) -> Navigator -> pulses -> logs on a recording (a navtms recording folder, a
video, an image folder or a pose log), every frame in order on the recorded clock, so the
logs are bit-exact run to run. It writes into out_dir (a new or empty folder):
    frames.csv, pulses.csv     per-frame and per-pulse logs (navigation.records / navigation.pulses)
    timing.csv                 per-frame latency (wall clock; differs run to run)
    summary.json               figures (navtms.report.summarize) + run facts
    errors.png, bullseye.png   plots (matplotlib Agg)
    snapshot_*.png             viewer snapshots (first seen, best aligned, last frame) when the
                               session names a plan with a scalp surface
Pulses come from `pulse_times_ns` (e.g. the times of a recorded pulses.csv) or a
TimedProtocol; lock-to-target follows the session unless given.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

from navcore.errors import InputFileError, SessionError
from navcore.fileio import write_json
from navigation.csvlog import read_log
from navigation.loop import LoopState
from navigation.pulses import ProtocolSpec, PulseSchedule, TimedProtocol
from navigation.sources import is_live
from navtms.report import plot_bullseye, plot_errors, summarize
from navtms.session import (FRAMES_FILE, PULSES_FILE, TIMING_FILE, Session, body_paths, load_session,
                            navigation_setup)

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v")


def recording_spec(recording: str | Path) -> str:
    """A source spec for a recording given as a spec ('video:F', 'poses:F', 'replay:D',
    'images:D') or a path (folder with recording.json -> replay, other folder -> images,
    .csv -> poses, video suffix -> video)."""
    text = str(recording)
    scheme = text.split(":", 1)[0]
    if ":" in text and scheme in ("video", "poses", "replay", "images", "camera", "igtl"):
        return text
    p = Path(text)
    if p.is_dir():
        return f"replay:{p}" if (p / "recording.json").exists() else f"images:{p}"
    if p.suffix.lower() == ".csv":
        return f"poses:{p}"
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return f"video:{p}"
    if not p.exists():
        raise InputFileError(p, "the recording does not exist")
    raise InputFileError(p, "is not a recording folder, image folder, pose log (.csv) or video")


def build_estimator(session: Session, source=None, names: Sequence[str] = ("coil", "head")):
    """MarkerTracker for the session's camera (or the recording's) and bodies `names`; None when
    the session names no camera and the recording carries none (navigation.wiring.build_estimator)."""
    from navigation.wiring import build_estimator as _build

    return _build(session.resolve(session.camera), body_paths(session, names), source, names)


class _Picker:
    """Keeps the outputs worth a snapshot: first with a coil pose, best aligned, last."""

    def __init__(self):
        self.first = self.best = self.last = None

    def __call__(self, out) -> None:
        self.last = out
        if out.errors is None:
            return
        if self.first is None:
            self.first = out
        if self.best is None or out.errors.distance_mm < self.best.errors.distance_mm:
            self.best = out


def _scene_spec(session: Session):
    """viewer SceneSpec from the session's plan (None when there is no usable plan)."""
    if not session.plan:
        return None
    import warnings

    from targets.plan import load_plan
    from viewer.state import SceneSpec, TargetSpec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = load_plan(session.resolve(session.plan), checksum="skip")
    if plan.scalp is None:
        return None
    ts = [TargetSpec(t.name, t.target_mri_mm, t.entry_mri_mm, t.T_mri_from_coil) for t in plan.targets]
    active = session.targets[session.target_index()].name
    cm = session.coil_model or {}
    model = cm.get("model")
    if model and model not in _coil_library_names():
        model = str(session.resolve(model))
    from navtms.eeg import scalp_labels

    return SceneSpec(scalp=plan.scalp, brain=plan.brain, targets=ts, active_target=active, coil_mesh_path=model,
                     coil_mesh_transform=cm.get("T_coil_from_mesh"), scalp_labels=scalp_labels(session, plan))


def _coil_library_names():
    from viewer.coil_library import COILS

    return COILS


def _prepare_out(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputFileError(out_dir, "the report folder already exists and is not empty; reports are never overwritten")
    if not out_dir.parent.is_dir():
        raise InputFileError(out_dir, "the report folder's parent does not exist")
    out_dir.mkdir(exist_ok=True)


def replay_session(recording: str | Path, session_dir: str | Path, out_dir: str | Path, headless: bool = True,
                   pulse_times_ns: Optional[Sequence[int]] = None,
                   protocol: Optional[TimedProtocol | ProtocolSpec | PulseSchedule] = None,
                   lock_to_target: Optional[bool] = None, retrack: bool = False, snapshots: bool = True,
                   plots: bool = True) -> dict:
    """Replay `recording` through the session's navigation; write the report into out_dir.
    Returns the summary dict (also written to summary.json). headless=False also shows the
    live NavigationWindow (needs a display). retrack: re-estimate poses from the images even
    when the recording carries poses. protocol: a TimedProtocol (recorded clock) or a
    ProtocolSpec / PulseSchedule (after the first frame). The run is wired by navigation.wiring.build_run."""
    from navigation.wiring import LoopMode, RunOptions, build_run

    session = load_session(session_dir)
    out_dir = Path(out_dir)
    spec = recording_spec(recording)
    if is_live(spec):
        raise SessionError(f"{spec} is a live source; replay needs a recording (use navtms navigate for live use)")
    setup = navigation_setup(session)
    opts = RunOptions(frames_path=out_dir / FRAMES_FILE, timing_path=out_dir / TIMING_FILE,
                      pulses_path=out_dir / PULSES_FILE, mode=LoopMode.EVERY, realtime=not headless,
                      lock_to_target=lock_to_target, pulse_times_ns=list(pulse_times_ns or []), protocol=protocol,
                      retrack=retrack)
    # the report folder is made only once the inputs opened: bad input leaves none behind
    with build_run(setup, spec, opts, prepare_outputs=lambda: _prepare_out(out_dir)) as run:
        picker = _Picker()
        run.add_sink(picker)
        if headless:
            stats = run.run()
        else:
            stats = _run_with_window(run, session)
    nav, lock, estimator = run.navigator, run.lock_to_target, run.estimator
    frames = read_log(out_dir / FRAMES_FILE, "frame")
    pulse_rows = read_log(out_dir / PULSES_FILE, "pulse")
    timing = read_log(out_dir / TIMING_FILE, "timing")
    summary = summarize(frames, pulse_rows, timing)
    summary.update({"recording": spec, "session": str(Path(session_dir)), "loop_state": stats.state,
                    "loop_error": stats.error, "estimator": type(estimator).__name__ if estimator else None,
                    "retrack": retrack, "lock_to_target": lock, "fre_mm": _fre(session),
                    "predicted_tre_mm": nav.predicted_tre_mm, "tolerances": session.tolerances.to_dict(),
                    "estimator_errors": stats.estimator_errors, "files": {}})
    if stats.state == LoopState.FAILED:
        raise SessionError(f"replay of {spec} failed: {stats.error}")
    if stats.state == LoopState.SOURCE_LOST:  # a recording damaged part-way is bad input, not a result
        raise SessionError(f"replay of {spec} stopped after {stats.frames_processed} frames ({stats.error}); "
                           f"the partial logs are in {out_dir}")
    if plots and frames:
        summary["files"]["errors_plot"] = plot_errors(frames, pulse_rows, out_dir / "errors.png",
                                                      session.tolerances.distance_mm,
                                                      session.tolerances.angle_deg).name
        summary["files"]["bullseye_plot"] = plot_bullseye(pulse_rows, out_dir / "bullseye.png",
                                                          session.tolerances.distance_mm, frames).name
    summary["snapshots"] = (_snapshots(session, picker, out_dir, _fre(session), pulse_rows) if snapshots
                            else "not asked for")
    write_json(out_dir / "summary.json", summary)
    return summary


def _fre(session: Session) -> float:
    return session.registration.fre_mm if session.registration is not None else math.nan


def _snapshots(session: Session, picker: _Picker, out_dir: Path, fre_mm: float, pulse_rows=()):
    try:
        spec = _scene_spec(session)
    except Exception as e:   # a missing or broken plan must not lose the replay's logs
        return f"no snapshots: the plan could not be loaded ({e})"
    if spec is None:
        return "no snapshots: the session names no plan with a scalp surface"
    from tracking.poselog import parse_time_ns
    from viewer.sink import view_state
    from viewer.window import save_snapshot

    fired = sorted(parse_time_ns(r["time_s"]) for r in pulse_rows if r["fired"] == "1")
    written = []
    for tag, out in (("first_seen", picker.first), ("best", picker.best), ("last", picker.last)):
        if out is None:
            continue
        path = out_dir / f"snapshot_{tag}_frame{out.frame_number}.png"
        n_pulses = sum(t <= out.capture_ns for t in fired)
        save_snapshot(path, spec, view_state(out, fre_mm, n_pulses), size=(960, 540))
        written.append(path.name)
    return written


def _run_with_window(run, session: Session):
    """Show the replay in a NavigationWindow (window first, then the loop); returns the loop stats."""
    from viewer.sink import ViewSink
    from viewer.state import LatestState
    from viewer.window import NavigationWindow

    spec = _scene_spec(session)
    if spec is None:
        raise SessionError(f"{session.folder}: showing the replay needs a plan with a scalp surface")
    latest = LatestState()
    run.add_sink(ViewSink(latest, run.fre_mm, run.pulses))
    win = NavigationWindow(spec, latest)
    run.start()

    def poll_end():
        if not run.running:
            win.close()
    win.interactor.AddObserver("TimerEvent", lambda *_: poll_end())
    win.start()
    run.stop()
    run.join()
    return run.stats
