"""IGTLSource against a real OpenIGTLink peer (pyigtl server) on loopback."""
from __future__ import annotations

import socket
import struct
import threading
import time

import numpy as np
import pyigtl
import pytest

from navcore.errors import TrackingError
from navcore.transforms import is_rigid, random_rigid
from igtl import content as C
from igtl import protocol as P
from igtl.source import IGTLSource, rigid_or_none
from tracking.types import FrameSource
from igtl_helpers import free_port, pyigtl_server, raw_peer


def _stop(server):
    server.stop()


@pytest.fixture
def server():
    srv = pyigtl_server()
    yield srv
    _stop(srv)


def read_until(source, pred, timeout_s=5.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        frame = source.read()
        assert frame is not None
        if pred(frame):
            return frame
    raise AssertionError("condition not reached in time")


def _visible(*bodies):
    return lambda f: all(f.poses[b].visible for b in bodies)


@pytest.mark.timeout(20)
def test_poses_round_trip_within_float32(server):
    rng = np.random.default_rng(3)
    T_coil, T_head = random_rigid(rng, 400.0), random_rigid(rng, 400.0)
    with IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.2) as src:
        assert isinstance(src, FrameSource)
        server.send_message(pyigtl.TransformMessage(T_coil, device_name="CoilToTracker", timestamp=1234.5), wait=False)
        server.send_message(pyigtl.TransformMessage(T_head, device_name="HeadToTracker", timestamp=1234.5), wait=False)
        t_send = time.monotonic_ns()
        frame = read_until(src, _visible("coil", "head"))
        coil, head = frame.poses["coil"], frame.poses["head"]
        assert np.allclose(coil.T_camera_from_body, T_coil, atol=400 * 2e-7 + 1e-5)
        assert np.allclose(head.T_camera_from_body, T_head, atol=400 * 2e-7 + 1e-5)
        assert is_rigid(coil.T_camera_from_body, 1e-9)
        assert coil.capture_ns >= t_send - 10**9 and frame.capture_ns >= coil.capture_ns
        assert abs(frame.meta["sender_timestamps_s"]["coil"] - 1234.5) < 1e-6
        assert frame.meta["connected"] and not frame.meta["stale"]
        assert not frame.poses["pointer"].visible and frame.poses["pointer"].T_camera_from_body is None


@pytest.mark.timeout(20)
def test_identity_nan_and_nonrigid_mean_not_visible(server):
    T_ok = random_rigid(np.random.default_rng(4))
    bad = np.eye(4)
    bad[:3, :3] *= 2.0
    with IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.2) as src:
        server.send_message(pyigtl.TransformMessage(T_ok, device_name="CoilToTracker"), wait=False)
        server.send_message(pyigtl.TransformMessage(np.eye(4), device_name="HeadToTracker"), wait=False)
        frame = read_until(src, lambda f: f.poses["coil"].visible and "head" in f.meta["sender_timestamps_s"])
        assert not frame.poses["head"].visible
        nan = T_ok.copy()
        nan[0, 3] = np.nan
        server.send_message(pyigtl.TransformMessage(nan, device_name="CoilToTracker"), wait=False)
        read_until(src, lambda f: not f.poses["coil"].visible)
        server.send_message(pyigtl.TransformMessage(T_ok, device_name="CoilToTracker"), wait=False)
        read_until(src, _visible("coil"))
        server.send_message(pyigtl.TransformMessage(bad, device_name="CoilToTracker"), wait=False)
        frame = read_until(src, lambda f: not f.poses["coil"].visible)
        assert frame.poses["coil"].T_camera_from_body is None


def test_rigid_or_none_rules():
    T = random_rigid(np.random.default_rng(9))
    T32 = T.astype(np.float32).astype(np.float64)
    out = rigid_or_none(T32)
    assert out is not None and is_rigid(out, 1e-12) and np.allclose(out, T, atol=1e-5)
    assert rigid_or_none(np.eye(4)) is None
    mirror = T.copy()
    mirror[:3, 0] *= -1
    assert rigid_or_none(mirror) is None
    assert rigid_or_none(np.full((4, 4), np.inf)) is None


