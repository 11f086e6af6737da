"""Bad input, the last cases of issue 13: every output is checked before anything is written
or computed, FFmpeg's own log lines never reach the user, a missing video is named as missing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from navtms.cli import main

REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO.parent / "shared" / "data" / "real" / "webcam-aruco-sksurgery" / "multipattern.avi"


def _cli(*args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}   # as a user runs it
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "navtms", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def test_track_refuses_a_bad_record_folder_before_writing_the_pose_log(tmp_path, capsys):
    if not VIDEO.exists():
        pytest.skip("../shared real data not beside the checkout")
    from tracking.camera import CameraModel

    out = tmp_path / "o.csv"
    # the camera the bodies' own geometry fits for this footage (../shared/data/real/README.md)
    cam = CameraModel.guess(640, 480, focal_factor=435 / 640).save(tmp_path / "camera.json")
    camera = ["--camera", str(cam)]
    assert main(["track", str(VIDEO), "--out", str(out), "--record", str(tmp_path / "missing" / "rec"),
                 "--max-frames", "2", "--quiet", *camera]) == 2
    assert "recording folder's parent does not exist" in capsys.readouterr().err
    assert not out.exists()                      # nothing left behind ...
    assert main(["track", str(VIDEO), "--out", str(out), "--record", str(tmp_path / "rec"),
                 "--max-frames", "2", "--quiet", *camera]) == 0   # ... so the corrected rerun is accepted
    assert out.exists() and (tmp_path / "rec" / "recording.json").exists()
    assert main(["track", str(VIDEO), "--out", str(tmp_path / "nodir" / "o.csv"), "--quiet", *camera]) == 2
    assert "pose log's folder does not exist" in capsys.readouterr().err


def test_plan_refuses_a_bad_out_before_the_planning_run(tmp_path, monkeypatch, capsys):
    import targets.planner

    def must_not_run(*a, **k):
        raise AssertionError("the planning run started before --out was checked")

    monkeypatch.setattr(targets.planner, "build_plan", must_not_run)
    mri = REPO / "data" / "sample_head" / "head_t1.nii.gz"
    assert main(["plan", str(mri), "--target", "dlpfc-fox2012", "--out", str(tmp_path / "no" / "plan")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "notaplan").mkdir()
    (tmp_path / "notaplan" / "mine.txt").write_text("keep")
    assert main(["plan", str(mri), "--target", "dlpfc-fox2012", "--out", str(tmp_path / "notaplan"), "--force"]) == 2
    assert "not a plan folder" in capsys.readouterr().err
    assert (tmp_path / "notaplan" / "mine.txt").read_text() == "keep"


@pytest.mark.slow
def test_one_line_for_a_non_video_and_for_a_missing_video(tmp_path):
    (tmp_path / "notvideo.mp4").write_text("hello, not a video\n")
    r = _cli("track", "notvideo.mp4", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "navtms track: error: notvideo.mp4: the file cannot be opened as a video (corrupt, truncated or an unknown format)"]
    r = _cli("track", "missing.mp4", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["navtms track: error: missing.mp4: the file does not exist"]


@pytest.mark.slow
def test_replaying_a_cut_recording_prints_no_ffmpeg_noise(tmp_path):
    """A recording cut mid-frame (what a kill leaves): replay is silent on stderr."""
    import numpy as np

    from tracking.camera import CameraModel
    from tracking.recorder import Recorder, VIDEO_FILE
    from tracking.types import BodyPose, Frame

    folder = tmp_path / "rec"
    rng = np.random.default_rng(0)
    with Recorder(folder, camera=CameraModel.guess(160, 120, focal_factor=1.0), bodies=["coil"], video="auto") as rec:
        for i in range(4):
            img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
            rec.write(Frame(i, i * 10**8, img, {"coil": BodyPose.not_visible("coil", i, i * 10**8)}))
    if rec.kind != "ffv1":
        pytest.skip("no FFV1 writer here")
    # What a kill while writing frame 3 leaves: its image cut short, no rows, not complete.
    video = folder / VIDEO_FILE
    video.write_bytes(video.read_bytes()[:-3000])
    for name in ("frames.csv", "poses.csv"):
        lines = (folder / name).read_text().splitlines(keepends=True)
        (folder / name).write_text("".join(lines[:-1]))
    index = json.loads((folder / "recording.json").read_text())
    (folder / "recording.json").write_text(json.dumps({**index, "complete": False}))
    r = _cli("track", f"replay:{folder}", "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and "3 frames" in r.stdout
    assert all(line.startswith("navtms track: ") for line in r.stderr.strip().splitlines()), r.stderr
    assert "@ 0x" not in r.stderr and "mismatch" not in r.stderr and "broken" not in r.stderr
