"""Shared helpers of the OpenIGTLink tests: a real pyigtl server that leaves pytest's signal
handlers alone, a free loopback port, and polling for a condition."""
from __future__ import annotations

import signal
import socket
import time

import pyigtl


def pyigtl_server(port: int = 0) -> pyigtl.OpenIGTLinkServer:
    """A pyigtl server on 127.0.0.1:port (0: any free port)."""
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    srv = pyigtl.OpenIGTLinkServer(port=port, local_server=True)
    for s, h in old.items():  # pyigtl installs process-wide signal handlers; keep pytest's
        signal.signal(s, h)
    return srv


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout_s: float = 5.0) -> bool:
    """Poll pred() every 5 ms until it is true (True) or timeout_s passes (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return False


def raw_peer(connections, gap_s: float = 0.0, hold_s: float = 0.5, linger_s: float = 0.0):
    """A raw TCP OpenIGTLink peer (the 'tracker' end) on 127.0.0.1, any port: for each list of
    payloads in `connections` it accepts one connection, sends the payloads gap_s apart, keeps
    the connection hold_s (less once `done` is set), closes it; after the last one it keeps
    listening linger_s. Returns (listening socket, done event); close the socket when done."""
    import threading

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    done = threading.Event()

    def serve():
        for payloads in connections:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with conn:
                for p in payloads:
                    try:
                        conn.sendall(p)
                    except OSError:
                        break
                    time.sleep(gap_s)
                done.wait(hold_s)
        done.wait(linger_s)

    threading.Thread(target=serve, daemon=True).start()
    return lsock, done


def plus_motion(n: int, rate_hz: float = 60.0, head_speed_mm_s: float = 31.0, seed: int = 0, t0_s: float = 1.7e9):
    """A PLUS-like session of n tracker frames: a fixed registration T_mri_from_head, a true
    coil pose T_mri_from_coil held on the head, and the head moving at head_speed_mm_s (with a
    slow turn). Returns (T_mri_from_head, T_mri_from_coil, frames) with frames a list of
    (timestamp_s, T_tracker_from_coil, T_tracker_from_head), all 4x4 float64 mm."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    from navcore.transforms import invert, make_transform

    rng = np.random.default_rng(seed)
    T_mri_from_head = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-60, 60, 3))
    T_mri_from_coil = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-80, 80, 3))
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    frames = []
    for k in range(n):
        t = k / rate_hz
        R = Rotation.from_rotvec([0.0, 0.2 * t, 0.05 * t]).as_matrix()
        T_tracker_from_head = make_transform(R, np.array([20.0, -30.0, 900.0]) + head_speed_mm_s * t * direction)
        T_tracker_from_coil = T_tracker_from_head @ invert(T_mri_from_head) @ T_mri_from_coil
        frames.append((t0_s + t, T_tracker_from_coil, T_tracker_from_head))
    return T_mri_from_head, T_mri_from_coil, frames


def stream_plus_frames(server, frames, rate_hz: float = 60.0, stop=None,
                       devices=("CoilToTracker", "HeadToTracker")):
    """Send frames (plus_motion) through a pyigtl server the way PLUS does: the devices of one
    tracker frame back to back with one header timestamp, paced at rate_hz. Runs in a daemon
    thread; returns it."""
    import threading

    import pyigtl

    def run():
        start = time.monotonic()
        for k, (ts, T_coil, T_head) in enumerate(frames):
            if stop is not None and stop.is_set():
                return
            delay = start + k / rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for dev, T in zip(devices, (T_coil, T_head)):
                server.send_message(pyigtl.TransformMessage(T, device_name=dev, timestamp=ts), wait=False)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


class SilentTracker:
    """A raw-socket OpenIGTLink tracker on 127.0.0.1 that goes silent without closing: its
    first connection streams `first_frames` PLUS-style frames at rate_hz and then sends nothing
    while keeping the socket open (power loss, pulled cable, hung PLUS); every later connection
    streams frames until close(). `silent_since` is the monotonic time of its last frame."""

    def __init__(self, first_frames: int = 30, rate_hz: float = 60.0):
        import threading

        from navcore.transforms import random_rigid
        import numpy as np

        self.rate_hz = rate_hz
        self.first_frames = first_frames
        self.T = random_rigid(np.random.default_rng(5), 300.0)
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.silent_since = None
        self.connections = 0
        self._conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading

        while not self.stop.is_set():
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, self.connections == 1), daemon=True).start()

    def _serve(self, conn, first):
        from igtl import content as C

        k = 0
        while not self.stop.is_set():
            if first and k == self.first_frames:
                self.silent_since = time.monotonic()
                self.stop.wait()          # silent, connection kept open
                return
            ts = 1.7e9 + k / self.rate_hz
            try:
                conn.sendall(C.pack_transform("CoilToTracker", self.T, ts) + C.pack_transform("HeadToTracker", self.T, ts))
            except OSError:
                return
            k += 1
            self.stop.wait(1 / self.rate_hz)

    def close(self):
        self.stop.set()
        self.lsock.close()
        for c in self._conns:
            c.close()