@pytest.mark.timeout(30)
def test_server_restart_source_reconnects_and_resumes():
    port = free_port()
    srv = pyigtl_server(port)
    T1, T2 = random_rigid(np.random.default_rng(1)), random_rigid(np.random.default_rng(2))
    try:
        src = IGTLSource("127.0.0.1", port, read_timeout_s=0.2, retry_interval_s=0.05)
        srv.send_message(pyigtl.TransformMessage(T1, device_name="CoilToTracker"), wait=False)
        read_until(src, _visible("coil"))
        _stop(srv)
        frame = read_until(src, lambda f: not f.meta["connected"])
        assert not any(p.visible for p in frame.poses.values())  # nothing old shown as current
        assert frame.meta["stale"]
        srv = pyigtl_server(port)
        srv.send_message(pyigtl.TransformMessage(T2, device_name="CoilToTracker"), wait=False)
        frame = read_until(src, _visible("coil"), timeout_s=10.0)
        assert np.allclose(frame.poses["coil"].T_camera_from_body, T2, atol=1e-4)
        assert frame.meta["reconnects"] >= 1 and frame.meta["connected"]
        src.close()
        assert src.read() is None
    finally:
        _stop(srv)


@pytest.mark.timeout(20)
def test_connection_refused_at_start_raises_tracking_error():
    port = free_port()
    with pytest.raises(TrackingError, match=f"igtl:127.0.0.1:{port}.*3 tries"):
        IGTLSource("127.0.0.1", port, connect_retries=3, retry_interval_s=0.01)


@pytest.mark.timeout(20)
def test_no_data_gives_stale_frames_with_nothing_visible(server):
    with IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.05) as src:
        t0 = time.monotonic()
        frame = src.read()
        assert time.monotonic() - t0 < 5.0
        assert frame.meta["stale"] and not any(p.visible for p in frame.poses.values())
        assert set(frame.poses) == {"coil", "head", "pointer"}


def _bad_crc(data: bytes) -> bytes:
    out = bytearray(data)
    out[-1] ^= 0xFF
    return bytes(out)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("make_bad", [
    _bad_crc,
    lambda good: struct.pack(">H12s20sQQQ", 1, b"TRANSFORM", b"CoilToTracker", 0, 1 << 30, 0),  # oversized
    lambda good: b"\x00\x09" + good[2:],                                                       # bad version
])
def test_malformed_stream_disconnects_and_reconnects(make_bad):
    T = random_rigid(np.random.default_rng(6))
    good = C.pack_transform("CoilToTracker", T, 5.0)
    lsock, done = raw_peer([[make_bad(good)], [good]])
    try:
        src = IGTLSource("127.0.0.1", lsock.getsockname()[1], read_timeout_s=0.1, retry_interval_s=0.05)
        frame = read_until(src, _visible("coil"))
        assert frame.meta["protocol_errors"] >= 1 and frame.meta["reconnects"] >= 1
        assert np.allclose(frame.poses["coil"].T_camera_from_body, T, atol=1e-4)
        src.close()
    finally:
        done.set()
        lsock.close()


@pytest.mark.timeout(20)
def test_status_not_ok_and_metadata_status_mean_not_visible():
    T = random_rigid(np.random.default_rng(7))
    stream = (P.pack_message("FOOBAR", "CoilToTracker", b"\x01\x02")  # unknown type: skipped
              + C.pack_transform("CoilToTracker", T)
              + C.pack_status("CoilToTracker", C.Status(C.STATUS_NOT_FOUND, 0, "Missing", "not seen"))
              + C.pack_transform("HeadToTracker", T)
              + P.pack_message("TRANSFORM", "HeadToTracker", C.transform_content(T), version=2,
                               metadata={"TransformStatus": "INVALID"}))
    lsock, done = raw_peer([[stream]])
    try:
        with IGTLSource("127.0.0.1", lsock.getsockname()[1], read_timeout_s=0.1) as src:
            frame = read_until(src, lambda f: {"coil", "head"} <= set(f.meta["sender_timestamps_s"]))
            assert not frame.poses["coil"].visible and not frame.poses["head"].visible
            assert frame.meta["protocol_errors"] == 0
    finally:
        done.set()
        lsock.close()


