"""IGTLSource: a FrameSource fed by an OpenIGTLink server (PLUS, a tracker bridge, navtms itself).

Behaviour (the decisions this module makes):
- One background thread connects to HOST:PORT and blocks in recv() (no polling sleeps). Every
  message whose device name is in `device_map` (e.g. "CoilToTracker" -> body "coil") goes to an
  igtl.grouping.FrameGrouper, which collects the messages of ONE tracker frame (the same header
  timestamp, as PLUS sends them) and releases the frame when it is complete. read() returns one
  Frame per tracker frame: the coil and head of a frame always come from the same tracker frame
  (never the coil of frame k with the head of frame k-1). The receive time
  (time.monotonic_ns(), taken as the bytes arrive) is the capture_ns; the sender's
  header timestamps (s since 1970) go to Frame.meta. In a grouped stream every pose of a frame
  carries the frame's capture time: when its last message arrived.
- Latest-value hand-off: a slow reader skips whole tracker frames; nothing queues.
- A grouped stream (a tracker frame of two or more devices was seen): a body absent from a
  tracker frame is not visible in it. A stream with timestamp 0 (unused) cannot be grouped:
  each message is its own update and the other bodies keep their latest pose for at most
  `stale_after_s`.
- Not visible: an identity matrix (PLUS sends identity for a tool it cannot see), NaN/inf, a
  non-rigid matrix (rotation off orthonormal by more than `rigid_tol`), a STATUS message for the
  device with a code other than OK, a v2 metadata field named *Status whose value is not
  "OK"/"VALID"/"TOOL_OK" (PLUS, OpenIGTLink v3), or a pose older than `stale_after_s` (0.2 s).
  Rigid poses are re-orthonormalised (SVD) to remove float32 rounding, so what leaves here is
  an exact float64 rigid transform.
- No data: read() blocks at most `read_timeout_s`; if nothing arrived it returns a Frame with
  every body not visible and meta["stale"] = True (the loop keeps running and can show it).
- A silent link (the tracker stops sending but the connection stays open: power loss, pulled
  cable, a hung PLUS): when no message arrives for the silence bound - `silence_timeout_s`, or
  by default 10 tracker periods clamped to [0.25 s, 2 s] (1 s until the period is known; 0.25 s
  at 60 Hz) - the link is declared silent: meta["link"] = "tracker silent", every pose is
  forgotten, and the connection is dropped and remade. TCP keepalive (1 s idle, 1 s interval,
  3 probes) also ends a connection whose peer host is gone. The link stays "tracker silent"
  until a message arrives again.
- Dropped connection: all poses are forgotten at once (nothing from before the drop is ever
  shown as current), a frame with meta["connected"] = False is released, and the thread
  reconnects every `retry_interval_s` until close(). A peer that sends a malformed message
  (bad CRC, oversized, truncated) is disconnected and reconnected the same way.
- meta["link"]: "ok" (messages arrive), "tracker silent", or "disconnected".
- TDATA (several tools in one message) is one tracker frame: `device_map` then maps TDATA
  tool names, and a mapped tool missing from it is not visible. start_tdata=True sends
  STT_TDATA after each connect for servers that push TDATA only on request.
- Start: the first connection is made in the constructor with `connect_retries` tries; if all
  are refused it raises TrackingError naming HOST:PORT.
- read() returns None only after close().
"""
from __future__ import annotations

import math
import socket
import threading
import time
from typing import Mapping, Optional

from navcore.errors import TrackingError
from igtl import content as C
from igtl import protocol as P
from igtl.grouping import (FrameGrouper, ToolStatus, TrackerFrame, rigid_or_none,  # noqa: F401  (re-exported)
                           metadata_says_invalid as _metadata_says_invalid)
from tracking.types import BodyPose, Frame

DEFAULT_DEVICE_MAP = {"CoilToTracker": "coil", "HeadToTracker": "head", "PointerToTracker": "pointer"}
LINK_OK, LINK_SILENT, LINK_DOWN = "ok", "tracker silent", "disconnected"
SILENCE_PERIODS = 10
SILENCE_MIN_S, SILENCE_MAX_S, SILENCE_UNKNOWN_RATE_S = 0.25, 2.0, 1.0


