"""IGTLServer: an OpenIGTLink server sink that publishes navigation to 3D Slicer and others.

Messages sent to every connected client (device names are constructor arguments):
    CoilToMRI      TRANSFORM  live T_mri_from_coil (mm); when the coil is not visible a STATUS
                              (code 4 "not found", error name "NotVisible") on the same device
                              instead, never an old pose.
    TargetToMRI    TRANSFORM  planned coil pose of the active target, T_mri_from_coil (mm).
    Target         POINT      the active cortical target (mri mm), named after the target.
    NavErrors      STRING     JSON: distance_mm, tilt_deg, twist_deg, on_target, fre_mm, tre_mm,
                              coil_visible, stale, target, frame_number (null where unknown).
Header timestamps are the capture time of the frame (wall clock, s since 1970).

Never blocks the caller: publish_*() packs the message, stores it as the latest value per
(client, device) - a newer message replaces one not yet sent, so nothing queues up - and wakes
the I/O thread, which writes with non-blocking sockets (selectors, no polling). A client whose
socket stays full for `stall_timeout_s` is dropped; so is a client that closes, errors, or
sends a malformed or oversized message (the server itself keeps serving the others). Incoming
valid messages are read and ignored.

Idle clients and a full server: a client from which nothing has been received for
`idle_timeout_s` (10 s) is idle. A viewer always gets in: when all `max_clients` slots are
taken, a new connection evicts the client idle the longest (it is refused only when every
client has sent something within idle_timeout_s). drop_idle=True also drops idle clients at
once (for setups whose viewers send keepalives; 3D Slicer only listens, so it is off by
default). TCP keepalive (1 s idle, 1 s interval, 3 probes) drops a client whose host vanished.

Binds 127.0.0.1 unless `host` says otherwise. OpenIGTLink has no authentication: any program
that can reach the port can read the navigation, so serve another interface only on a
trusted network.
"""
from __future__ import annotations

import json
import math
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from navcore.errors import TrackingError
from igtl import content as C
from igtl import protocol as P
from igtl.source import set_keepalive

DEFAULT_PORT = 18945  # 18944 is the usual PLUS port; navtms serves next to it


@dataclass
class _Client:
    sock: socket.socket
    addr: tuple
    parser: P.StreamParser
    pending: dict = field(default_factory=dict)  # device -> bytes, latest value only
    out: memoryview = memoryview(b"")
    stalled_since: float = 0.0
    want_write: bool = False
    last_heard: float = field(default_factory=time.monotonic)   # monotonic s: accept or last bytes in


def _finite_or_none(x) -> Optional[float]:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _wall_time(capture_ns: Optional[int]) -> float:
    """Wall-clock time (s since 1970) of a monotonic capture time; now when not given."""
    now = time.time()
    if capture_ns is None:
        return now
    return now - (time.monotonic_ns() - int(capture_ns)) / 1e9


