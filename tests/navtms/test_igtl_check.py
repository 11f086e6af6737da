"""`navtms igtl-check` against a real pyigtl server streaming PLUS-style tracker frames."""
from __future__ import annotations

import re
import socket
import threading

import numpy as np
import pyigtl
import pytest

from navcore.transforms import random_rigid
from navtms.cli import main
from igtl_helpers import plus_motion, pyigtl_server, stream_plus_frames


def _bodies(out):
    return {m[0]: (int(m[1]), int(m[2]), float(m[3]))
            for m in re.findall(r"body (\w+) +visible in (\d+) of (\d+) tracker frames, ([\d.]+) Hz", out)}


@pytest.mark.slow
@pytest.mark.timeout(40)
def test_rates_are_per_tracker_frame_and_options_are_printed(capsys):
    """60 Hz PLUS stream of coil + reference (PLUS's own name for the head body): rates are
    60 Hz (not the 70-118 Hz of counting per message), the never-seen head makes exit 1, and
    the printed options map it; rerun with those options: exit 0."""
    server = pyigtl_server()
    try:
        _, _, frames = plus_motion(400, 60.0)
        port = server.server_address[1]
        th = stream_plus_frames(server, frames, 60.0, devices=("CoilToTracker", "ReferenceToTracker"))
        code = main(["igtl-check", f"igtl:127.0.0.1:{port}", "--seconds", "2"])
        out = capsys.readouterr().out
        assert code == 1
        b = _bodies(out)
        assert b["coil"][0] > 60 and abs(b["coil"][2] - 60.0) < 3.0
        assert b["head"][0] == 0 and b["pointer"][0] == 0
        assert "ReferenceToTracker" in out and "(not mapped)" in out
        assert re.search(r"tracker frames in 2 s \((59|60|61)\.\d Hz\)", out)
        options = re.search(r"options to use: (.*?)(  \(|$)", out, re.M).group(1).split()
        assert options == ["--device", "coil=CoilToTracker", "--device", "head=ReferenceToTracker",
                           "--device", "pointer=PointerToTracker"]
        # The same command with the printed options (pointer not in this tracker: map it away).
        code = main(["igtl-check", f"igtl:127.0.0.1:{port}", "--seconds", "1.5", "--device", "head=ReferenceToTracker"])
        out = capsys.readouterr().out
        b = _bodies(out)
        assert b["head"][0] > 30 and abs(b["head"][2] - 60.0) < 3.0 and code == 1   # pointer still unseen
        assert b["coil"][0] == b["head"][0] or abs(b["coil"][0] - b["head"][0]) <= 1
        th.join()
    finally:
        server.stop()


@pytest.mark.timeout(30)
def test_every_body_seen_exits_0(capsys):
    server = pyigtl_server()
    stop = threading.Event()
    T = random_rigid(np.random.default_rng(1))

    def feed():
        k = 0
        while not stop.is_set():
            for dev in ("CoilToTracker", "StylusToTracker"):
                server.send_message(pyigtl.TransformMessage(T, device_name=dev, timestamp=1e9 + k * 0.02), wait=False)
            k += 1
            stop.wait(0.02)

    th = threading.Thread(target=feed, daemon=True)
    th.start()
    try:
        code = main(["igtl-check", f"igtl:127.0.0.1:{server.server_address[1]}", "--seconds", "0.8",
                     "--device", "pointer=StylusToTracker", "--device", "head=NotThere"])
        out = capsys.readouterr().out
        assert code == 1 and "never seen: head" in out
        code = main(["igtl-check", f"igtl:127.0.0.1:{server.server_address[1]}", "--seconds", "0.8",
                     "--device", "pointer=StylusToTracker", "--device", "head=CoilToTracker",
                     "--device", "coil=StylusToTracker"])
    finally:
        stop.set()
        th.join()
        server.stop()
    assert code == 2   # a device given to two bodies


@pytest.mark.timeout(30)
def test_igtl_check_refused_and_bad_args_exit_2(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["igtl-check", f"igtl:127.0.0.1:{port}", "--seconds", "0.1"]) == 2
    assert f"igtl:127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["igtl-check", "camera:0"]) == 2
    assert main(["igtl-check", "igtl:127.0.0.1:1", "--device", "nonsense"]) == 2
    assert "BODY=DEVICE" in capsys.readouterr().err
    assert main(["igtl-check", "igtl:127.0.0.1:1", "--device", "StylusToTracker=pointer"]) == 2
    assert "--device pointer=StylusToTracker" in capsys.readouterr().err
