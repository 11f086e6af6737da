"""`navtms bench igtl`: added latency per OpenIGTLink hop on loopback (p50/p99, ms).

Each hop sends one TRANSFORM at a time and waits until the receiving side hands it to its
caller; latency = that hand-off time minus the send call time, both on time.monotonic_ns().
Hops: pyigtl server -> navtms IGTLSource, navtms IGTLServer -> pyigtl client,
navtms IGTLServer -> navtms IGTLSource, a PLUS-style tracker frame (CoilToTracker and
HeadToTracker back to back with one timestamp, from a raw socket) -> IGTLSource, timed until
read() returns the whole frame (the grouping into tracker frames included), and pyigtl client
-> pyigtl server for comparison.
Figures only; nothing is asserted (shared, noisy machines).
"""
from __future__ import annotations

import signal
import time

import numpy as np

NAME = "igtl"
HELP = "OpenIGTLink latency per hop (pyigtl <-> navtms, navtms <-> navtms, pyigtl <-> pyigtl)"


def _pose(i: int) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (float(i), 1.0, 2.0)  # the message number travels in x (exact in float32)
    return T


def _pyigtl_server():
    import pyigtl

    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    server = pyigtl.OpenIGTLinkServer(port=0, local_server=True)
    for s, h in old.items():  # pyigtl replaces the process's signal handlers; put them back
        signal.signal(s, h)
    return server


def _wait(pred, timeout_s=5.0) -> None:
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            raise RuntimeError("OpenIGTLink peer did not connect in time")
        time.sleep(0.01)


_OWN_NS: list[int] = []  # per message: navtms's own share (bytes arrived -> read() returned)


def _read_source(src, i: int) -> int:
    while True:
        f = src.read()
        p = f.poses.get("coil")
        if p is not None and p.visible and p.T_camera_from_body[0, 3] == i:
            now = time.monotonic_ns()
            _OWN_NS.append(now - p.capture_ns)
            return now


def _wait_pyigtl(peer, device: str, i: int) -> int:
    while True:
        m = peer.wait_for_message(device, timeout=2.0)
        if m is None:
            raise RuntimeError(f"message {i} did not arrive")
        if m.matrix[0, 3] == i:
            return time.monotonic_ns()


def _time_hop(n: int, send, receive) -> list[int]:
    """Latency (ns) of n messages, one at a time: send(i) is timed from just before the call
    to the time receive(i) returns (the receiver's hand-off of message i)."""
    out = []
    for i in range(1, n + 1):
        t0 = time.monotonic_ns()
        send(i)
        out.append(receive(i) - t0)
    return out


def _hop_pyigtl_to_navtms(n: int) -> list[int]:
    import pyigtl

    from igtl.source import IGTLSource

    server = _pyigtl_server()
    src = IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=2.0)
    try:
        _wait(server.is_connected)
        msgs = [pyigtl.TransformMessage(_pose(i), device_name="CoilToTracker") for i in range(n + 1)]
        return _time_hop(n, lambda i: server.send_message(msgs[i], wait=False), lambda i: _read_source(src, i))
    finally:
        src.close()
        server.stop()


def _hop_navtms_to_pyigtl(n: int) -> list[int]:
    import pyigtl

    from igtl.server import IGTLServer

    server = IGTLServer(port=0)
    client = pyigtl.OpenIGTLinkClient("127.0.0.1", server.port)
    try:
        _wait(lambda: server.client_count == 1)
        return _time_hop(n, lambda i: server.publish_coil(_pose(i)), lambda i: _wait_pyigtl(client, "CoilToMRI", i))
    finally:
        client.stop()
        server.close()


