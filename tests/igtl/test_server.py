"""IGTLServer against real OpenIGTLink peers: pyigtl clients and raw sockets, on loopback."""
from __future__ import annotations

import json
import socket
import struct
import time

import numpy as np
import pyigtl
import pytest

from navcore.transforms import random_rigid
from igtl.server import IGTLServer
from navigation.navigator import NavTarget, Navigator
from igtl import content as C
from igtl import protocol as P
from tracking.types import BodyPose
from igtl_helpers import wait_for


@pytest.fixture
def server():
    srv = IGTLServer(port=0)
    yield srv
    srv.close()


@pytest.fixture
def client(server):
    c = pyigtl.OpenIGTLinkClient("127.0.0.1", server.port)
    assert wait_for(lambda: server.client_count == 1)
    yield c
    c.stop()


def receive(client, device, timeout_s=5.0):
    msg = client.wait_for_message(device, timeout=timeout_s)
    assert msg is not None, f"no {device} message"
    return msg


@pytest.mark.timeout(20)
def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1" and server.port > 0


@pytest.mark.timeout(20)
def test_coil_pose_reaches_pyigtl_client(server, client):
    T = random_rigid(np.random.default_rng(11), 300.0)
    server.publish_coil(T, capture_ns=time.monotonic_ns())
    msg = receive(client, "CoilToMRI")
    assert msg.message_type == "TRANSFORM"
    assert np.allclose(msg.matrix, T, atol=300 * 2e-7 + 1e-5)
    assert abs(msg.timestamp - time.time()) < 60.0  # capture time on the wall clock


@pytest.mark.timeout(20)
def test_navigator_output_target_and_errors_reach_pyigtl_client(server, client):
    rng = np.random.default_rng(12)
    T_plan = random_rigid(rng, 80.0)
    target = NavTarget("DLPFC", T_plan[:3, 3] + T_plan[:3, 2] * 20.0, T_plan)
    nav = Navigator([target], T_mri_from_head=np.eye(4), predicted_tre_mm=2.5)
    T_head = random_rigid(rng, 200.0)
    T_cam_from_coil = T_head @ T_plan  # coil exactly on the plan (head frame == mri here)
    now = time.monotonic_ns()
    poses = {"coil": BodyPose("coil", 1, now, True, T_cam_from_coil), "head": BodyPose("head", 1, now, True, T_head)}
    out = nav.update(poses, 1, now)
    server.publish_output(out, fre_mm=1.25, target=nav.target)
    coil = receive(client, "CoilToMRI")
    assert np.allclose(coil.matrix, T_plan, atol=1e-3)
    tgt = receive(client, "TargetToMRI")
    assert np.allclose(tgt.matrix, T_plan, atol=1e-4)
    pt = receive(client, "Target")
    assert pt.names == ["DLPFC"] and np.allclose(pt.positions[0], target.target_mri_mm, atol=1e-4)
    errs = json.loads(receive(client, "NavErrors").string)
    assert errs["distance_mm"] < 1e-3 and errs["tilt_deg"] < 1e-3 and errs["on_target"] is True
    assert errs["fre_mm"] == 1.25 and errs["tre_mm"] == 2.5 and errs["coil_visible"] is True
    assert errs["target"] == "DLPFC"

    # coil hidden -> no pose, errors null (JSON null, not NaN), STATUS instead of a transform
    hidden = {"coil": BodyPose.not_visible("coil", 2, now), "head": poses["head"]}
    server.publish_output(nav.update(hidden, 2, now), fre_mm=1.25, target=nav.target)
    errs = json.loads(receive(client, "NavErrors").string)
    assert errs["coil_visible"] is False and errs["distance_mm"] is None and errs["on_target"] is False


def _raw_client(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5.0)
    return s


def _read_messages(sock, want, timeout_s=5.0):
    parser = P.StreamParser()
    got = []
    sock.settimeout(timeout_s)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and len(got) < want:
        data = sock.recv(65536)
        if not data:
            break
        got += parser.feed(data)
    return got


