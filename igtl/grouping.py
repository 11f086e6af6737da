"""Tracker frames from a stream of OpenIGTLink messages: one output per tracker frame, never mixed.

PLUS (and any tracker bridge built like it) sends the tools of ONE tracker frame as separate
TRANSFORM messages back to back, all with the same header timestamp (the tracker's frame time),
e.g. CoilToTracker then HeadToTracker. Emitting a navtms frame per message would join the coil
of tracker frame k with the head of frame k-1 (a torn frame: 0.6 mm off at 31 mm/s of head
motion). FrameGrouper therefore collects the messages that share a header timestamp and
releases them as one TrackerFrame when the frame is known to be complete:
- every device expected in a frame has arrived (expected = the mapped devices seen in the last
  `expected_window` tracker frames: instant in steady state, no added latency), or the stream
  has not shown a frame of two or more devices yet (each message is then its own update), or
- a message with another timestamp arrives (the next tracker frame has begun), or
- nothing more arrived for `gap_s` after the last member (half a tracker period by default,
  measured from the sender's timestamps, 1-20 ms; 5 ms until a period is known): a tool the
  tracker left out of this frame (PLUS SendValidTransformsOnly="true") is then not visible.
A message that arrives after its frame was released (same timestamp, very late) re-releases
that same frame with the late member added (`late` set): frames are never mixed.

A TDATA message holds a whole tracker frame and is released at once (tools left out are not
visible). Messages with timestamp 0 (the sender leaves timestamps unused) cannot be grouped:
each is released on its own (`grouped` False), and the source then keeps the other bodies'
latest poses (the older, latest-value behaviour). `strict` tells the source which rule to use:
once the stream has shown a frame of two or more devices, it is a grouped stream and a body
absent from a tracker frame is not visible in it.

Pure logic, no sockets and no clock of its own: the caller gives receive times (monotonic ns).
"""
from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Mapping, Optional

import numpy as np

from igtl import content as C
from igtl import protocol as P

GAP_DEFAULT_S = 0.005
GAP_MIN_S, GAP_MAX_S = 0.001, 0.020