def _hop_navtms_to_navtms(n: int) -> list[int]:
    from igtl.server import IGTLServer
    from igtl.source import IGTLSource

    server = IGTLServer(port=0)
    src = IGTLSource("127.0.0.1", server.port, {"CoilToMRI": "coil"}, read_timeout_s=2.0)
    try:
        _wait(lambda: server.client_count == 1)
        return _time_hop(n, lambda i: server.publish_coil(_pose(i)), lambda i: _read_source(src, i))
    finally:
        src.close()
        server.close()


def _hop_plus_frame_to_navtms(n: int) -> list[int]:
    import socket

    from igtl import protocol as P
    from igtl.source import IGTLSource

    lsock = socket.create_server(("127.0.0.1", 0))
    src = IGTLSource("127.0.0.1", lsock.getsockname()[1], read_timeout_s=1.0)
    conn, _ = lsock.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(i):
        ts = 1.7e9 + i / 60.0
        conn.sendall(P.pack_transform("CoilToTracker", _pose(i), ts))
        conn.sendall(P.pack_transform("HeadToTracker", _pose(i), ts))

    def receive(i):
        while True:
            f = src.read()
            c, h = f.poses["coil"], f.poses["head"]
            if c.visible and h.visible and c.T_camera_from_body[0, 3] == i and h.T_camera_from_body[0, 3] == i:
                now = time.monotonic_ns()
                _OWN_NS.append(now - max(c.capture_ns, h.capture_ns))
                return now

    try:
        return _time_hop(n, send, receive)
    finally:
        src.close()
        conn.close()
        lsock.close()


def _hop_pyigtl_to_pyigtl(n: int) -> list[int]:
    import pyigtl

    server = _pyigtl_server()
    client = pyigtl.OpenIGTLinkClient("127.0.0.1", server.server_address[1])
    try:
        _wait(lambda: client.is_connected() and server.is_connected())
        msgs = [pyigtl.TransformMessage(_pose(i), device_name="CoilToTracker") for i in range(n + 1)]
        return _time_hop(n, lambda i: client.send_message(msgs[i], wait=False),
                         lambda i: _wait_pyigtl(server, "CoilToTracker", i))
    finally:
        client.stop()
        server.stop()


HOPS = {
    "pyigtl_server->navtms_source": _hop_pyigtl_to_navtms,
    "navtms_server->pyigtl_client": _hop_navtms_to_pyigtl,
    "navtms_server->navtms_source": _hop_navtms_to_navtms,
    "plus_frame->navtms_source": _hop_plus_frame_to_navtms,
    "pyigtl_client->pyigtl_server": _hop_pyigtl_to_pyigtl,
}


def run(json_out: bool = False, quick: bool = False) -> dict:
    n = 100 if quick else 1000
    result: dict = {"messages_per_hop": n, "unit": "ms", "hops": {}}
    for name, fn in HOPS.items():
        _OWN_NS.clear()
        lat = np.array(fn(n), dtype=np.float64) / 1e6
        fig = {"p50_ms": round(float(np.percentile(lat, 50)), 3), "p99_ms": round(float(np.percentile(lat, 99)), 3),
               "mean_ms": round(float(lat.mean()), 3), "max_ms": round(float(lat.max()), 3)}
        result["hops"][name] = fig
        if not json_out:
            print(f"{name:32s} p50 {fig['p50_ms']:7.3f} ms   p99 {fig['p99_ms']:7.3f} ms   "
                  f"mean {fig['mean_ms']:7.3f} ms   max {fig['max_ms']:7.3f} ms   (n={n})", flush=True)
        if _OWN_NS:
            own = np.array(_OWN_NS, dtype=np.float64) / 1e6
            fig["navtms_receive_p50_ms"] = round(float(np.percentile(own, 50)), 3)
            fig["navtms_receive_p99_ms"] = round(float(np.percentile(own, 99)), 3)
            if not json_out:
                print(f"{'':32s}   of which IGTLSource recv->read(): p50 {fig['navtms_receive_p50_ms']:.3f} ms"
                      f"   p99 {fig['navtms_receive_p99_ms']:.3f} ms", flush=True)
    return result