@pytest.mark.timeout(20)
def test_hidden_coil_sends_status_and_target_is_given_to_late_joiners(server):
    server.publish_target(np.eye(4) @ random_rigid(np.random.default_rng(2)), np.array([1.0, 2.0, 3.0]), "M1")
    server.publish_coil(None)  # nobody connected yet: not kept for later
    s = _raw_client(server.port)
    msgs = _read_messages(s, 2)
    assert sorted(m.device for m in msgs) == ["Target", "TargetToMRI"]
    server.publish_coil(None)
    (m,) = _read_messages(s, 1)
    assert m.type == "STATUS" and m.device == "CoilToMRI"
    assert C.status_from_content(m.content).code == C.STATUS_NOT_FOUND
    s.close()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("garbage", [
    b"\xde\xad\xbe\xef" * 20,                                                     # bad version
    struct.pack(">H12s20sQQQ", 1, b"TRANSFORM", b"X", 0, 1 << 40, 0),               # oversized
    C.pack_string("X", "hello")[:-3] + b"xyz",                                     # bad CRC
])
def test_malformed_peer_is_dropped_and_others_still_served(server, client, garbage):
    bad = _raw_client(server.port)
    assert wait_for(lambda: server.client_count == 2)
    bad.sendall(garbage)
    assert wait_for(lambda: server.dropped["protocol"] == 1)
    bad.settimeout(5.0)
    assert bad.recv(100) == b""  # the server closed it
    bad.close()
    T = random_rigid(np.random.default_rng(5))
    server.publish_coil(T)
    assert np.allclose(receive(client, "CoilToMRI").matrix, T, atol=1e-4)
    assert server.client_count == 1


@pytest.mark.timeout(20)
def test_valid_incoming_messages_are_ignored_not_fatal(server):
    s = _raw_client(server.port)
    assert wait_for(lambda: server.client_count == 1)
    s.sendall(C.pack_transform("SomethingFromSlicer", np.eye(4)) + C.pack_string("Cmd", "hi"))
    server.publish_coil(random_rigid(np.random.default_rng(1)))
    (m,) = _read_messages(s, 1)
    assert m.device == "CoilToMRI" and server.dropped["protocol"] == 0
    s.close()


@pytest.mark.timeout(30)
def test_slow_client_never_queues_and_is_dropped_when_stalled():
    server = IGTLServer(port=0, stall_timeout_s=0.3)
    try:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))  # never reads
        fast = pyigtl.OpenIGTLinkClient("127.0.0.1", server.port)
        assert wait_for(lambda: server.client_count == 2)
        big = "x" * 60000
        for i in range(3000):  # until the slow client's kernel buffers are full and it stalls
            server.publish_errors({"i": i, "pad": big})
            server.publish_coil(random_rigid(np.random.default_rng(i)))
            with server._lock:  # latest value per device: never more than one per device
                assert all(len(c.pending) <= 2 for c in server._clients.values())
            if server.dropped["stalled"]:
                break
            time.sleep(0.002)
        assert server.dropped["stalled"] == 1 and server.client_count == 1
        T = random_rigid(np.random.default_rng(999))
        server.publish_coil(T)
        assert wait_for(lambda: (m := fast.wait_for_message("CoilToMRI", 0.05)) is not None
                        and np.allclose(m.matrix, T, atol=1e-4), 10.0)
        fast.stop()
        slow.close()
    finally:
        server.close()


@pytest.mark.timeout(20)
def test_dead_client_is_dropped(server):
    s = _raw_client(server.port)
    assert wait_for(lambda: server.client_count == 1)
    s.close()
    assert wait_for(lambda: server.client_count == 0)
    server.publish_coil(np.eye(4))  # publishing with nobody connected is fine
    assert server.dropped["closed"] == 1


@pytest.mark.timeout(20)
def test_lost_source_via_loop_sink_hides_the_coil(server):
    from navigation.sinks import IGTLSink

    T_plan = random_rigid(np.random.default_rng(21), 80.0)
    nav = Navigator([NavTarget("M1", T_plan[:3, 3], T_plan)], T_mri_from_head=np.eye(4))
    sink = IGTLSink(server, nav, fre_mm=1.0)
    s = _raw_client(server.port)
    assert wait_for(lambda: server.client_count == 1)
    now = time.monotonic_ns()
    poses = {"coil": BodyPose("coil", 1, now, True, T_plan), "head": BodyPose("head", 1, now, True, np.eye(4))}
    sink(nav.update(poses, 1, now))
    got = {m.device: m for m in _read_messages(s, 4)}
    assert got["CoilToMRI"].type == "TRANSFORM"
    sink.status("source lost", "tracker unplugged")
    got = {m.device: m for m in _read_messages(s, 2)}
    assert got["CoilToMRI"].type == "STATUS"
    errs = json.loads(C.string_from_content(got["NavErrors"].content))
    assert errs["coil_visible"] is False and errs["stale"] is True and "source lost" in errs["status"]
    s.close()