@pytest.mark.timeout(20)
def test_open_source_igtl_spec(server):
    from navigation.sources import open_source

    T = random_rigid(np.random.default_rng(8))
    src = open_source(f"igtl:127.0.0.1:{server.server_address[1]}", realtime=True,
                      device_map={"StylusToTracker": "pointer"}, read_timeout_s=0.2)
    try:
        assert isinstance(src, IGTLSource) and src.bodies == ["pointer"]
        server.send_message(pyigtl.TransformMessage(T, device_name="StylusToTracker"), wait=False)
        frame = read_until(src, _visible("pointer"))
        assert np.allclose(frame.poses["pointer"].T_camera_from_body, T, atol=1e-4)
        assert frame.meta["source"] == f"igtl:127.0.0.1:{server.server_address[1]}"
    finally:
        src.close()


@pytest.mark.parametrize("spec", ["igtl:localhost", "igtl:127.0.0.1:notaport", "igtl::18944",
                                  "igtl:127.0.0.1:70000"])
def test_bad_igtl_specs_raise_tracking_error(spec):
    from navigation.sources import open_source

    with pytest.raises(TrackingError, match="igtl:HOST:PORT"):
        open_source(spec)


@pytest.mark.timeout(20)
def test_body_that_stops_arriving_goes_not_visible_while_others_stay(server):
    T = random_rigid(np.random.default_rng(10))
    with IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.2, stale_after_s=0.1) as src:
        server.send_message(pyigtl.TransformMessage(T, device_name="HeadToTracker"), wait=False)
        stop = threading.Event()

        def coil_stream():
            while not stop.is_set():
                server.send_message(pyigtl.TransformMessage(T, device_name="CoilToTracker"), wait=False)
                stop.wait(0.02)

        th = threading.Thread(target=coil_stream, daemon=True)
        th.start()
        try:
            read_until(src, _visible("coil", "head"))
            frame = read_until(src, lambda f: f.poses["coil"].visible and not f.poses["head"].visible)
            assert frame.poses["head"].T_camera_from_body is None
        finally:
            stop.set()
            th.join()


@pytest.mark.timeout(20)
def test_version2_messages_with_metadata_are_tolerated(server):
    T = random_rigid(np.random.default_rng(12))
    msg = pyigtl.TransformMessage(T, device_name="CoilToTracker", timestamp=77.0)
    msg.header_version = 2
    msg.metadata = {"TransformStatus": "OK", "Vendor": "test"}
    with IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.2) as src:
        server.send_message(msg, wait=False)
        frame = read_until(src, _visible("coil"))
        assert np.allclose(frame.poses["coil"].T_camera_from_body, T, atol=1e-4)
        assert abs(frame.meta["sender_timestamps_s"]["coil"] - 77.0) < 1e-6


@pytest.mark.timeout(20)
def test_tdata_push_after_stt_request_left_out_tool_is_not_visible():
    rng = np.random.default_rng(14)
    T_coil = random_rigid(rng)
    lsock = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        conn, _ = lsock.accept()
        with conn:
            parser = P.StreamParser()
            while not received:
                received.extend(parser.feed(conn.recv(4096)))
            # Head is left out of the TDATA: the protocol's way of saying "not visible".
            conn.sendall(C.pack_tdata("Tracker", [("Coil", T_coil), ("Ref", np.eye(4))], 9.0))
            conn.recv(1)  # hold the connection until the source closes

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        with IGTLSource("127.0.0.1", lsock.getsockname()[1], {"Coil": "coil", "Head": "head"},
                        start_tdata=True, read_timeout_s=0.2) as src:
            frame = read_until(src, _visible("coil"))
            assert np.allclose(frame.poses["coil"].T_camera_from_body, T_coil, atol=1e-4)
            assert not frame.poses["head"].visible and "head" in frame.meta["sender_timestamps_s"]
        assert received[0].type == "STT_TDATA"
    finally:
        lsock.close()


def test_tool_status_words():
    from igtl.source import ToolStatus, _metadata_says_invalid

    assert ToolStatus.parse(" ok ") is ToolStatus.OK and ToolStatus.parse("TOOL_OK").valid
    assert ToolStatus.parse("valid") is ToolStatus.VALID
    for word in ("MISSING", "OUT_OF_VIEW", "", "invalid", "okay"):
        assert ToolStatus.parse(word) is ToolStatus.INVALID and not ToolStatus.parse(word).valid
    assert _metadata_says_invalid({"CoilStatus": "MISSING"}) and not _metadata_says_invalid({"CoilStatus": "OK"})
    assert not _metadata_says_invalid({"Comment": "MISSING"})     # only *Status keys count
