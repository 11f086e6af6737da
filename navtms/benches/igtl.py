"""`navtms bench igtl`: added latency per OpenIGTLink hop on loopback (p50/p99, ms).

Each hop sends one TRANSFORM at a time and waits until the receiving side hands it to its
caller; latency = that hand-off time minus the send call time, both on time.monotonic_ns().
Hops: pyigtl server -> navtms IGTLSource, navtms IGTLServer -> pyigtl client,
navtms IGTLServer -> navtms IGTLSource, a PLUS-style tracker frame (CoilToTracker and
HeadToTracker back to back with one timestamp, from a raw socket) -> IGTLSource, timed until
read() returns the whole frame (the grouping into tracker frames included), and pyigtl client
-> pyigtl server for comparison. Then a PLUS-like stream: a pyigtl server sends 570 tracker
frames (120 with --quick) at 60 Hz, CoilToTracker and HeadToTracker back to back with one
timestamp, the head moving at 31 mm/s and the coil held on it; printed: outputs per tracker
frame, the share of torn outputs (coil and head from different tracker frames: chain off by
more than 0.05 mm) and the largest chain error.
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

    from igtl import content as C
    from igtl.source import IGTLSource

    lsock = socket.create_server(("127.0.0.1", 0))
    src = IGTLSource("127.0.0.1", lsock.getsockname()[1], read_timeout_s=1.0)
    conn, _ = lsock.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(i):
        ts = 1.7e9 + i / 60.0
        conn.sendall(C.pack_transform("CoilToTracker", _pose(i), ts))
        conn.sendall(C.pack_transform("HeadToTracker", _pose(i), ts))

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


def _plus_stream(n: int) -> dict:
    """Outputs, torn outputs and chain error of IGTLSource behind a PLUS-like pyigtl stream."""
    from scipy.spatial.transform import Rotation

    import pyigtl

    from igtl.source import IGTLSource
    from navcore.transforms import invert, make_transform

    rng = np.random.default_rng(0)
    T_mri_from_head = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-60, 60, 3))
    T_mri_from_coil = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-80, 80, 3))
    server = _pyigtl_server()
    src = IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.3)
    outputs = torn = 0
    worst = 0.0
    try:
        import threading

        def stream():
            start = time.monotonic()
            for k in range(n):
                delay = start + k / 60.0 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                T_head = make_transform(Rotation.from_rotvec([0, 0.2 * k / 60, 0]).as_matrix(),
                                        [20.0 + 31.0 * k / 60, -30.0, 900.0])
                T_coil = T_head @ invert(T_mri_from_head) @ T_mri_from_coil
                for dev, T in (("CoilToTracker", T_coil), ("HeadToTracker", T_head)):
                    server.send_message(pyigtl.TransformMessage(T, device_name=dev, timestamp=1.7e9 + k / 60), wait=False)

        th = threading.Thread(target=stream, daemon=True)
        th.start()
        while True:
            f = src.read()
            if f.meta["stale"]:
                if not th.is_alive():
                    break
                continue
            c, h = f.poses["coil"], f.poses["head"]
            if c.visible and h.visible:
                outputs += 1
                T = T_mri_from_head @ invert(h.T_camera_from_body) @ c.T_camera_from_body
                err = float(np.linalg.norm(T[:3, 3] - T_mri_from_coil[:3, 3]))
                worst = max(worst, err)
                torn += err > 0.05
    finally:
        src.close()
        server.stop()
    return {"tracker_frames": n, "outputs": outputs, "outputs_per_tracker_frame": round(outputs / n, 3),
            "torn_percent": round(100.0 * torn / max(outputs, 1), 2), "max_chain_error_mm": round(worst, 4)}


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
    plus = _plus_stream(120 if quick else 570)
    result["plus_stream"] = plus
    if not json_out:
        print(f"PLUS-like 60 Hz stream (pyigtl): {plus['tracker_frames']} tracker frames -> {plus['outputs']} outputs "
              f"({plus['outputs_per_tracker_frame']:.2f} per tracker frame), torn {plus['torn_percent']:.1f} %, "
              f"max chain error {plus['max_chain_error_mm']:.4f} mm", flush=True)
    return result