def set_keepalive(sock: socket.socket, idle_s: int = 1, interval_s: int = 1, count: int = 3) -> None:
    """TCP keepalive on `sock`: a peer host that vanished ends the connection after about
    idle_s + interval_s * count seconds (Linux options where the platform has them)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", idle_s), ("TCP_KEEPINTVL", interval_s), ("TCP_KEEPCNT", count)):
        opt = getattr(socket, name, None)
        if opt is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, opt, value)
            except OSError:
                pass


class IGTLSource:
    """FrameSource over OpenIGTLink TRANSFORM messages; see the module docstring for behaviour.

    Poses are T_tracker_from_body (4x4 float64, mm) delivered as BodyPose.T_camera_from_body
    ("camera" = the external tracker's frame).
    """

    def __init__(self, host: str, port: int, device_map: Optional[Mapping[str, str]] = None, *,
                 connect_retries: int = 3, retry_interval_s: float = 0.2, read_timeout_s: float = 0.5,
                 stale_after_s: float = 0.2, connect_timeout_s: float = 2.0, rigid_tol: float = 1e-3,
                 max_body_size: int = P.MAX_BODY_SIZE, start_tdata: bool = False,
                 silence_timeout_s: Optional[float] = None, frame_gap_s: Optional[float] = None):
        self.host, self.port = host, int(port)
        self.device_map = dict(DEFAULT_DEVICE_MAP if device_map is None else device_map)
        self.bodies = sorted(set(self.device_map.values()))
        self.retry_interval_s = retry_interval_s
        self.read_timeout_s = read_timeout_s
        self.stale_after_ns = int(stale_after_s * 1e9)
        self.connect_timeout_s = connect_timeout_s
        self.rigid_tol = rigid_tol
        self.max_body_size = max_body_size
        self.start_tdata = start_tdata
        self.silence_timeout_s = silence_timeout_s
        self.grouper = FrameGrouper(self.device_map, rigid_tol, gap_s=frame_gap_s)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        # body -> (T or None, receive ns, sender timestamp s); guarded by _cond
        self._latest: dict[str, tuple] = {}
        self._frame: Optional[TrackerFrame] = None   # the newest released tracker frame
        self._seq = 0
        self._read_seq = 0
        self._connected = False
        self._link = LINK_OK
        self._closed = False
        self._frame_number = 0
        self.reconnects = 0
        self.protocol_errors = 0
        self.silences = 0
        self.devices_seen: dict[tuple[str, str], int] = {}  # (type, device) -> messages, mapped or not
        # body -> [tracker frames it was visible in, first and last frame time s (sender clock,
        # or receive time when the sender leaves timestamps unused)]
        self.body_frames: dict[str, list] = {b: [0, math.nan, math.nan] for b in self.bodies}
        self.last_error = ""
        self._sock: Optional[socket.socket] = None
        last: Exception | None = None
        for attempt in range(max(1, connect_retries)):
            try:
                self._sock = self._connect()
                break
            except OSError as e:
                last = e
                if attempt + 1 < connect_retries:
                    time.sleep(retry_interval_s)
        if self._sock is None:
            raise TrackingError(
                f"OpenIGTLink server igtl:{host}:{port} could not be reached after {max(1, connect_retries)} "
                f"tries ({last}); is PLUS or the tracker server running and listening there?")
        self._connected = True
        self._thread = threading.Thread(target=self._run, name=f"igtl-source-{host}:{port}", daemon=True)
        self._thread.start()

    # ---- FrameSource ----------------------------------------------------------------------

    def read(self) -> Optional[Frame]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq != self._read_seq or self._closed, self.read_timeout_s)
            if self._closed:
                return None
            fresh = self._seq != self._read_seq
            self._read_seq = self._seq
            tf = self._frame if fresh else None
            latest = dict(self._latest)
            connected, link = self._connected, self._link
        now = time.monotonic_ns()
        self._frame_number += 1
        n = self._frame_number
        if tf is not None and tf.grouped and self.grouper.strict:
            # One tracker frame, nothing from another, and one capture time: when it was whole.
            members = {b: (T, tf.complete_ns, ts) for b, (T, _, ts) in tf.bodies.items()}
        elif tf is not None:
            members = {b: v for b, v in latest.items() if now - v[1] <= self.stale_after_ns}
            members.update(tf.bodies)
        else:
            members = {}
        capture_ns = tf.complete_ns if tf is not None else now
        poses: dict[str, BodyPose] = {}
        sender_ts: dict[str, float] = {}
        for body in self.bodies:
            T, recv_ns, ts = members.get(body, (None, 0, math.nan))
            if body in members:
                sender_ts[body] = ts  # also for a body reported "not visible" by the sender
            if T is not None:
                poses[body] = BodyPose(body, n, recv_ns, True, T.copy())  # callers may not share it
            else:
                poses[body] = BodyPose.not_visible(body, n, capture_ns)
        meta = {"source": f"igtl:{self.host}:{self.port}", "connected": connected, "link": link,
                "link_message": "" if link == LINK_OK else self.last_error,
                "stale": tf is None or not connected, "sender_timestamps_s": sender_ts,
                "tracker_timestamp_s": tf.timestamp_s if tf is not None else math.nan,
                "tracker_frames": self.grouper.frames, "reconnects": self.reconnects,
                "protocol_errors": self.protocol_errors, "silences": self.silences}
        return Frame(n, capture_ns, None, poses, meta)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5.0)

    def __enter__(self) -> "IGTLSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def link(self) -> str:
        """"ok", "tracker silent" or "disconnected"."""
        return self._link

    @property
    def tracker_rate_hz(self) -> float:
        """Tracker frames per second from the sender's timestamps (nan until known)."""
        p = self.grouper.period_s
        return 1.0 / p if p else math.nan

    def silence_bound_s(self) -> float:
        """Seconds without any message after which the link is declared silent."""
        if self.silence_timeout_s is not None:
            return self.silence_timeout_s
        p = self.grouper.period_s
        if p is None:
            return SILENCE_UNKNOWN_RATE_S
        return min(SILENCE_MAX_S, max(SILENCE_MIN_S, SILENCE_PERIODS * p))

    # ---- background thread ----------------------------------------------------------------

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        set_keepalive(sock)
        if self.start_tdata:
            try:
                sock.sendall(C.pack_stt_tdata())
            except OSError:
                sock.close()
                raise
        return sock

    def _run(self) -> None:
        while not self._stop.is_set():
            sock = self._sock
            if sock is None:
                try:
                    sock = self._connect()
                except OSError as e:
                    self.last_error = str(e)
                    with self._cond:
                        self._link = LINK_DOWN   # nothing listens: the tracker server is gone
                    self._stop.wait(self.retry_interval_s)
                    continue
                if self._stop.is_set():
                    sock.close()
                    break
                self._sock = sock
                self.reconnects += 1
                with self._cond:
                    self._connected = True
            self._serve(sock)
            self._sock = None
            sock.close()
            with self._cond:  # forget every pose at once and wake read()
                self._connected = False
                if self._link == LINK_OK:
                    self._link = LINK_DOWN
                self._latest.clear()
                self._frame = None
                self._seq += 1
                self._cond.notify_all()
            if not self._stop.is_set():
                self._stop.wait(self.retry_interval_s)

    def _count(self, tf: TrackerFrame) -> None:
        for body, (T, recv_ns, ts) in tf.bodies.items():
            st = self.body_frames.get(body)
            t = ts if ts > 0 else recv_ns / 1e9
            if T is None or st is None or t == st[2]:   # not visible, or this frame already counted
                continue
            st[0] += 1
            st[1] = t if st[0] == 1 else st[1]
            st[2] = t

    def body_rate_hz(self, body: str) -> float:
        """Tracker frames per second in which `body` was visible (0.0 when seen once or never)."""
        n, first, last = self.body_frames[body]
        return (n - 1) / (last - first) if n > 1 and last > first else 0.0

    def _release(self, frames: list[TrackerFrame]) -> None:
        if not frames:
            return
        for tf in frames:
            self._count(tf)
        with self._cond:
            for tf in frames:
                self._latest.update(tf.bodies)
            self._frame = frames[-1]
            self._link = LINK_OK
            self._seq += 1
            self._cond.notify_all()

    def _serve(self, sock: socket.socket) -> None:
        parser = P.StreamParser(self.max_body_size)
        g = self.grouper
        last_data_ns = time.monotonic_ns()
        try:
            while not self._stop.is_set():
                now = time.monotonic_ns()
                silence_at = last_data_ns + int(self.silence_bound_s() * 1e9)
                deadline = g.deadline_ns()
                wake = silence_at if deadline is None else min(deadline, silence_at)
                sock.settimeout(max(0.0005, (wake - now) / 1e9))
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    now = time.monotonic_ns()
                    self._release(g.expire(now))
                    if now >= silence_at:
                        self.silences += 1
                        self.last_error = (f"no message from igtl:{self.host}:{self.port} for "
                                           f"{self.silence_bound_s():.2f} s although connected")
                        with self._cond:
                            self._link = LINK_SILENT
                        return
                    continue
                except OSError as e:
                    self.last_error = str(e)
                    return
                recv_ns = time.monotonic_ns()
                if not data:
                    self.last_error = "the server closed the connection"
                    return
                last_data_ns = recv_ns
                released: list[TrackerFrame] = []
                try:
                    for msg in parser.feed(data):
                        key = (msg.type, msg.device)
                        self.devices_seen[key] = self.devices_seen.get(key, 0) + 1
                        released += g.feed(msg, recv_ns)
                except P.IGTLProtocolError as e:
                    self.protocol_errors += 1
                    self.last_error = str(e)
                    return
                self._release(released)
        finally:
            g.flush()   # a frame cut by the drop is incomplete: never released


def open_igtl(rest: str, **options) -> IGTLSource:
    """IGTLSource from the 'HOST:PORT' part of an `igtl:HOST:PORT` source spec ([::1]:PORT for
    IPv6). `options` go to IGTLSource (device_map, read_timeout_s, ...); realtime is ignored
    (a live stream is realtime by nature)."""
    options.pop("realtime", None)
    host, sep, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        port_number = int(port)
        if not sep or not host or not 0 < port_number < 65536:
            raise ValueError
    except ValueError:
        raise TrackingError(f"source 'igtl:{rest}' is not igtl:HOST:PORT, e.g. igtl:127.0.0.1:18944") from None
    return IGTLSource(host, port_number, **options)
