"""IGTLSource: a FrameSource fed by an OpenIGTLink server (PLUS, a tracker bridge, navtms itself).

Behaviour (the decisions this module makes):
- One background thread connects to HOST:PORT and blocks in recv() (no polling sleeps). Every
  TRANSFORM whose device name is in `device_map` (e.g. "CoilToTracker" -> body "coil") updates
  that body's latest pose; the receive time (time.monotonic_ns(), taken as the bytes arrive) is
  the pose's capture_ns, the sender's header timestamp (s since 1970) goes to Frame.meta.
- Grouping: read() returns one Frame as soon as at least one message arrived since the previous
  read(), carrying the latest known pose of EVERY mapped body (each BodyPose with its own
  capture_ns). Latest-value hand-off: a slow reader skips intermediate updates; nothing queues.
- Not visible: an identity matrix (PLUS sends identity for a tool it cannot see), NaN/inf, a
  non-rigid matrix (rotation off orthonormal by more than `rigid_tol`), a STATUS message for the
  device with a code other than OK, a v2 metadata field named *Status whose value is not
  "OK"/"VALID"/"TOOL_OK" (PLUS, OpenIGTLink v3), or a pose older than `stale_after_s` (0.2 s:
  PLUS with SendValidTransformsOnly="true" simply stops sending a tool it cannot see).
  Rigid poses are re-orthonormalised (SVD) to remove float32 rounding, so what leaves here is
  an exact float64 rigid transform.
- No data: read() blocks at most `read_timeout_s`; if nothing arrived it returns a Frame with
  every body not visible and meta["stale"] = True (the loop keeps running and can show it).
- Dropped connection: all poses are forgotten at once (nothing from before the drop is ever
  shown as current), a frame with meta["connected"] = False is released, and the thread
  reconnects every `retry_interval_s` until close(). A peer that sends a malformed message
  (bad CRC, oversized, truncated) is disconnected and reconnected the same way.
- TDATA (several tools in one message) is read too: `device_map` then maps TDATA tool names,
  and a mapped tool missing from a TDATA message is not visible (the protocol leaves unseen
  tools out). start_tdata=True sends STT_TDATA after each connect for servers that push TDATA
  only on request. Use either TRANSFORM or TDATA from one server, not both.
- Start: the first connection is made in the constructor with `connect_retries` tries; if all
  are refused it raises TrackingError naming HOST:PORT.
- read() returns None only after close().
"""
from __future__ import annotations

import math
import socket
import threading
import time
from enum import StrEnum
from typing import Mapping, Optional

import numpy as np

from navcore.errors import TrackingError
from igtl import protocol as P
from tracking.types import BodyPose, Frame

DEFAULT_DEVICE_MAP = {"CoilToTracker": "coil", "HeadToTracker": "head", "PointerToTracker": "pointer"}


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


def _metadata_says_invalid(metadata: Mapping[str, str]) -> bool:
    return any(k.lower().endswith("status") and not ToolStatus.parse(v).valid for k, v in metadata.items())


