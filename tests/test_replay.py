"""Replay: the whole loop headless on recordings (pose logs and rendered camera footage) against
ground truth; bit-exact logs; pulses; a killed replay leaves readable logs; the CLI."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from navcore.transforms import invert, rotation_between
from navtms.csvlog import column, read_log
from navtms.cli import main
from navtms.pulses import TimedProtocol
from navtms.replay import replay_session
from navtms.session import create_session, load_session
from navtms.workflow import register_session
from navcore.points import NamedPoints
from targets.alignment import alignment
from tracking.poselog import PoseLogWriter
from navloop_helpers import Scene, approach

REPO = Path(__file__).resolve().parents[1]
FID_MRI = NamedPoints.from_dict({"nasion": [0, 95, 10], "lpa": [-75, 10, -20], "rpa": [75, 10, -20]}, "mri")


def _registered_session(folder, scene):
    s = create_session(folder, [scene.target], T_coilbody_from_coil=scene.T_coilbody_from_coil)
    return register_session(s, FID_MRI, FID_MRI.transformed(invert(scene.T_mri_from_head), "head"))


def _pose_log(path, frames):
    with PoseLogWriter(path) as w:
        for f in frames:
            w.write_frame(f.poses)
    return path


@pytest.fixture(scope="module")
def pose_replay(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("posereplay")
    scene = Scene.make(11)
    frames, truth = approach(scene, 90, hidden={30, 31, 32}, head_hidden={50})
    log = _pose_log(tmp / "poses.csv", frames)
    _registered_session(tmp / "session", scene)
    proto = TimedProtocol(frames[0].capture_ns + 10**7 + 3_000_000, pulses_per_train=5, frequency_hz=20.0,
                          inter_train_s=0.2, trains=2)
    summary = replay_session(log, tmp / "session", tmp / "report", protocol=proto)
    return tmp, scene, frames, truth, proto, summary


def test_pose_log_replay_matches_truth_and_hides_unseen_frames(pose_replay):
    tmp, scene, frames, truth, proto, summary = pose_replay
    rows = read_log(tmp / "report" / "frames.csv", "frame")
    assert len(rows) == 90 and summary["frames"] == 90 and summary["loop_state"] == "ended"
    assert [r["visible"] for r in rows[29:34]] == ["1", "0", "0", "0", "1"]
    assert rows[50]["visible"] == "0" and rows[50]["coil_visible"] == "1" and rows[50]["head_visible"] == "0"
    reg = load_session(tmp / "session").registration.T_mri_from_head
    dist = column(rows, "distance_mm")
    for i in (0, 20, 60, 89):
        # truth through the registration actually fitted (exact fiducials -> the true one)
        T_true = reg @ invert(scene.T_mri_from_head) @ truth[i]
        a = alignment(scene.target.T_mri_from_coil, T_true, scene.target.target_mri_mm)
        assert abs(dist[i] - a.distance_mm) < 0.5
        assert abs(float(rows[i]["tilt_deg"]) - a.tilt_deg) < 0.5
        assert abs(float(rows[i]["twist_deg"]) - a.twist_deg) < 0.5
    assert rows[-1]["on_target"] == "1"
    assert summary["distance_mm"]["n"] == 86
    for name in ("errors.png", "bullseye.png", "summary.json", "timing.csv"):
        assert (tmp / "report" / name).stat().st_size > 0


def test_pulses_in_replay_get_interpolated_poses(pose_replay):
    tmp, scene, frames, truth, proto, summary = pose_replay
    rows = read_log(tmp / "report" / "pulses.csv", "pulse")
    assert len(rows) == 10 and summary["pulses"]["fired"] == 10
    times = proto.times_ns()
    caps = np.array([f.capture_ns for f in frames])
    for r, t in zip(rows, times):
        k = int(np.searchsorted(caps, t, side="right") - 1)
        assert int(r["frame_before"]) == k and int(r["frame_after"]) == k + 1
        hidden = k in (29, 30, 31, 32) or k in (49, 50)
        assert r["visible"] == ("0" if hidden else "1")
        if not hidden:
            s = (t - caps[k]) / (caps[k + 1] - caps[k])
            assert 0 < s < 1
            d = column([r], "distance_mm")[0]
            dk, dk1 = (float(read_log(tmp / "report" / "frames.csv", "frame")[j]["distance_mm"]) for j in (k, k + 1))
            assert min(dk, dk1) - 1e-6 <= d <= max(dk, dk1) + 1e-6 and d not in (dk, dk1)


def test_replay_is_bit_exact_and_never_overwrites(pose_replay, tmp_path):
    tmp, scene, frames, truth, proto, summary = pose_replay
    again = replay_session(tmp / "poses.csv", tmp / "session", tmp_path / "r2", protocol=proto)
    for name in ("frames.csv", "pulses.csv"):
        assert (tmp_path / "r2" / name).read_bytes() == (tmp / "report" / name).read_bytes()
    assert again["distance_mm"] == summary["distance_mm"]
    before = (tmp / "report" / "frames.csv").read_bytes()
    assert main(["replay", str(tmp / "poses.csv"), "--session", str(tmp / "session"),
                 "--out", str(tmp / "report")]) == 2
    assert (tmp / "report" / "frames.csv").read_bytes() == before


def test_cli_replay_with_lock_to_target(pose_replay, tmp_path, capsys):
    tmp, *_ = pose_replay
    code = main(["replay", str(tmp / "poses.csv"), "--session", str(tmp / "session"), "--out",
                 str(tmp_path / "r3"), "--protocol", "4,20,0.1,2,0.05", "--lock-to-target"])
    assert code == 0
    rows = read_log(tmp_path / "r3" / "pulses.csv", "pulse")
    assert len(rows) == 8
    # early pulses happen 30 mm away from the target: refused and logged as such
    assert rows[0]["fired"] == "0" and rows[0]["refusal"] in ("off target", "coil not visible")
    assert all(r["on_target"] == "1" for r in rows if r["fired"] == "1")
    assert "pulses:" in capsys.readouterr().out
    assert main(["replay", str(tmp / "poses.csv"), "--session", str(tmp_path / "nosession"),
                 "--out", str(tmp_path / "r4")]) == 2


def test_killed_replay_leaves_a_readable_log(tmp_path):
    scene = Scene.make(12)
    frames, _ = approach(scene, 3000, fps=1000.0)
    log = _pose_log(tmp_path / "poses.csv", frames)
    _registered_session(tmp_path / "session", scene)
    out = tmp_path / "report"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "navtms", "replay", str(log), "--session",
                             str(tmp_path / "session"), "--out", str(out), "--protocol", "1000,100,0,1,0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        f = out / "frames.csv"
        if f.exists() and f.stat().st_size > 20_000:
            break
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    rows = read_log(out / "frames.csv", "frame")
    assert len(rows) > 10
    if proc.returncode == -signal.SIGKILL:
        assert len(rows) < 3000 and not (out / "summary.json").exists()
    assert [int(r["frame"]) for r in rows] == list(range(len(rows)))      # a clean prefix
    prow = read_log(out / "pulses.csv", "pulse")
    assert all(r["time_s"] for r in prow)
