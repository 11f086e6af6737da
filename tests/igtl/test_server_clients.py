"""IGTLServer with many idle connections: a real viewer (pyigtl client) always gets in; idle
clients are dropped after the idle timeout; a client that talks keeps its slot."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pyigtl
import pytest

from igtl import content as C
from igtl import protocol as P
from igtl.server import IGTLServer
from navcore.transforms import random_rigid
from igtl_helpers import wait_for


def _silent_clients(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        socks.append(s)
    return socks


@pytest.mark.timeout(30)
def test_twelve_idle_connections_do_not_lock_out_a_real_viewer():
    srv = IGTLServer(port=0, max_clients=8, idle_timeout_s=0.3)
    idle = []
    talker = socket.create_connection(("127.0.0.1", srv.port))
    stop = threading.Event()

    def talk():   # an active client: sends a valid STATUS every 50 ms, must keep its slot
        while not stop.is_set():
            talker.sendall(C.pack_status("Ping", C.Status(C.STATUS_OK, 0, "", "")))
            stop.wait(0.05)

    th = threading.Thread(target=talk, daemon=True)
    th.start()
    viewer = None
    try:
        assert wait_for(lambda: srv.client_count == 1)
        idle = _silent_clients(srv.port, 12)
        assert wait_for(lambda: srv.client_count == 8)          # full: 1 talker + 7 idle
        time.sleep(0.4)                                         # the idle ones pass idle_timeout_s
        viewer = pyigtl.OpenIGTLinkClient("127.0.0.1", srv.port)
        T = random_rigid(np.random.default_rng(1), 200.0)

        received = []

        def got_pose():
            srv.publish_coil(T, time.monotonic_ns())
            m = viewer.wait_for_message("CoilToMRI", timeout=0.1)
            received.extend([m] if m is not None else [])
            return bool(received)

        assert wait_for(got_pose, timeout_s=10.0), "the viewer was locked out"
        assert np.allclose(received[0].matrix, T, atol=1e-4)
        assert srv.dropped["idle"] >= 1 and srv.client_count <= 8
        # The talker was never evicted: it still receives what is published.
        talker.settimeout(2.0)
        parser, got = P.StreamParser(), []
        srv.publish_coil(T, time.monotonic_ns())
        while not any(m.device == "CoilToMRI" for m in got):
            got += parser.feed(talker.recv(65536))
    finally:
        stop.set()
        th.join()
        if viewer is not None:
            viewer.stop()
        for s in idle + [talker]:
            s.close()
        srv.close()


@pytest.mark.timeout(20)
def test_drop_idle_drops_silent_clients_after_the_timeout():
    with IGTLServer(port=0, idle_timeout_s=0.2, drop_idle=True) as srv:
        socks = _silent_clients(srv.port, 9)
        try:
            assert wait_for(lambda: srv.dropped["idle"] + srv.dropped["refused"] == 9, timeout_s=5.0)
            assert wait_for(lambda: srv.client_count == 0)
        finally:
            for s in socks:
                s.close()


@pytest.mark.timeout(20)
def test_busy_server_refuses_only_when_every_client_is_active():
    with IGTLServer(port=0, max_clients=2, idle_timeout_s=30.0) as srv:
        socks = _silent_clients(srv.port, 2)
        try:
            assert wait_for(lambda: srv.client_count == 2)
            extra = socket.create_connection(("127.0.0.1", srv.port))
            assert wait_for(lambda: srv.dropped["refused"] == 1)   # nobody idle for 30 s yet
            extra.close()
        finally:
            for s in socks:
                s.close()


@pytest.mark.timeout(20)
def test_explicit_host_binds_that_interface():
    with IGTLServer(port=0, host="0.0.0.0") as srv:
        assert srv.host == "0.0.0.0"
        s = socket.create_connection(("127.0.0.1", srv.port))
        assert wait_for(lambda: srv.client_count == 1)
        s.close()
