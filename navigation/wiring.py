"""The one wiring of a navigation run: source -> estimator -> filter -> navigator -> pulses ->
sinks, with its logs, for `navtms navigate`, `navtms replay`, the demo and the desktop app.

    setup = navtms.session.navigation_setup(session)        # plain data of a registered session
    run = build_run(setup, "video:approach.mp4", RunOptions(frames_path=..., pulses_path=...))
    run.add_sink(ViewSink(latest, run.fre_mm, run.pulses))  # the caller adds the viewer's sink
    run.start(); ...; run.stop(); run.join(); run.close()    # or: with run: run.run()

No GUI and no CLI here (navigation never imports the viewer or navtms): the caller adds the
viewer's sink and drives its window. Frames: poses in camera (or tracker) mm, the coil in mri
mm through the registration T_mri_from_head (4x4) and the coil calibration
T_coilbody_from_coil (4x4); times in monotonic ns (the recorded clock on replay).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from navcore.errors import NavtmsError
from navigation.csvlog import CsvLog
from navigation.loop import LoopStats, NavigationLoop
from navigation.navigator import Navigator, Tolerances
from navigation.pulses import (PULSE_COLUMNS, KeyTrigger, LineTrigger, ProtocolSpec, ProtocolTrigger, PulseDecision,
                               PulseLog, PulseSchedule, TimedProtocol)
from navigation.sinks import FrameLogSink, IGTLSink
from navigation.sources import is_live, open_source


class LoopMode(StrEnum):
    """How the loop takes frames: LATEST (live or paced: the newest frame, older ones dropped
    and counted) or EVERY (every frame in order, for bit-exact replays)."""

    LATEST = "latest"
    EVERY = "every"


@dataclass(frozen=True)
class NavigationSetup:
    """What a navigation run needs of a registered session (plain data; navtms.session builds it).

    targets: planned targets (NavTarget or name/target_mri_mm/T_mri_from_coil objects);
    active_target: index of the first one. T_mri_from_head: registration (4x4 mm).
    T_coilbody_from_coil: coil calibration (4x4 mm). predicted_tre_mm: per target name (mm) or
    one figure; fre_mm: the registration's FRE. tolerances: the one on-target Tolerances.
    camera_path: camera model JSON (None: the source's own camera, e.g. a recording's).
    body_paths: {body name: marker body JSON} for the coil and head bodies."""

    targets: tuple
    T_mri_from_head: np.ndarray
    T_coilbody_from_coil: np.ndarray
    tolerances: Tolerances = Tolerances()
    predicted_tre_mm: Union[float, Mapping[str, float]] = math.nan
    fre_mm: float = math.nan
    active_target: int = 0
    lock_to_target: bool = False
    filter: bool = False
    camera_path: Optional[Path] = None
    body_paths: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOptions:
    """How to run. frames_path / timing_path / pulses_path: the logs (appended to when they
    exist). mode: LoopMode (EVERY implies the recorded clock: pose age 0, bit-exact logs).
    realtime: pace a recorded source to its capture times (live sources are realtime anyway).
    lock_to_target: refuse pulses off target (None: as the setup says). pulse_times_ns: pulses
    at these times on the loop's clock; protocol: a ProtocolSpec or PulseSchedule (after the
    first frame) or a TimedProtocol (absolute). retrack: re-estimate poses from images that carry poses.
    record_poses: a pose log of every processed frame's estimated poses. igtl_port: also
    publish over OpenIGTLink; igtl_host: the interface it listens on (None: 127.0.0.1; a host
    without a port serves on igtl.server.DEFAULT_PORT). pulse_line: a device/file whose each
    line is a pulse. on_pulse: called with each logged navigation.pulses.PulseSample (tracking
    thread). source_options: passed to open_source (e.g. an igtl: source's device_map, from
    igtl.devices.source_options). record: a new recording folder getting every processed frame
    (image and poses as estimated; tracking.recorder.LoopRecording, images encoded off the
    tracking thread).
    max_frames: stop after this many processed frames (None: until the source ends or stop())."""

    frames_path: Path
    pulses_path: Path
    timing_path: Optional[Path] = None
    mode: LoopMode = LoopMode.LATEST
    realtime: bool = True
    lock_to_target: Optional[bool] = None
    pulse_times_ns: Sequence[int] = ()
    protocol: Union[ProtocolSpec, PulseSchedule, TimedProtocol, None] = None
    retrack: bool = False
    record_poses: Optional[Path] = None
    igtl_port: Optional[int] = None
    pulse_line: Optional[str] = None
    on_pulse: Optional[Callable] = None
    source_options: Mapping = field(default_factory=dict)
    igtl_host: Optional[str] = None
    record: Optional[Path] = None
    max_frames: Optional[int] = None


def make_navigator(setup: NavigationSetup, **kw) -> Navigator:
    """The Navigator of a setup, on its active target. kw: Navigator options (clock, ...)."""
    nav = Navigator(setup.targets, setup.T_mri_from_head, setup.T_coilbody_from_coil, setup.predicted_tre_mm,
                    setup.tolerances, **kw)
    nav.select_target(setup.active_target)
    return nav


def build_estimator(camera_path: Optional[Path], body_paths: Mapping[str, Path], source=None,
                    names: Sequence[str] = ("coil", "head")):
    """tracking.pose.MarkerTracker for the camera at camera_path (else the source's own camera,
    e.g. a recording's) and the bodies `names` (paths in body_paths); None when there is no
    camera (a pose source needs none). Raises NavtmsError for a body without a file."""
    from tracking.bodies import load_body
    from tracking.camera import CameraModel
    from tracking.pose import MarkerTracker

    cam = CameraModel.load(camera_path) if camera_path else getattr(source, "camera", None)
    if cam is None:
        return None
    missing = [n for n in names if not body_paths.get(n)]
    if missing:
        raise NavtmsError(f"no marker body file for {', '.join(missing)}; name it in the session's bodies")
    return MarkerTracker(cam, [load_body(body_paths[n]) for n in names])


class NavigationRun:
    """One wired navigation run (see build_run). The caller may add sinks before start()."""

    def __init__(self, setup: NavigationSetup, source_spec: str, options: RunOptions, source, navigator: Navigator,
                 estimator, loop: NavigationLoop, pulses: PulseLog, frame_log: FrameLogSink, closers: list):
        self.setup, self.source_spec, self.options = setup, source_spec, options
        self.source, self.navigator, self.estimator, self.loop = source, navigator, estimator, loop
        self.pulses, self.frame_log = pulses, frame_log
        self.live = is_live(source_spec)
        self.lock_to_target = pulses.lock_to_target
        self._closers = closers
        self._key = KeyTrigger(pulses, clock=loop.clock)
        self._line = (LineTrigger(pulses, options.pulse_line, clock=loop.clock)
                      if options.pulse_line else None)
        self._closed = False
        self._started = False

    @property
    def fre_mm(self) -> float:
        return self.setup.fre_mm

    @property
    def stats(self) -> LoopStats:
        return self.loop.stats

    @property
    def running(self) -> bool:
        return self.loop.running

    def add_sink(self, sink) -> None:
        """Add a sink (a navigation.sinks.Sink, e.g. the viewer's); before start()."""
        self.loop.add_sink(sink)

    def start(self) -> "NavigationRun":
        if self._line is not None:
            self._line.start()
        self._started = True
        self.loop.start()
        return self

    def stop(self) -> None:
        self.loop.stop()

    def join(self, timeout: Optional[float] = None) -> bool:
        return self.loop.join(timeout)

    def run(self) -> LoopStats:
        """start() and wait until the source ends, is lost or stop() is called."""
        self.start()
        self.join()
        return self.stats

    def pulse(self) -> PulseDecision:
        """Request a pulse now (on the loop's clock), e.g. from a key."""
        return self._key()

    def next_target(self):
        return self.navigator.next_target()

    def close(self) -> None:
        """Stop the loop and close logs, servers and the source (in reverse order of opening)."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self.loop.stop()
            self.loop.join()
        for c in reversed(self._closers):
            c()

    def __enter__(self) -> "NavigationRun":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_run(setup: NavigationSetup, source_spec: str, options: RunOptions,
              prepare_outputs: Optional[Callable[[], None]] = None) -> NavigationRun:
    """Open the source and wire estimator, filter, navigator, pulse log, triggers, frame and
    timing logs, the optional OpenIGTLink server and pose log, and the loop.

    prepare_outputs: called once the inputs are open and checked (source, camera, bodies,
    navigator) and before any output is created, so bad input leaves no output behind (e.g.
    to create a report folder). On any error everything opened so far is closed."""
    live = is_live(source_spec)
    source = (open_source(source_spec, **options.source_options) if live
              else open_source(source_spec, realtime=options.realtime, **options.source_options))
    closers: list = [source.close]
    try:
        nav = make_navigator(setup)
        estimator = build_estimator(setup.camera_path, setup.body_paths, source)
        if prepare_outputs is not None:
            prepare_outputs()
        lock = setup.lock_to_target if options.lock_to_target is None else bool(options.lock_to_target)
        plog = CsvLog(options.pulses_path, "pulse", PULSE_COLUMNS)
        closers.append(plog.close)
        pulses = PulseLog(nav, plog, lock_to_target=lock, on_sample=options.on_pulse)
        flog = FrameLogSink(options.frames_path, options.timing_path)
        closers.append(flog.close)
        sinks: list = [flog]
        if options.igtl_port or options.igtl_host:
            from igtl.server import DEFAULT_PORT, IGTLServer

            server = IGTLServer(options.igtl_port or DEFAULT_PORT, host=options.igtl_host or "127.0.0.1")
            closers.append(server.close)
            sinks.append(IGTLSink(server, nav, setup.fre_mm))
        times, offsets = list(options.pulse_times_ns or ()), []
        if isinstance(options.protocol, (ProtocolSpec, PulseSchedule)):
            offsets = options.protocol.offsets_ns()
        elif options.protocol is not None:
            times += options.protocol.times_ns()
        trigger = None
        if times or offsets or options.mode == LoopMode.EVERY:
            trigger = ProtocolTrigger(pulses, times, name="protocol" if options.protocol is not None else "replayed",
                                      offsets_ns=offsets)
        pose_log = None
        if options.record_poses:
            from tracking.poselog import PoseLogWriter

            pose_log = PoseLogWriter(options.record_poses)
            closers.append(pose_log.close)
        on_frame = None
        if options.record is not None:
            from tracking.recorder import LoopRecording, Recorder

            camera = getattr(estimator, "camera", None) or getattr(source, "camera", None)
            recording = LoopRecording(Recorder(options.record, camera=camera,
                                               background=True,
                                               meta={"recorded_by": "navtms navigation", "source": source_spec}),
                                      also=pose_log)
            closers.append(recording.close)
            pose_log, on_frame = recording, recording.on_frame
        pose_filter = None
        if setup.filter:
            from tracking.filters import PoseFilter

            pose_filter = PoseFilter()
        every = LoopMode(options.mode) == LoopMode.EVERY
        loop = NavigationLoop(source, nav, estimator=estimator, pose_filter=pose_filter, sinks=sinks, pulses=pulses,
                              protocol=trigger, mode=LoopMode(options.mode).value, live=live and not every,
                              retrack=options.retrack, pose_log=pose_log, on_frame=on_frame,
                              max_frames=options.max_frames)
        flog.loop = loop
    except BaseException:
        for c in reversed(closers):
            c()
        raise
    return NavigationRun(setup, source_spec, options, source, nav, estimator, loop, pulses, flog, closers)
