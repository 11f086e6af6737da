"""Random SIGKILLs of `navtms track --record` (and `navtms navigate --record`), each replayed.

For every kill: the recording replays every frame its pose log holds but at most one (the frame
being written), at least every frame the process reported, bit-exact (images against the
source video, poses against the separately written --out pose log), and a recording killed
before its first frame replays as empty (no error)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracking import poselog
from tracking.recorder import RecordingSource, ffv1_available

REPO = Path(__file__).resolve().parents[2]
REAL_VIDEO = REPO.parent / "shared" / "data" / "real" / "webcam-aruco-sksurgery" / "multipattern.avi"


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    """60 frames of the real webcam footage (multipattern.avi cycled, every frame made unique
    by one pixel), stored losslessly so the tracker and the truth see the same pixels."""
    if not REAL_VIDEO.exists():
        pytest.skip("../shared real data not beside the checkout")
    if not ffv1_available():
        pytest.skip("no FFV1 writer (PyAV) here")
    from tracking.ffv1 import FFV1Writer

    cap = cv2.VideoCapture(str(REAL_VIDEO))
    frames = []
    while True:
        ok, im = cap.read()
        if not ok:
            break
        frames.append(im)
    cap.release()
    path = tmp_path_factory.mktemp("src") / "looped.avi"
    w = FFV1Writer(path, (frames[0].shape[1], frames[0].shape[0]), 3, 30.0)
    truth = []
    for i in range(60):
        im = frames[i % len(frames)].copy()
        im[0, 0] = (i, 255 - i, 7)
        w.write(im)
        truth.append(im)
    w.close()
    return path, truth


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def _kill_after(cmd, cwd, lines_before_kill: int, extra_delay_s: float, marker: str):
    """Run cmd, SIGKILL it after `lines_before_kill` stdout lines starting with marker (0: as
    soon as it starts writing) plus extra_delay_s; returns the lines seen."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
    seen = []
    try:
        if lines_before_kill > 0:
            for line in proc.stdout:
                if line.startswith(marker):
                    seen.append(line)
                    if len(seen) >= lines_before_kill:
                        break
        else:
            end = time.monotonic() + 60
            while time.monotonic() < end and not any((Path(cwd) / "rec").glob("frames.csv")):
                time.sleep(0.002)
        time.sleep(extra_delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return seen


def _replay(folder):
    src = RecordingSource(folder)
    frames = list(src)
    return src, frames


def _pose_frames(path):
    return list(poselog.read_frames(path)) if path.exists() else []


def _same_poses(a, b):
    assert set(a) == set(b)
    for name in a:
        assert poselog.format_row(a[name]) == poselog.format_row(b[name])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_random_kills_of_track_record(tmp_path, source_video):
    video, truth = source_video
    rng = random.Random(int(os.environ.get("NAVTMS_KILL_SEED", "13")))
    plan = [(0, rng.uniform(0.0, 0.05))] + [(rng.randint(1, 25), rng.uniform(0.0, 0.04)) for _ in range(3)]
    for k, (lines, delay) in enumerate(plan):
        work = tmp_path / f"run{k}"
        work.mkdir()
        seen = _kill_after([sys.executable, "-m", "navtms", "track", f"video:{video}", "--out", "o.csv",
                            "--record", "rec"], work, lines, delay, "frame ")
        rec_dir = work / "rec"
        if not (rec_dir / "recording.json").exists():
            continue    # killed before the recorder started: nothing to replay
        src, frames = _replay(rec_dir)
        log = _pose_frames(rec_dir / "poses.csv")
        out_log = _pose_frames(work / "o.csv")
        msg = f"kill {k} after {lines} frames + {delay * 1e3:.0f} ms"
        print(f"{msg}: replayed {len(frames)}, recording pose log {len(log)}, --out log {len(out_log)}, "
              f"reported {len(seen)}")
        assert len(log) - len(frames) <= 1, msg
        assert len(out_log) - len(frames) <= 1, msg      # the --out log is written before the recording
        assert len(frames) >= len(seen), msg            # every frame reported is replayed
        for f in frames:
            assert np.array_equal(f.image, truth[f.frame_number]), msg
        by_number = {f.frame_number: f.poses for f in out_log}
        for f in frames:
            _same_poses(f.poses, by_number[f.frame_number])
        # The CLI replays it too (an empty one as empty, exit 0).
        r = subprocess.run([sys.executable, "-m", "navtms", "track", f"replay:{rec_dir}", "--quiet"], cwd=work,
                           capture_output=True, text=True, env=_env(), timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"{len(frames)} frames" in r.stdout
        assert all(line.startswith("navtms track: ") for line in r.stderr.splitlines()), r.stderr
