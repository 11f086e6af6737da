"""LiveWorkspace: the part Calibrate and Register share: a tracking source (SourceBar), a
LiveFeed on its own thread, body lights and the camera image refreshed by a display timer, and
pose readers for the collectors that run on workers (navtms.workflow's collectors).

The display timer only reads the feed's latest state (never waits on tracking); a hidden
workspace stops its timer and its feed (the camera is released for the next workspace).
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from PySide6.QtCore import QTimer

from navtms.app.live_feed import LiveFeed, body_light, open_feed
from navtms.app.views.camera_view import CameraView
from navtms.app.views.pose_lights import PoseLights
from navtms.app.views.source_bar import SourceBar
from navtms.app.workspaces.base import Workspace

DISPLAY_MS = 33


class LiveWorkspace(Workspace):
    bodies: tuple[str, ...] = ("pointer", "head", "coil")

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.feed: Optional[LiveFeed] = None
        self.source_bar = SourceBar()
        self.source_bar.connect_requested.connect(self.connect_source)
        self.source_bar.disconnect_requested.connect(self.disconnect_source)
        self.lights = PoseLights(self.bodies)
        self.camera_view = CameraView()
        self._timer = QTimer(self)
        self._timer.setInterval(DISPLAY_MS)
        self._timer.timeout.connect(self._tick)
        self._shown_received = -1
        self._wanted_spec: Optional[str] = None
        self.samples: Optional[list] = None      # [taken, wanted] while a point is being sampled
        self._active = False

    # -- source -----------------------------------------------------------------------------
    def connect_source(self, spec: str) -> bool:
        """Open `spec` with the session's camera and bodies; False (with the reason shown) when
        it cannot be opened."""
        self.disconnect_source()
        if self.ctx.session is None:
            self.source_bar.set_connected(False, "open a session first")
            return False
        try:
            self.feed = open_feed(self.ctx.session, spec, self.bodies)
        except Exception as e:  # noqa: BLE001 - shown to the operator in one line
            self.source_bar.set_connected(False, f"cannot open {spec}: {e}")
            self.ctx.message.emit(f"cannot open {spec}: {e}")
            return False
        self._wanted_spec = spec
        self.source_bar.spec.setText(spec)
        self.source_bar.set_connected(True, f"connected: {spec}")
        self.ctx.source_spec = spec   # the next workspace offers the same source
        if self._active:
            self._timer.start()
        return True

    def disconnect_source(self, forget: bool = True) -> None:
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        if forget:
            self._wanted_spec = None
        self.source_bar.set_connected(False, "not connected")
        self.camera_view.set_message("no source")

    def reader(self, cancelled: Callable[[], bool], on_poses: Optional[Callable[[dict], None]] = None):
        """A PoseReader over the feed for a collector on a worker: every frame's poses from now
        on; None once cancelled or when the feed ends. Close it with .close() when done."""
        if self.feed is None:
            raise RuntimeError("no tracking source is connected")
        sub = self.feed.subscribe()

        def read():
            if cancelled():
                return None
            poses = sub()
            if poses is not None and on_poses is not None:
                on_poses(poses)
            return poses
        read.close = sub.close
        return read

    def point_reader(self, cancelled, tip_pointer_mm, n: int, body: str = "head"):
        """reader() for navtms.workflow.collect_point that also counts the samples taken so far
        (frames with the pointer and `body` both seen) in self.samples = [taken, n], which the
        display timer shows. (A plain counter, not Task.progress: that signal emitted many times
        from the worker ends the process with a refcount fault at exit, PySide6 6.12.)"""
        from navtms.workflow import tip_in_head

        self.samples = [0, n]

        def on_poses(poses):
            if tip_in_head(poses, tip_pointer_mm, head=body) is not None:
                self.samples = [min(self.samples[0] + 1, n), n]
        return self.reader(cancelled, on_poses)

    # -- display ------------------------------------------------------------------------------
    def _tick(self) -> None:
        feed = self.feed
        if feed is None:
            return
        st = feed.latest()
        now = time.monotonic_ns()
        lights = {b: body_light(st, b, now) for b in self.bodies}
        self.lights.set_states(lights)
        if not feed.running and feed.state == "source lost":
            self.source_bar.set_connected(True, f"SOURCE LOST: {feed.error}")
        elif st is not None:
            self.source_bar.status.setText(f"frame {st.frame_number}, {st.rate_hz:.0f} frames/s")
        if st is not None and st.received_ns != self._shown_received:
            self._shown_received = st.received_ns
            self.camera_view.set_frame(st.image, st.detections, st.poses, lights)
        self.refresh_live(st, lights)

    def refresh_live(self, state, lights: dict) -> None:
        """Subclasses: update their live read-outs (GUI thread, display rate)."""

    # -- workspace contract ------------------------------------------------------------------
    def activated(self) -> None:
        self._active = True
        spec = self._wanted_spec or getattr(self.ctx, "source_spec", None)
        if spec and not self.source_bar.spec.text():
            self.source_bar.spec.setText(spec)
        if self._wanted_spec and self.feed is None:
            self.connect_source(self._wanted_spec)
        if self.feed is not None:
            self._timer.start()

    def deactivated(self) -> None:
        self._active = False
        self._timer.stop()
        spec = self._wanted_spec
        self.disconnect_source(forget=False)
        self._wanted_spec = spec

    def shutdown(self) -> None:
        try:
            self._timer.stop()
            self.disconnect_source()
        except Exception:  # noqa: BLE001 - shutdown must not raise
            pass