class IGTLSource:
    """FrameSource over OpenIGTLink TRANSFORM messages; see the module docstring for behaviour.

    Poses are T_tracker_from_body (4x4 float64, mm) delivered as BodyPose.T_camera_from_body
    ("camera" = the external tracker's frame).
    """

    def __init__(self, host: str, port: int, device_map: Optional[Mapping[str, str]] = None, *,
                 connect_retries: int = 3, retry_interval_s: float = 0.2, read_timeout_s: float = 0.5,
                 stale_after_s: float = 0.2, connect_timeout_s: float = 2.0, rigid_tol: float = 1e-3,
                 max_body_size: int = P.MAX_BODY_SIZE, start_tdata: bool = False):
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
        self._cond = threading.Condition()
        self._stop = threading.Event()
        # body -> (T or None, receive ns, sender timestamp s); guarded by _cond
        self._latest: dict[str, tuple[Optional[np.ndarray], int, float]] = {}
        self._seq = 0
        self._read_seq = 0
        self._last_recv_ns = 0
        self._connected = False
        self._closed = False
        self._frame_number = 0
        self.reconnects = 0
        self.protocol_errors = 0
        self.devices_seen: dict[tuple[str, str], int] = {}  # (type, device) -> messages, mapped or not
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
            latest = dict(self._latest)
            connected = self._connected
            last_recv_ns = self._last_recv_ns
        now = time.monotonic_ns()
        self._frame_number += 1
        n = self._frame_number
        capture_ns = last_recv_ns if fresh and last_recv_ns else now
        poses: dict[str, BodyPose] = {}
        sender_ts: dict[str, float] = {}
        for body in self.bodies:
            T, recv_ns, ts = latest.get(body, (None, 0, math.nan))
            recent = fresh and body in latest and now - recv_ns <= self.stale_after_ns
            if recent:
                sender_ts[body] = ts  # also for a body reported "not visible" by the sender
            if recent and T is not None:
                poses[body] = BodyPose(body, n, recv_ns, True, T.copy())  # callers may not share it
            else:
                poses[body] = BodyPose.not_visible(body, n, capture_ns)
        meta = {"source": f"igtl:{self.host}:{self.port}", "connected": connected,
                "stale": not fresh or not connected, "sender_timestamps_s": sender_ts,
                "reconnects": self.reconnects, "protocol_errors": self.protocol_errors}
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

    # ---- background thread ----------------------------------------------------------------

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.start_tdata:
            try:
                sock.sendall(P.pack_stt_tdata())
            except OSError:
                sock.close()
                raise
        sock.settimeout(None)  # blocking recv: woken by data, by the peer closing, or by close()
        return sock

    def _run(self) -> None:
        while not self._stop.is_set():
            sock = self._sock
            if sock is None:
                try:
                    sock = self._connect()
                except OSError as e:
                    self.last_error = str(e)
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
                self._latest.clear()
                self._seq += 1
                self._cond.notify_all()
            if not self._stop.is_set():
                self._stop.wait(self.retry_interval_s)

    def _serve(self, sock: socket.socket) -> None:
        parser = P.StreamParser(self.max_body_size)
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except OSError as e:
                self.last_error = str(e)
                return
            recv_ns = time.monotonic_ns()
            if not data:
                self.last_error = "the server closed the connection"
                return
            try:
                messages = parser.feed(data)
            except P.IGTLProtocolError as e:
                self.protocol_errors += 1
                self.last_error = str(e)
                return
            updates = {}
            for msg in messages:
                key = (msg.type, msg.device)
                self.devices_seen[key] = self.devices_seen.get(key, 0) + 1
                if msg.type == "TDATA":
                    try:
                        tools = dict(P.tdata_from_content(msg.content))
                    except P.IGTLProtocolError as e:
                        self.protocol_errors += 1
                        self.last_error = str(e)
                        return
                    for name, body in self.device_map.items():  # a tool left out is not visible
                        T = tools.get(name)
                        updates[body] = (None if T is None else rigid_or_none(T, self.rigid_tol),
                                         recv_ns, msg.timestamp_s)
                    continue
                body = self.device_map.get(msg.device)
                if body is None:
                    continue
                T = None
                try:
                    if msg.type == "TRANSFORM":
                        if not _metadata_says_invalid(msg.metadata):
                            T = rigid_or_none(P.transform_from_content(msg.content), self.rigid_tol)
                    elif msg.type == "STATUS":
                        if P.status_from_content(msg.content).code == P.STATUS_OK:
                            continue
                    else:
                        continue  # unknown or unused type for this device: skipped
                except P.IGTLProtocolError as e:
                    self.protocol_errors += 1
                    self.last_error = str(e)
                    return
                updates[body] = (T, recv_ns, msg.timestamp_s)
            if updates:
                with self._cond:
                    self._latest.update(updates)
                    self._last_recv_ns = recv_ns
                    self._seq += 1
                    self._cond.notify_all()


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
