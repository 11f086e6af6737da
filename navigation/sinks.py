"""Sinks of the navigation loop: frame/timing logs, OpenIGTLink, plain callbacks (the viewer's
sink is viewer.sink.ViewSink: navigation never imports the viewer).

A sink (the `Sink` Protocol) is called with one navigation.navigator.NavOutput per frame on the
tracking thread and must not block; status(state, message) is called when the loop's
LoopState changes (source lost, ended, ...), stale(age_ns) when no fresh frame came for the
stale limit (age_ns: the last pose's age on the loop's clock, above the limit), and
link(state, message) when the source's link changes ("ok", "tracker silent", "disconnected":
igtl.source.IGTLSource). BaseSink gives no-op status/stale/link; as_sink wraps a plain callable.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Optional, Protocol, runtime_checkable

from navigation.csvlog import CsvLog
from navigation.records import FRAME_COLUMNS, TIMING_COLUMNS, frame_row, timing_row

from navigation.loop_state import LoopState

if TYPE_CHECKING:
    from navigation.navigator import NavOutput


@runtime_checkable
class Sink(Protocol):
    """What the loop calls on a sink (tracking thread; none may block)."""

    def __call__(self, out: "NavOutput") -> None: ...

    def status(self, state: LoopState, message: str) -> None: ...

    def stale(self, age_ns: int) -> None: ...

    def link(self, state: str, message: str) -> None: ...


class BaseSink:
    """A Sink whose status() and stale() do nothing; subclasses define __call__."""

    def __call__(self, out: "NavOutput") -> None:
        raise NotImplementedError

    def status(self, state: LoopState, message: str) -> None:
        pass

    def stale(self, age_ns: int) -> None:
        pass

    def link(self, state: str, message: str) -> None:
        pass


def as_sink(obj) -> Sink:
    """obj itself when it is a Sink, else a CallbackSink calling it per output."""
    if isinstance(obj, Sink):
        return obj
    if not callable(obj):
        raise TypeError(f"{obj!r} is not a sink (a callable taking one NavOutput)")
    return CallbackSink(obj)


class FrameLogSink(BaseSink):
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


class IGTLSink(BaseSink):
    """Publishes each output through igtl.server.IGTLServer (non-blocking)."""

    def __init__(self, server, navigator, fre_mm: float = math.nan):
        self.server, self.navigator, self.fre_mm = server, navigator, float(fre_mm)

    def __call__(self, out) -> None:
        self.server.publish_output(out, self.fre_mm, self.navigator.targets[out.target_index])

    def status(self, state: LoopState, message: str) -> None:
        """Source lost / ended: clients must stop showing the coil as current."""
        self.server.publish_lost(state if not message else f"{state}: {message}")

    def stale(self, age_ns: int) -> None:
        self.server.publish_lost(f"stale ({age_ns / 1e6:.0f} ms old)")

    def link(self, state: str, message: str) -> None:
        """The tracker went silent or away: clients hide the coil and see why."""
        if state != "ok":
            self.server.publish_lost(state if not message else f"{state}: {message}")


class CallbackSink(BaseSink):
    """Wraps a plain function as a sink (e.g. to collect outputs in tests or a recorder);
    status_fn(state, message) gets the loop's state changes."""

    def __init__(self, fn: Callable, status_fn: Optional[Callable] = None):
        self.fn, self.status_fn = fn, status_fn

    def __call__(self, out) -> None:
        self.fn(out)

    def status(self, state: LoopState, message: str) -> None:
        if self.status_fn is not None:
            self.status_fn(state, message)
