"""The navigation loop: FrameSource -> PoseEstimator -> PoseFilter -> Navigator -> sinks.

Threads (no sleeps anywhere in the loop; waits are blocking reads or condition waits):
- mode "latest" (live camera, paced replay): a capture thread reads the source and puts each
  frame into a latest-value slot; the tracking thread takes the newest frame and processes
  it. A frame overwritten before the tracking thread took it is dropped and counted (never
  queued), so tracking always works on the newest frame.
- mode "every" (headless replay, bit-exact): one tracking thread reads and processes every
  frame in order; nothing is dropped.
Sinks run on the tracking thread and must not block: the viewer sink only stores the latest
ViewState (viewer.state.LatestState; the window renders it on its own timer), log sinks
append one flushed row, the OpenIGTLink server posts to its own thread.

A source whose frames say their link state (meta["link"]: "ok", "tracker silent",
"disconnected"; igtl.source.IGTLSource) has each change passed to the sinks'
link(state, message), so the screen says "tracker silent" rather than "coil not visible".

A source that raises (camera unplugged, broken file) is reported: the loop state becomes
LoopState.SOURCE_LOST, sinks get a status call, the viewer shows the pose as stale; nothing crashes
and the session (logs, registration) is kept. A frame the estimator cannot handle gives
a not-visible output for that frame.

live=True: pose age is measured on the monotonic clock and latency from the capture time
(a camera stamps it right after grab(), so the camera's decode is inside the latency);
live=False (replay): the navigator's clock is the replayed capture time (pose age 0, so
results are deterministic) and latency is measured from when the frame was read, i.e. decoded
(a file's decode is a source cost, not latency; docs/navigation.md "Latency budget").

Stale: when no fresh frame came for the navigator's stale limit, sinks get stale(age_ns) with
the age of the last pose on the loop's clock: live, monotonic now minus its capture time; on a
replay, the replay clock runs on from the last frame's capture time with the wall clock while
the loop waits (a paced replay runs at the recorded rate), so the age is the time since that
frame was processed and is always above the limit when stale() is called: the age and the
stale flag agree on both clocks (never "STALE (0 ms old)").
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from navcore.errors import NavtmsError
from navcore.latest import LatestValue
from navigation.loop_state import LoopState
from navigation.sinks import Sink, as_sink
from tracking.types import Frame


def lower_thread_priority(nice: int = 10) -> bool:
    """Lower the calling thread's CPU priority (Linux: per-thread nice; threads it creates
    afterwards inherit it). Used by the rendering thread so that, on a machine short of cores,
    rendering yields to tracking. Returns False when the platform does not allow it."""
    import os

    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), int(nice)))
        return True
    except (AttributeError, OSError):
        return False


@dataclass
class LoopStats:
    """Counters of one loop run. dropped: frames overwritten before tracking took them."""

    frames_read: int = 0
    frames_processed: int = 0
    dropped: int = 0
    estimator_errors: int = 0
    state: LoopState = LoopState.IDLE
    error: str = ""
    stale_events: int = 0


class NavigationLoop:
    """Joins the parts. sinks: navigation.sinks.Sink objects (NavOutput per frame, status(state,
    message) on a LoopState change, stale() when no fresh frame came for the stale limit);
    a plain callable is wrapped as a CallbackSink.

    estimator: a PoseEstimator (None is allowed for sources that deliver poses).
    pose_filter: callable poses -> poses (tracking.filters.PoseFilter) or None.
    pulses: navigation.pulses.PulseLog or None; protocol: navigation.pulses.ProtocolTrigger or None
    (polled with the loop clock after each frame). retrack: for frames that carry both an image
    and recorded poses, estimate the poses again from the image (else the recorded ones are used).
    pose_log: a tracking.poselog.PoseLogWriter that gets each processed frame's poses as
    estimated (before the filter), so the session can be replayed with `navtms replay`.
    max_frames: stop (LoopState.STOPPED) after this many processed frames (None: no limit)."""

    def __init__(self, source, navigator, estimator=None, pose_filter=None, sinks: Sequence = (),
                 pulses=None, protocol=None, mode: str = "latest", live: bool = True,
                 on_frame: Optional[Callable[[Frame], None]] = None, retrack: bool = False,
                 pose_log=None, max_frames: Optional[int] = None):
        if mode not in ("latest", "every"):
            raise ValueError("mode must be 'latest' or 'every'")
        self.source, self.navigator, self.estimator = source, navigator, estimator
        self.pose_filter = pose_filter
        self.sinks: list[Sink] = [as_sink(s) for s in sinks]
        self.pulses, self.protocol = pulses, protocol
        self.mode, self.live = mode, live
        self.on_frame = on_frame
        self.retrack = retrack
        self.pose_log = pose_log
        if max_frames is not None and int(max_frames) < 1:
            raise ValueError("max_frames must be at least 1")
        self.max_frames = None if max_frames is None else int(max_frames)
        self.stats = LoopStats()
        self.slot: LatestValue = LatestValue()
        self._stop = threading.Event()
        self._now_ns = 0
        self._last_capture_ns: Optional[int] = None
        self._last_processed_mono = 0
        self._threads: list[threading.Thread] = []
        self._done = threading.Event()
        self._link = "ok"
        if not live:
            navigator.clock = self.clock

    # -- clock ---------------------------------------------------------------------------
    def clock(self) -> int:
        """Loop time (ns): monotonic when live, the replayed capture time otherwise."""
        return time.monotonic_ns() if self.live else self._now_ns

    def stale_age_ns(self) -> Optional[int]:
        """Age (ns) of the last processed frame's pose on the loop's clock now (see the module
        docstring: on a replay the replay clock runs on with the wall clock while the loop waits);
        None before the first frame."""
        if self._last_capture_ns is None:
            return None
        if self.live:
            return time.monotonic_ns() - self._last_capture_ns
        return (self._now_ns - self._last_capture_ns) + (time.monotonic_ns() - self._last_processed_mono)

    # -- control ---------------------------------------------------------------------------
    def add_sink(self, sink) -> None:
        """Add a sink (before start())."""
        self.sinks.append(as_sink(sink))

    def start(self) -> "NavigationLoop":
        self.stats.state = LoopState.RUNNING
        if self.mode == "latest":
            self._threads = [threading.Thread(target=self._capture, name="nav-capture", daemon=True),
                             threading.Thread(target=self._track_latest, name="nav-tracking", daemon=True)]
        else:
            self._threads = [threading.Thread(target=self._track_every, name="nav-tracking", daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Ask the threads to finish after the current frame."""
        self._stop.set()
        self.slot.close()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the loop to end; True when it has."""
        return self._done.wait(timeout)

    def run(self) -> LoopStats:
        """start() and wait until the source ends, is lost, or stop() is called."""
        self.start()
        self.join()
        return self.stats

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    # -- threads ---------------------------------------------------------------------------
    def _read(self) -> Optional[Frame]:
        """The next frame (counted in stats.frames_read), or None at the end or on a loss."""
        try:
            frame = self.source.read()
        except Exception as e:  # a camera unplugged, a broken file: report, keep the session
            self._lost(e)
            return None
        if frame is not None:
            self.stats.frames_read += 1
        return frame

    def _lost(self, e: BaseException) -> None:
        msg = str(e) if isinstance(e, NavtmsError) else f"{e.__class__.__name__}: {e}"
        self.stats.state, self.stats.error = LoopState.SOURCE_LOST, msg
        for s in self.sinks:
            s.status(LoopState.SOURCE_LOST, msg)

    def _failed(self, e: BaseException) -> None:
        """Processing failed (a bug or a bad configuration): report it, stop reading."""
        self._lost(e)
        self.stats.state = LoopState.FAILED
        self._stop.set()
        self.slot.close()

    def _capture(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._read()
                if frame is None:
                    break
                if self.slot.put((frame, time.monotonic_ns())):
                    self.stats.dropped = self.slot.dropped
        finally:
            self.slot.close()

    def _track_latest(self) -> None:
        stale_s = self.navigator.stale_ns / 1e9
        try:
            while True:
                item = self.slot.take(timeout=stale_s)
                if item is None:
                    if self.slot.closed or self._stop.is_set():
                        break
                    self._stale()
                    continue
                frame, entered = item
                self._process(frame, frame.capture_ns if self.live else entered)
        except Exception as e:
            self._failed(e)
        finally:
            self._finish()

    def _track_every(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._read()
                if frame is None:
                    break
                entered = time.monotonic_ns()
                self._process(frame, frame.capture_ns if self.live else entered)
        except Exception as e:
            self._failed(e)
        finally:
            self._finish()

    def _stale(self) -> None:
        age = self.stale_age_ns()
        if age is None:   # no pose yet: nothing to call stale
            return
        self.stats.stale_events += 1
        for s in self.sinks:
            s.stale(age)

    def _finish(self) -> None:
        if self.pulses is not None:
            self.pulses.finish()
        if self.stats.state == LoopState.RUNNING:
            self.stats.state = LoopState.STOPPED if self._stop.is_set() else LoopState.ENDED
            for s in self.sinks:
                s.status(self.stats.state, "")
        self.stats.dropped = self.slot.dropped
        self._done.set()

    # -- one frame ---------------------------------------------------------------------------
    def _poses(self, frame: Frame) -> dict:
        if frame.poses is not None and not (self.retrack and frame.image is not None):
            return dict(frame.poses)
        if self.estimator is None:
            raise NavtmsError("the source delivers images but no pose estimator was given")
        try:
            return self.estimator.estimate(frame)
        except NavtmsError:
            self.stats.estimator_errors += 1
            return {}

    def _check_link(self, frame: Frame) -> None:
        """Tell the sinks when the source's link state changes (see the module docstring)."""
        link = (frame.meta or {}).get("link")
        if link is None or link == self._link:
            return
        self._link = link
        message = str((frame.meta or {}).get("link_message", ""))
        for s in self.sinks:
            s.link(link, message)

    def _process(self, frame: Frame, entered_ns: int) -> None:
        if not self.live:
            self._now_ns = frame.capture_ns
        self._check_link(frame)
        if self.on_frame is not None:
            self.on_frame(frame)
        poses = self._poses(frame)
        if self.pose_log is not None:
            self.pose_log.write_frame(poses)
        if self.pose_filter is not None:
            poses = self.pose_filter(poses)
        out = self.navigator.update(poses, frame.frame_number, frame.capture_ns, entered_ns)
        if self.pulses is not None:
            self.pulses.on_output(out)
            if self.protocol is not None:
                self.protocol.poll(self.clock())
        self.stats.frames_processed += 1
        self._last_capture_ns, self._last_processed_mono = frame.capture_ns, time.monotonic_ns()
        for s in self.sinks:
            s(out)
        self.stats.dropped = self.slot.dropped
        if self.max_frames is not None and self.stats.frames_processed >= self.max_frames:
            self.stop()
