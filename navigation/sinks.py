"""Sinks of the navigation loop: frame/timing logs, the viewer's latest state, OpenIGTLink.

A sink is a callable taking one navigation.navigator.NavOutput on the tracking thread; it must
not block. Optional methods: status(state, message) when the loop state changes ("source
lost", "ended", ...), stale() when no fresh frame came for the stale limit.
"""
from __future__ import annotations

import math
from typing import Optional

from navigation.csvlog import CsvLog
from navigation.records import FRAME_COLUMNS, TIMING_COLUMNS, frame_row, timing_row


class FrameLogSink:
    """Appends one flushed row per frame to frames.csv (and timing.csv when given)."""

    def __init__(self, frames_path, timing_path=None, fsync: bool = False):
        self.frames = CsvLog(frames_path, "frame", FRAME_COLUMNS, fsync=fsync)
        self.timing = None if timing_path is None else CsvLog(timing_path, "timing", TIMING_COLUMNS)
        self._dropped_seen = 0
        self.loop = None   # set to read the drop counter

    def __call__(self, out) -> None:
        self.frames.write(frame_row(out))
        if self.timing is not None:
            d = 0 if self.loop is None else self.loop.slot.dropped
            self.timing.write(timing_row(out, d - self._dropped_seen))
            self._dropped_seen = d

    def close(self) -> None:
        self.frames.close()
        if self.timing is not None:
            self.timing.close()


def view_state(out, fre_mm: float = math.nan, pulses_delivered: int = 0, status: str = ""):
    """viewer.state.ViewState (screen values: mm, deg, ms) of a NavOutput."""
    from viewer.state import ViewState

    a = out.errors
    return ViewState(
        T_mri_from_coil=out.T_mri_from_coil, coil_visible=out.coil_visible, head_visible=out.head_visible,
        distance_mm=a.distance_mm if a is not None else math.nan,
        tilt_deg=a.tilt_deg if a is not None else math.nan,
        twist_deg=a.twist_deg if a is not None else math.nan,
        depth_mm=a.depth_mm if a is not None else math.nan,
        fre_mm=float(fre_mm), predicted_tre_mm=out.predicted_tre_mm,
        pose_age_ms=out.pose_age_ns / 1e6, stale=out.stale, on_target=out.on_target,
        active_target=out.target_name, pulses_delivered=int(pulses_delivered), status=status)


class ViewSink:
    """Stores the latest ViewState in a viewer.state.LatestState (the window polls it)."""

    def __init__(self, latest, fre_mm: float = math.nan, pulses=None):
        self.latest, self.fre_mm, self.pulses = latest, float(fre_mm), pulses
        self.last = None
        self.status_text = ""

    def _count(self) -> int:
        return 0 if self.pulses is None else self.pulses.fired_count

    def __call__(self, out) -> None:
        self.last = view_state(out, self.fre_mm, self._count(), self.status_text)
        self.latest.put(self.last)

    def stale(self) -> None:
        """No fresh frame: the last pose is shown as STALE, never as current."""
        if self.last is not None and not self.last.stale:
            self.last = self.last.with_(stale=True, on_target=False, status="no fresh frame")
            self.latest.put(self.last)

    def status(self, state: str, message: str) -> None:
        from viewer.state import ViewState

        self.status_text = state if not message else f"{state}: {message}"
        base = self.last if self.last is not None else ViewState()
        self.last = base.with_(stale=True, on_target=False, status=self.status_text)
        self.latest.put(self.last)


class IGTLSink:
    """Publishes each output through igtl.server.IGTLServer (non-blocking)."""

    def __init__(self, server, navigator, fre_mm: float = math.nan):
        self.server, self.navigator, self.fre_mm = server, navigator, float(fre_mm)

    def __call__(self, out) -> None:
        self.server.publish_output(out, self.fre_mm, self.navigator.targets[out.target_index])

    def status(self, state: str, message: str) -> None:
        """Source lost / ended: clients must stop showing the coil as current."""
        self.server.publish_lost(state if not message else f"{state}: {message}")

    def stale(self) -> None:
        self.server.publish_lost("stale")


class CallbackSink:
    """Wraps a plain function as a sink (e.g. to collect outputs in tests or a recorder)."""

    def __init__(self, fn, status_fn=None):
        self.fn, self.status_fn = fn, status_fn

    def __call__(self, out) -> None:
        self.fn(out)

    def status(self, state: str, message: str) -> None:
        if self.status_fn is not None:
            self.status_fn(state, message)