class IGTLServer:
    """Publish coil pose, target and errors over OpenIGTLink; see the module docstring."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1", *,
                 coil_device: str = "CoilToMRI", target_device: str = "TargetToMRI",
                 point_device: str = "Target", errors_device: str = "NavErrors",
                 max_clients: int = 8, max_body_size: int = P.MAX_BODY_SIZE, stall_timeout_s: float = 5.0,
                 idle_timeout_s: float = 10.0, drop_idle: bool = False):
        self.coil_device, self.target_device = coil_device, target_device
        self.point_device, self.errors_device = point_device, errors_device
        self.max_clients = max_clients
        self.max_body_size = max_body_size
        self.stall_timeout_s = stall_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.drop_idle = drop_idle
        self._lock = threading.Lock()
        self._clients: dict[int, _Client] = {}
        self._sticky: dict[str, bytes] = {}  # latest target messages, given to clients that join
        self._closed = False
        self._woken = False
        self._last_target_key: object = None
        self.dropped = {"protocol": 0, "closed": 0, "stalled": 0, "refused": 0, "idle": 0}
        self.last_error = ""
        try:
            self._lsock = socket.create_server((host, port), reuse_port=False)
        except OSError as e:
            raise TrackingError(f"OpenIGTLink server cannot listen on {host}:{port} ({e})") from None
        self._lsock.setblocking(False)
        self.host, self.port = self._lsock.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._lsock, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._run, name=f"igtl-server-{self.port}", daemon=True)
        self._thread.start()

    # ---- publishing (any thread, never blocks on the network) -----------------------------

    def publish_coil(self, T_mri_from_coil: Optional[np.ndarray], capture_ns: Optional[int] = None) -> None:
        """Live coil pose (4x4 mm, mri from coil), or None when not visible (sends a STATUS)."""
        ts = _wall_time(capture_ns)
        if T_mri_from_coil is None:
            data = C.pack_status(self.coil_device, C.Status(C.STATUS_NOT_FOUND, 0, "NotVisible",
                                                           "coil or head body not visible"), ts)
        else:
            data = C.pack_transform(self.coil_device, T_mri_from_coil, ts)
        self._post(self.coil_device, data)

    def publish_target(self, T_mri_from_target_coil: np.ndarray, target_mri_mm: Optional[np.ndarray] = None,
                       name: str = "target") -> None:
        """Active target: planned coil pose (4x4 mm) and the cortical target point (3,) mri mm."""
        ts = time.time()
        self._post(self.target_device, C.pack_transform(self.target_device, T_mri_from_target_coil, ts), sticky=True)
        if target_mri_mm is not None:
            point = C.Point(name[:64], np.asarray(target_mri_mm, dtype=np.float64).reshape(3),
                            group="navtms", rgba=(255, 64, 64, 255), diameter=4.0)
            self._post(self.point_device, C.pack_points(self.point_device, [point], ts), sticky=True)

    def publish_errors(self, errors: Mapping[str, object], capture_ns: Optional[int] = None) -> None:
        """Errors as one JSON STRING; floats that are NaN/inf become null."""
        clean = {k: (_finite_or_none(v) if isinstance(v, (float, np.floating)) else v) for k, v in errors.items()}
        self._post(self.errors_device, C.pack_string(self.errors_device, json.dumps(clean), _wall_time(capture_ns)))

    def publish_output(self, out: object, fre_mm: float = math.nan, target: object = None) -> None:
        """Publish one navigation.navigator.NavOutput (duck-typed): coil pose, errors and, when
        given, the target (an object with T_mri_from_coil, target_mri_mm and name)."""
        if target is not None:
            key = (getattr(target, "name", ""), np.asarray(target.T_mri_from_coil).tobytes())
            if key != self._last_target_key:
                self._last_target_key = key
                self.publish_target(target.T_mri_from_coil, getattr(target, "target_mri_mm", None),
                                    str(getattr(target, "name", "target")))
        capture_ns = getattr(out, "capture_ns", None)
        self.publish_coil(getattr(out, "T_mri_from_coil", None), capture_ns)
        a = getattr(out, "errors", None)
        self.publish_errors({
            "distance_mm": getattr(a, "distance_mm", math.nan) if a is not None else math.nan,
            "tilt_deg": math.degrees(a.tilt_rad) if a is not None else math.nan,
            "twist_deg": math.degrees(a.twist_rad) if a is not None else math.nan,
            "on_target": bool(getattr(out, "on_target", False)),
            "fre_mm": float(fre_mm),
            "tre_mm": float(getattr(out, "predicted_tre_mm", math.nan)),
            "coil_visible": getattr(out, "T_mri_from_coil", None) is not None,
            "stale": bool(getattr(out, "stale", False)),
            "target": getattr(out, "target_name", None),
            "frame_number": getattr(out, "frame_number", None),
        }, capture_ns)

    __call__ = publish_output

    def publish_lost(self, reason: str = "stale") -> None:
        """No current pose (source lost, tracking stale, loop ended): a NotVisible STATUS for
        the coil and errors with coil_visible false, so no client keeps showing an old pose."""
        self.publish_coil(None)
        self.publish_errors({"distance_mm": None, "tilt_deg": None, "twist_deg": None, "on_target": False,
                             "fre_mm": None, "tre_mm": None, "coil_visible": False, "stale": True,
                             "status": reason})

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> "IGTLServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _post(self, device: str, data: bytes, sticky: bool = False) -> None:
        with self._lock:
            if sticky:
                self._sticky[device] = data
            for c in self._clients.values():
                c.pending[device] = data
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._woken:
                return
            self._woken = True
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    # ---- I/O thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._closed:
                timeout = 1.0 if any(c.out for c in self._clients.values()) else None
                if self.drop_idle and self._clients:
                    due = min(c.last_heard for c in self._clients.values()) + self.idle_timeout_s - time.monotonic()
                    timeout = max(0.0, due) if timeout is None else min(timeout, max(0.0, due))
                for key, mask in self._sel.select(timeout):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        c = key.data
                        if mask & selectors.EVENT_READ:
                            self._read(c)
                        if mask & selectors.EVENT_WRITE and c.sock.fileno() in self._clients:
                            self._flush(c)
                for c in list(self._clients.values()):
                    if c.pending and not c.out:
                        self._flush(c)
                    if c.out and c.stalled_since and time.monotonic() - c.stalled_since > self.stall_timeout_s:
                        self._drop(c, "stalled", "client stopped reading")
                    elif self.drop_idle and self._idle_for(c) >= self.idle_timeout_s:
                        self._drop(c, "idle", f"nothing received for {self.idle_timeout_s:g} s")
        finally:
            for c in list(self._clients.values()):
                self._drop(c, "closed", "server closed")
            self._sel.close()
            self._lsock.close()
            self._wake_r.close()
            self._wake_w.close()

    @staticmethod
    def _idle_for(c: _Client) -> float:
        return time.monotonic() - c.last_heard

    def _drain_wake(self) -> None:
        # Drain first, then clear the flag: clearing first lets a _wake() byte be swallowed by
        # this drain while the flag stays set, and every later post would then sleep unsent.
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            self._woken = False

    def _accept(self) -> None:
        try:
            sock, addr = self._lsock.accept()
        except BlockingIOError:
            return
        if len(self._clients) >= self.max_clients:
            idle = max(self._clients.values(), key=self._idle_for)
            if self._idle_for(idle) < self.idle_timeout_s:
                self.dropped["refused"] += 1
                sock.close()
                return
            self._drop(idle, "idle", f"idle for {self._idle_for(idle):.1f} s; its slot went to {addr}")
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        set_keepalive(sock)
        c = _Client(sock, addr, P.StreamParser(self.max_body_size))
        with self._lock:
            c.pending.update(self._sticky)
            self._clients[sock.fileno()] = c
        self._sel.register(sock, selectors.EVENT_READ, c)
        if c.pending:
            self._flush(c)

    def _read(self, c: _Client) -> None:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self._drop(c, "closed", str(e))
            return
        if not data:
            self._drop(c, "closed", "client closed the connection")
            return
        c.last_heard = time.monotonic()
        try:
            c.parser.feed(data)  # validated, then ignored: navtms only publishes
        except P.IGTLProtocolError as e:
            self._drop(c, "protocol", str(e))

    def _flush(self, c: _Client) -> None:
        while True:
            if not c.out:
                with self._lock:
                    if not c.pending:
                        break
                    device = next(iter(c.pending))
                    c.out = memoryview(c.pending.pop(device))
            try:
                n = c.sock.send(c.out)
            except BlockingIOError:
                n = 0
            except OSError as e:
                self._drop(c, "closed", str(e))
                return
            c.out = c.out[n:]
            if c.out:  # socket full: wait for EVENT_WRITE, remember since when
                c.stalled_since = c.stalled_since or time.monotonic()
                self._want_write(c, True)
                return
            c.stalled_since = 0.0
        self._want_write(c, False)

    def _want_write(self, c: _Client, on: bool) -> None:
        if c.want_write != on and c.sock.fileno() in self._clients:
            c.want_write = on
            self._sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0), c)

    def _drop(self, c: _Client, why: str, detail: str) -> None:
        with self._lock:
            if self._clients.pop(c.sock.fileno(), None) is None:
                return
        self.dropped[why] += 1
        self.last_error = f"{c.addr}: {detail}"
        try:
            self._sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
