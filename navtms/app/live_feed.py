"""LiveFeed: tracking on its own thread for the workspaces that need live poses (Calibrate,
Register), with the latest state for the display and per-frame pose streams for collectors.

The feed thread reads a frame source (camera, video, pose log, OpenIGTLink), estimates the body
poses (tracking.pose.MarkerTracker for image sources; pose sources bring their own) and
 - stores the newest `FeedState` (latest value wins; the GUI polls it on its display timer and
   never waits on the thread, the thread never waits on the GUI);
 - hands each frame's poses to every subscriber (`subscribe()` -> a PoseReader as
   navtms.workflow's collectors expect: one frame's poses per call, None when the feed ends or
   the subscription is closed). A collector runs on a worker (AppContext.run_in_worker) and
   blocks only itself.

Times: `received_ns` is time.monotonic_ns() when the frame came out of the source; the display
measures a body's age from it (a recording's capture clock is not the wall clock). Poses are
T_camera_from_body 4x4 mm (tracking.types.BodyPose).
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from navigation.navigator import STALE_NS
from tracking.types import BodyPose


@dataclass(frozen=True)
class FeedState:
    """The newest tracked frame. image: BGR (H, W, 3) uint8 or None (pose sources).
    detections: (dictionary, tag id) -> (4, 2) corner pixels of the tags found in this frame.
    last_seen_ns: body -> received_ns of the last frame the body was visible in."""

    frame_number: int
    capture_ns: int
    received_ns: int
    poses: Mapping[str, BodyPose]
    image: Optional[np.ndarray] = None
    detections: Mapping = field(default_factory=dict)
    last_seen_ns: Mapping[str, int] = field(default_factory=dict)
    frames: int = 0
    rate_hz: float = 0.0


class BodyLight:
    """What a body light shows."""
    SEEN = "seen"
    NOT_SEEN = "not seen"
    STALE = "stale"


def body_light(state: Optional[FeedState], body: str, now_ns: int, stale_ns: int = STALE_NS) -> str:
    """SEEN when the body is visible in the newest frame and that frame is fresh; STALE when the
    newest frame is older than stale_ns (no fresh data: nothing is current); NOT_SEEN otherwise."""
    if state is None:
        return BodyLight.NOT_SEEN
    if now_ns - state.received_ns > stale_ns:
        return BodyLight.STALE
    p = state.poses.get(body)
    return BodyLight.SEEN if (p is not None and p.visible) else BodyLight.NOT_SEEN


class _Subscription:
    def __init__(self, feed: "LiveFeed") -> None:
        self.q: "queue.Queue" = queue.Queue()
        self.closed = threading.Event()
        self._feed = feed

    def __call__(self) -> Optional[dict]:
        """One frame's poses (blocks until it comes), or None when the feed ended or closed."""
        while True:
            if self.closed.is_set():
                return None
            try:
                item = self.q.get(timeout=0.1)
            except queue.Empty:
                if not self._feed.running:
                    return None
                continue
            return item

    def close(self) -> None:
        self.closed.set()
        self._feed._unsubscribe(self)


class LiveFeed:
    """Reads `source` on a thread; see the module docstring.

    source: a FrameSource; estimator: PoseEstimator for image frames (None for pose sources).
    reopen: callable returning a fresh source when the current one ends (file sources played in
    a loop while rehearsing), or None to end with the source."""

    def __init__(self, source, estimator=None, reopen: Optional[Callable[[], object]] = None,
                 bodies: Sequence[str] = ()):
        self.source, self.estimator, self.reopen = source, estimator, reopen
        self.bodies = tuple(bodies)
        self._lock = threading.Lock()
        self._latest: Optional[FeedState] = None
        self._subs: list[_Subscription] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.error = ""
        self.state = "idle"

    # -- control --------------------------------------------------------------------------
    def start(self) -> "LiveFeed":
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name="app-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for s in list(self._subs):
            s.closed.set()
        try:
            self.source.close()
        except Exception:  # noqa: BLE001 - closing a broken source must not raise at shutdown
            pass

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def latest(self) -> Optional[FeedState]:
        with self._lock:
            return self._latest

    def subscribe(self) -> _Subscription:
        s = _Subscription(self)
        with self._lock:
            self._subs.append(s)
        return s

    def _unsubscribe(self, s: _Subscription) -> None:
        with self._lock:
            if s in self._subs:
                self._subs.remove(s)

    # -- thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        last_seen: dict[str, int] = {}
        count, t_rate, n_rate, rate = 0, time.monotonic_ns(), 0, 0.0
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    if self.reopen is None:
                        self.state = "ended"
                        break
                    self.source.close()
                    self.source = self.reopen()
                    if self.estimator is not None and hasattr(self.estimator, "reset"):
                        self.estimator.reset()
                    continue
                now = time.monotonic_ns()
                if frame.poses is not None:
                    poses = dict(frame.poses)
                    det = {}
                else:
                    poses = self.estimator.estimate(frame) if self.estimator is not None else {}
                    det = dict(getattr(self.estimator, "last_detections", {}) or {})
                for name, p in poses.items():
                    if p.visible:
                        last_seen[name] = now
                count += 1
                n_rate += 1
                if now - t_rate >= 500_000_000:
                    rate, t_rate, n_rate = n_rate * 1e9 / (now - t_rate), now, 0
                st = FeedState(frame.frame_number, frame.capture_ns, now, poses, frame.image, det,
                               dict(last_seen), count, rate)
                with self._lock:
                    self._latest = st
                    subs = list(self._subs)
                for s in subs:
                    s.q.put(poses)
        except Exception as e:  # a camera unplugged, a broken file: report it, keep the app
            self.error = str(e) or e.__class__.__name__
            self.state = "source lost"
        finally:
            if self.state == "running":
                self.state = "stopped"


def open_feed(session, spec: str, bodies: Sequence[str] = ("pointer", "head", "coil"),
              repeat: bool = True) -> LiveFeed:
    """A LiveFeed over source `spec` with the session's camera and bodies (navtms.replay's
    estimator). File sources play at their recorded pace; with repeat, again from the start."""
    from navigation.sources import is_live, open_source
    from navtms.replay import build_estimator

    live = is_live(spec)
    source = open_source(spec) if live else open_source(spec, realtime=True)
    try:
        estimator = build_estimator(session, source, bodies)
    except Exception:
        source.close()
        raise
    reopen = None if (live or not repeat) else (lambda: open_source(spec, realtime=True))
    return LiveFeed(source, estimator, reopen, bodies).start()