def rigid_or_none(T: np.ndarray, rigid_tol: float = 1e-3) -> Optional[np.ndarray]:
    """T (4x4, mm) as an exact rigid float64 transform, or None when it means "not visible":
    identity, not finite, or a rotation farther than rigid_tol from orthonormal with det +1."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        return None
    if np.allclose(T, np.eye(4), rtol=0.0, atol=1e-9):
        return None
    R = T[:3, :3]
    if not np.allclose(R.T @ R, np.eye(3), atol=rigid_tol) or abs(np.linalg.det(R) - 1.0) > rigid_tol:
        return None
    U, _, Vt = np.linalg.svd(R)
    out = np.eye(4)
    out[:3, :3] = U @ Vt
    out[:3, 3] = T[:3, 3]
    return out


class ToolStatus(StrEnum):
    """A tool's status as a tracker's metadata gives it (PLUS '...Status' keys, OpenIGTLink v3):
    OK, VALID and TOOL_OK mean a pose to use; any other word is INVALID."""

    OK = "OK"
    VALID = "VALID"
    TOOL_OK = "TOOL_OK"
    INVALID = "INVALID"

    @classmethod
    def parse(cls, text: str) -> "ToolStatus":
        word = str(text).strip().upper()
        return cls(word) if word in cls._value2member_map_ else cls.INVALID

    @property
    def valid(self) -> bool:
        return self is not ToolStatus.INVALID


def metadata_says_invalid(metadata: Mapping[str, str]) -> bool:
    """True when a v2 metadata field named *Status says the tool is not OK (PLUS, OpenIGTLink v3)."""
    return any(k.lower().endswith("status") and not ToolStatus.parse(v).valid for k, v in metadata.items())


@dataclass(frozen=True)
class TrackerFrame:
    """The mapped bodies of one tracker frame.

    bodies: body -> (T_tracker_from_body 4x4 float64 mm, or None = reported not visible;
    receive time monotonic ns; sender timestamp s since 1970). timestamp_s: the frame's header
    timestamp (0.0 when unused). complete_ns: receive time of the member that completed it."""

    timestamp_s: float
    bodies: Mapping[str, tuple[Optional[np.ndarray], int, float]]
    complete_ns: int
    grouped: bool
    late: bool = False


class FrameGrouper:
    """Groups messages into TrackerFrames; see the module docstring for the rules."""

    def __init__(self, device_map: Mapping[str, str], rigid_tol: float = 1e-3, *,
                 expected_window: int = 4, gap_s: Optional[float] = None):
        self.device_map = dict(device_map)
        self.rigid_tol = rigid_tol
        self.fixed_gap_s = gap_s
        self._recent: deque[frozenset[str]] = deque(maxlen=max(1, expected_window))
        self._intervals: deque[float] = deque(maxlen=33)
        self._pending: Optional[dict] = None     # {"raw", "ts", "bodies", "devices", "last_ns"}
        self._last_released: Optional[dict] = None
        self._last_ts: Optional[float] = None
        self.strict = False
        self.frames = 0           # tracker frames released (re-releases not counted)
        self.late_messages = 0

    # ---- decoding one message ------------------------------------------------------------

    def updates(self, msg: P.Message) -> dict[str, Optional[np.ndarray]]:
        """body -> pose (None = not visible) that one message reports; {} when it reports
        nothing for a mapped body. Raises IGTLProtocolError for malformed content."""
        if msg.type == "TDATA":
            tools = dict(C.tdata_from_content(msg.content))
            return {body: (None if name not in tools else rigid_or_none(tools[name], self.rigid_tol))
                    for name, body in self.device_map.items()}
        body = self.device_map.get(msg.device)
        if body is None:
            return {}
        if msg.type == "TRANSFORM":
            T = C.transform_from_content(msg.content)
            return {body: None if metadata_says_invalid(msg.metadata) else rigid_or_none(T, self.rigid_tol)}
        if msg.type == "STATUS" and C.status_from_content(msg.content).code != C.STATUS_OK:
            return {body: None}
        return {}   # STATUS OK, or a type navtms does not use for a tracked device

    # ---- grouping --------------------------------------------------------------------------

    @property
    def period_s(self) -> Optional[float]:
        """Median tracker frame period from the sender's timestamps (None until known)."""
        return statistics.median(self._intervals) if len(self._intervals) >= 3 else None

    @property
    def gap_s(self) -> float:
        if self.fixed_gap_s is not None:
            return self.fixed_gap_s
        p = self.period_s
        return GAP_DEFAULT_S if p is None else min(GAP_MAX_S, max(GAP_MIN_S, 0.5 * p))

    def deadline_ns(self) -> Optional[int]:
        """Receive time by which the pending frame is released if nothing else arrives."""
        if self._pending is None:
            return None
        return self._pending["last_ns"] + int(self.gap_s * 1e9)

    def expire(self, now_ns: int) -> list[TrackerFrame]:
        """Release the pending frame when its gap has passed (call on a receive timeout)."""
        d = self.deadline_ns()
        return [self._release()] if d is not None and now_ns >= d else []

    def flush(self) -> list[TrackerFrame]:
        """Release whatever is pending (the connection ended)."""
        out = [self._release()] if self._pending is not None else []
        self._last_released = None
        return out

    def feed(self, msg: P.Message, recv_ns: int) -> list[TrackerFrame]:
        """TrackerFrames completed by this message (usually 0 or 1). Raises IGTLProtocolError."""
        ups = self.updates(msg)
        out: list[TrackerFrame] = []
        raw = P.timestamp_to_raw(msg.timestamp_s)
        if self._pending is not None and (raw == 0 or raw != self._pending["raw"] or msg.type == "TDATA"):
            out.append(self._release())
        if not ups:
            return out
        entry = {b: (T, recv_ns, msg.timestamp_s) for b, T in ups.items()}
        if msg.type == "TDATA" or raw == 0:
            out.append(self._emit(msg.timestamp_s, entry, {msg.device} if raw == 0 else set(self.device_map),
                                  recv_ns, grouped=msg.type == "TDATA", count=True))
            return out
        if self._pending is None:
            late = self._last_released is not None and self._last_released["raw"] == raw
            base = self._last_released if late else None
            self._pending = {"raw": raw, "ts": msg.timestamp_s, "late": late,
                             "bodies": dict(base["bodies"]) if base else {},
                             "devices": set(base["devices"]) if base else set(), "last_ns": recv_ns}
            if late:
                self.late_messages += 1
        p = self._pending
        p["bodies"].update(entry)
        p["devices"].add(msg.device)
        p["last_ns"] = recv_ns
        expected = frozenset().union(*self._recent) if self._recent else frozenset()
        if not self.strict or (expected and expected <= p["devices"]):
            # Not (yet) a grouped stream: every message is its own update, no waiting. (A PLUS
            # stream shows itself grouped at its first frame, whose second member re-releases it.)
            out.append(self._release())
        return out

    def _release(self) -> TrackerFrame:
        p, self._pending = self._pending, None
        self._last_released = p
        return self._emit(p["ts"], p["bodies"], p["devices"], p["last_ns"], grouped=True,
                          count=not p["late"], late=p["late"])

    def _emit(self, ts: float, bodies: dict, devices, complete_ns: int, grouped: bool, count: bool,
              late: bool = False) -> TrackerFrame:
        mapped = frozenset(d for d in devices if d in self.device_map)
        if len(mapped) >= 2 or (grouped and len(bodies) >= 2):
            self.strict = True
        if mapped:
            if late and self._recent:
                self._recent[-1] = mapped      # the same tracker frame, now with its late member
            else:
                self._recent.append(mapped)
        if count:
            self.frames += 1
            if ts > 0 and self._last_ts is not None and ts > self._last_ts:
                self._intervals.append(ts - self._last_ts)
            if ts > 0:
                self._last_ts = ts
        return TrackerFrame(ts, dict(bodies), complete_ns, grouped, late)
