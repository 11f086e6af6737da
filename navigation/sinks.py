"""Sinks of the navigation loop: frame/timing logs, OpenIGTLink, plain callbacks (the viewer's
sink is viewer.sink.ViewSink: navigation never imports the viewer).

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
