"""`navtms track` on real webcam footage: pose log rows, errors that leave files alone."""
from __future__ import annotations

import numpy as np

from navtms.cli import main
from tracking.camera import CameraModel
from tracking.poselog import COLUMNS, read_rows

REAL = "webcam-aruco-sksurgery"


def calibration_txt_camera(d, tmp_path):
    """The upstream calibration.txt (3x3 K, then 5 distortion terms) as a navtms camera file."""
    vals = np.array((d / "calibration.txt").read_text().split(), float)
    path = tmp_path / "calibration.json"
    CameraModel((640, 480), vals[:9].reshape(3, 3), vals[9:14]).save(path)
    return path


def test_track_real_video_writes_pose_log(shared_real, tmp_path, capsys):
    d = shared_real / REAL
    out = tmp_path / "poses.csv"
    rc = main(["track", f"video:{d / 'multipattern.avi'}", "--quiet",
               "--body", f"reference={d / 'reference.txt'}@DICT_ARUCO_ORIGINAL",
               "--body", f"pointer={d / 'pointer.txt'}@DICT_ARUCO_ORIGINAL",
               "--body", f"tag0={d / 'tag_0.txt'}", "--out", str(out)])
    assert rc == 0
    lines = out.read_text().splitlines()
    assert lines[1] == ",".join(COLUMNS)
    rows = list(read_rows(out))
    assert len(rows) == 30                                   # 10 frames x 3 bodies
    assert [r.body for r in rows[:3]] == ["reference", "pointer", "tag0"]
    assert all(r.visible for r in rows)
    assert sorted({r.frame_number for r in rows}) == list(range(10))
    ref = [r for r in rows if r.body == "reference"]
    assert all(r.tags_total == 12 for r in ref) and sum(r.tags_seen == 12 for r in ref) >= 8
    # no --camera: the focal length comes from the bodies' geometry (~435 px fitted, README), not
    # a guess of 1.3 x width (832 px), so the depth is ~184 mm, not ~345 mm
    z = np.array([r.T_camera_from_body[2, 3] for r in ref])
    assert np.all((z > 170) & (z < 200))
    text = capsys.readouterr()
    assert "visible in 10/10 frames" in text.out and "focal length estimated" in text.err
    f = float(text.err.split("first 10 frames: ")[1].split()[0])
    assert abs(f - 435) <= 0.05 * 435


def test_track_default_bodies_absent_are_not_visible(shared_real, tmp_path, capsys):
    out = tmp_path / "p.csv"
    # no --camera and no body seen with 2 tags: the focal length cannot be estimated, so no mm output
    assert main(["track", str(shared_real / REAL / "output.avi"), "--quiet", "--max-frames", "3",
                 "--out", str(out)]) == 2
    assert "give --camera" in capsys.readouterr().err and not out.exists()
    cam = calibration_txt_camera(shared_real / REAL, tmp_path)
    assert main(["track", str(shared_real / REAL / "output.avi"), "--quiet", "--max-frames", "3",
                 "--camera", str(cam), "--out", str(out)]) == 0
    rows = list(read_rows(out))
    assert len(rows) == 9 and {r.body for r in rows} == {"coil", "head", "pointer"}
    # output.avi shows DICT_4X4_50 tag 0 alone: it belongs to the 4-tag coil body, but one tag
    # is not enough for a coil pose (TrackerSettings.min_tags), so nothing is visible
    assert all(not r.visible and r.T_camera_from_body is None for r in rows)


def test_track_errors_leave_files_alone(shared_real, tmp_path, capsys):
    video = str(shared_real / REAL / "output.avi")
    cam = tmp_path / "cam.json"
    CameraModel.guess(1280, 720).save(cam)
    out = tmp_path / "p.csv"
    assert main(["track", video, "--camera", str(cam), "--out", str(out)]) == 2
    assert "640x480 but the camera calibration is for 1280x720" in capsys.readouterr().err
    assert not out.exists()
    out.write_text("keep me")
    assert main(["track", video, "--out", str(out)]) == 2
    assert out.read_text() == "keep me"
    assert main(["track", video, "--body", "x=" + str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["track", video, "--body", "nonsense"]) == 2


def test_track_record_then_replay(shared_real, tmp_path, capsys):
    d = shared_real / REAL
    rec = tmp_path / "rec"
    cam = calibration_txt_camera(d, tmp_path)
    assert main(["track", f"video:{d / 'output.avi'}", "--quiet", "--max-frames", "4", "--camera", str(cam),
                 "--body", f"tag0={d / 'tag_0.txt'}", "--record", str(rec)]) == 0
    recorded = list(read_rows(rec / "poses.csv"))
    assert len(recorded) == 4 and all(r.visible for r in recorded)
    # replaying the recording through the tracker gives the same poses, bit for bit
    out = tmp_path / "replayed.csv"
    assert main(["track", f"replay:{rec}", "--quiet", "--body", f"tag0={d / 'tag_0.txt'}", "--out", str(out)]) == 0
    # no --camera: the replay uses the camera stored in the recording (f 560 px), not a guess
    assert "camera stored in the recording" in capsys.readouterr().err
    replayed = list(read_rows(out))
    assert [r.frame_number for r in replayed] == [r.frame_number for r in recorded]
    for a, b in zip(recorded, replayed):
        np.testing.assert_array_equal(a.T_camera_from_body, b.T_camera_from_body)
