"""`navtms igtl-check` against a real pyigtl server."""
from __future__ import annotations

import re
import signal
import socket
import threading

import numpy as np
import pyigtl
import pytest

from navcore.transforms import random_rigid
from navtms.cli import main


@pytest.mark.timeout(30)
def test_igtl_check_lists_devices_and_visibility(capsys):
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    server = pyigtl.OpenIGTLinkServer(port=0, local_server=True)
    for s, h in old.items():
        signal.signal(s, h)
    stop = threading.Event()
    T = random_rigid(np.random.default_rng(1))

    def feed():
        while not stop.is_set():
            server.send_message(pyigtl.TransformMessage(T, device_name="CoilToTracker"), wait=False)
            server.send_message(pyigtl.TransformMessage(T, device_name="StylusToTracker"), wait=False)
            stop.wait(0.02)

    th = threading.Thread(target=feed, daemon=True)
    th.start()
    try:
        code = main(["igtl-check", f"igtl:127.0.0.1:{server.server_address[1]}", "--seconds", "0.8"])
    finally:
        stop.set()
        th.join()
        server.stop()
    out = capsys.readouterr().out
    assert code == 0
    assert "CoilToTracker" in out and "-> coil" in out
    assert "StylusToTracker" in out and "(not mapped)" in out
    counts = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"body (\w+) +visible in (\d+) of (\d+)", out)}
    assert counts["coil"][0] > 0 and counts["coil"][0] <= counts["coil"][1]
    assert counts["head"][0] == 0 and counts["pointer"][0] == 0


@pytest.mark.timeout(30)
def test_igtl_check_refused_and_bad_args_exit_2(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["igtl-check", f"igtl:127.0.0.1:{port}", "--seconds", "0.1"]) == 2
    assert f"igtl:127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["igtl-check", "camera:0"]) == 2
    assert main(["igtl-check", "igtl:127.0.0.1:1", "--device", "nonsense"]) == 2
    assert "DEVICE=BODY" in capsys.readouterr().err
