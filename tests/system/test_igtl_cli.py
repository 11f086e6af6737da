"""The OpenIGTLink options end to end: `navtms navigate --source igtl: --device BODY=DEVICE
--igtl-host --igtl-port` behind a PLUS-like pyigtl server, with a pyigtl viewer on the output."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyigtl
import pytest

from navcore.points import NamedPoints
from navcore.transforms import invert
from navtms.cli import main
from igtl_helpers import free_port, plus_motion, pyigtl_server, stream_plus_frames, wait_for

REPO = Path(__file__).resolve().parents[2]


def _session(tmp_path, T_mri_from_head, T_mri_from_coil):
    from navtms.session import create_session
    from navtms.workflow import register_session

    fid = NamedPoints.from_dict({"a": [0, 95, 10], "b": [-75, 10, -20], "c": [75, 10, -20]}, "mri")
    target = SimpleNamespace(name="t", T_mri_from_coil=T_mri_from_coil, target_mri_mm=T_mri_from_coil[:3, 3])
    s = create_session(tmp_path / "session", [target])
    register_session(s, fid, fid.transformed(invert(T_mri_from_head), "head"))
    return tmp_path / "session"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_navigate_maps_plus_names_and_serves_a_viewer(tmp_path):
    """PLUS names the tools CoilTool and ReferenceToTracker; --device maps them; the viewer on
    --igtl-host/--igtl-port receives CoilToMRI equal to the true coil pose (the same-frame
    chain through navtms, float32 on the wire)."""
    T_mri_from_head, T_mri_from_coil, frames = plus_motion(3000, 60.0, seed=11)
    session = _session(tmp_path, T_mri_from_head, T_mri_from_coil)
    plus = pyigtl_server()
    stop = threading.Event()
    out_port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "navtms", "navigate", "--session", str(session), "--source",
                             f"igtl:127.0.0.1:{plus.server_address[1]}", "--headless", "--no-keys",
                             "--device", "coil=CoilTool", "--device", "head=ReferenceToTracker",
                             "--igtl-host", "127.0.0.1", "--igtl-port", str(out_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    viewer = None
    try:
        assert wait_for(lambda: plus.is_connected(), timeout_s=60), "navigate did not connect to the tracker"
        stream_plus_frames(plus, frames, 60.0, stop=stop, devices=("CoilTool", "ReferenceToTracker"))
        viewer = pyigtl.OpenIGTLinkClient("127.0.0.1", out_port)
        got = []

        def coil_pose():
            m = viewer.wait_for_message("CoilToMRI", timeout=0.2)
            if m is not None and m.message_type == "TRANSFORM":
                got.append(m.matrix)
            return len(got) >= 5

        assert wait_for(coil_pose, timeout_s=30), "the viewer got no coil pose"
        for T in got:
            assert np.allclose(T, T_mri_from_coil, atol=1e-3)
    finally:
        stop.set()
        if viewer is not None:
            viewer.stop()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        plus.stop()
    # The session's frame log: every processed frame is one whole tracker frame, so the coil,
    # held exactly on its target while the head moves at 31 mm/s, is 0 mm off in every row
    # (a torn frame is ~0.5 mm off), and there is at most one row per tracker frame.
    from navigation.csvlog import read_log

    rows = [r for r in read_log(session / "frames.csv", "frame") if r["visible"] == "1"]
    assert len(rows) >= 5
    assert max(float(r["distance_mm"]) for r in rows) < 0.01
    times = [float(r["time_s"]) for r in rows]
    assert len(rows) <= 60.0 * (max(times) - min(times)) * 1.1 + 2


def test_device_and_host_options_are_explained_and_checked(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["navigate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--device BODY=DEVICE" in help_text and "--igtl-host HOST" in help_text
    assert "default 127.0.0.1" in help_text and "no authentication" in help_text
    # --device only for igtl: sources; BODY=DEVICE order; refused before anything runs.
    assert main(["navigate", "--session", str(tmp_path / "none"), "--source", "video:x.avi",
                 "--device", "coil=CoilTool", "--headless"]) == 2
    assert "igtl:HOST:PORT sources only" in capsys.readouterr().err
    assert main(["session", "register", str(tmp_path / "none"), "--source", "igtl:127.0.0.1:1",
                 "--device", "CoilTool=coil"]) == 2
    err = capsys.readouterr().err
    assert "--device coil=CoilTool" in err or "does not exist" in err
    # navigate --record into an existing folder is refused before the session is even read.
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "x").write_text("mine")
    assert main(["navigate", "--session", str(tmp_path / "none"), "--source", "video:x.avi",
                 "--record", str(tmp_path / "rec"), "--headless"]) == 2
    assert "already exists" in capsys.readouterr().err
