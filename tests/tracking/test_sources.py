"""Frame sources: video files written here, real webcam footage, image folders, pose logs, specs."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from navcore.errors import InputFileError, TrackingError
from navcore.transforms import random_rigid
from navigation.sources import open_source   # the spec opener (tests of it: tests/navigation/test_sources.py)
from tracking import poselog, sources
from tracking.camera import CameraModel
from tracking.types import BodyPose, FrameSource, iterate


def _numbered(i, w=160, h=120):
    img = np.full((h, w, 3), (i * 10) % 256, np.uint8)
    cv2.putText(img, str(i), (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    return img


@pytest.fixture(scope="module")
def lossless_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("vid") / "clip.mkv"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (160, 120))
    assert w.isOpened()
    images = [_numbered(i) for i in range(20)]
    for img in images:
        w.write(img)
    w.release()
    return path, images


def test_video_file_frames_are_exact_and_timed_from_fps(lossless_video):
    path, images = lossless_video
    with sources.VideoFileSource(path) as src:
        assert isinstance(src, FrameSource)
        frames = list(iterate(src))
    assert len(frames) == 20
    assert [f.frame_number for f in frames] == list(range(20))
    assert [f.capture_ns for f in frames] == [i * 40_000_000 for i in range(20)]
    for f, img in zip(frames, images):
        assert np.array_equal(f.image, img)
    # A second replay is identical (deterministic timestamps).
    again = list(open_source(f"video:{path}"))
    assert [f.capture_ns for f in again] == [f.capture_ns for f in frames]


def test_missing_garbage_and_truncated_videos_raise_clear_errors(tmp_path, lossless_video):
    with pytest.raises(TrackingError, match="does not exist"):
        sources.VideoFileSource(tmp_path / "none.avi")
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(TrackingError, match="cannot be opened as a video") as ei:
        sources.VideoFileSource(garbage)
    assert isinstance(ei.value, InputFileError) and ei.value.path == garbage
    # An AVI cut in half: opens, but ends long before its declared frame count.
    avi = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    for i in range(20):
        w.write(_numbered(i))
    w.release()
    data = avi.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    src = sources.VideoFileSource(cut)
    with pytest.raises(TrackingError, match=r"ends after \d+ of the 20 frames"):
        list(src)
    # Cut so short that the header is gone or no frame is left.
    stub = tmp_path / "stub.mkv"
    stub.write_bytes(lossless_video[0].read_bytes()[:600])
    with pytest.raises(TrackingError, match="cannot be opened|no readable first frame"):
        sources.VideoFileSource(stub)


def test_real_webcam_footage_reads_ten_frames(shared_real):
    path = shared_real / "webcam-aruco-sksurgery" / "multipattern.avi"
    with open_source(f"video:{path}") as src:
        frames = list(src)
    assert len(frames) == 10
    assert all(f.image.shape == (480, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[-1].capture_ns == round(9 * 1e9 / src.fps)
    # Real content: the frames are not blank and not all identical.
    assert frames[0].image.std() > 10
    assert not np.array_equal(frames[0].image, frames[-1].image)
    # A camera file for another size is refused with a clear sentence.
    cam = CameraModel.guess(1280, 720)
    with pytest.raises(TrackingError, match="640x480 but the camera calibration is for 1280x720"):
        cam.check_image(frames[0].image, "frame 0")
    CameraModel.guess(640, 480).check_image(frames[0].image)


def test_camera_source_timestamps_and_end_of_delivery(lossless_video):
    """CameraSource on a real cv2.VideoCapture (a file stands in for the device, which this
    machine does not have): monotonic capture times at grab, then a clear error when frames stop."""
    path, images = lossless_video
    src = sources.CameraSource(str(path), max_failures=2)
    assert src.image_size == (160, 120)
    frames = []
    with pytest.raises(TrackingError, match=r"stopped delivering frames \(2 failed grabs in a row\)"):
        while True:
            before = sources.time.monotonic_ns()
            frame = src.read()
            frames.append((before, frame))
    src.close()
    assert [f.frame_number for _, f in frames] == list(range(20))
    assert all(before <= f.capture_ns for before, f in frames)
    ns = [f.capture_ns for _, f in frames]
    assert all(b > a for a, b in zip(ns, ns[1:]))
    assert all(np.array_equal(f.image, img) for (_, f), img in zip(frames, images))


def test_image_folder_sorted_and_errors(tmp_path):
    imgs = {name: _numbered(i) for i, name in enumerate(["b.png", "a.png", "c.jpg"])}
    for name, img in imgs.items():
        cv2.imwrite(str(tmp_path / name), img)
    (tmp_path / "notes.txt").write_text("ignored")
    frames = list(open_source(f"images:{tmp_path}"))
    assert [f.meta["file"].split("/")[-1] for f in frames] == ["a.png", "b.png", "c.jpg"]
    assert np.array_equal(frames[0].image, imgs["a.png"])  # PNG is lossless
    assert [f.capture_ns for f in frames] == [0, 33_333_333, 66_666_667]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrackingError, match="holds no .png or .jpg"):
        sources.ImageFolderSource(empty)
    (tmp_path / "d.png").write_bytes(b"broken")
    with pytest.raises(InputFileError, match="d.png: the image cannot be read"):
        list(sources.ImageFolderSource(tmp_path))
    (tmp_path / "d.png").unlink()
    cv2.imwrite(str(tmp_path / "e.png"), _numbered(1, 80, 60))
    with pytest.raises(TrackingError, match="e.png: the image is 80x60, not 160x120"):
        list(sources.ImageFolderSource(tmp_path))


def test_pose_log_source_replays_poses(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "poses.csv"
    frames_in = []
    for i in range(4):
        ns = 5_000_000_000 + i * 10_000_000
        coil = BodyPose("coil", i + 10, ns, True, random_rigid(rng), 4, 4, 0.25)
        head = BodyPose.not_visible("head", i + 10, ns, 6)
        frames_in.append([coil, head])
    poselog.write_log(path, frames_in)
    with open_source(f"poses:{path}") as src:
        out = list(src)
    assert [f.frame_number for f in out] == [10, 11, 12, 13]
    assert [f.capture_ns for f in out] == [5_000_000_000 + i * 10_000_000 for i in range(4)]
    assert all(f.image is None for f in out)
    assert all(not f.poses["head"].visible and f.poses["head"].T_camera_from_body is None for f in out)
    for f, fin in zip(out, frames_in):
        assert np.allclose(f.poses["coil"].T_camera_from_body, fin[0].T_camera_from_body, atol=1e-12)
    with pytest.raises(TrackingError, match="pose log does not exist"):
        open_source(f"poses:{tmp_path / 'missing.csv'}")


def test_realtime_pacing_sleeps_to_recorded_times(monkeypatch, lossless_video):
    """Pacing logic on a fake clock: sleeps (never spins) until each frame's recorded offset."""
    clock = {"ns": 1_000_000_000}
    sleeps = []

    def fake_sleep(s):
        sleeps.append(s)
        clock["ns"] += int(round(s * 1e9))

    monkeypatch.setattr(sources.time, "monotonic_ns", lambda: clock["ns"])
    monkeypatch.setattr(sources.time, "sleep", fake_sleep)
    src = sources.VideoFileSource(lossless_video[0], realtime=True)
    delivered = []
    for f in src:
        delivered.append(clock["ns"])
        clock["ns"] += 5_000_000  # the consumer takes 5 ms per frame
    assert len(delivered) == 20
    # Frame k comes out at start + k * 40 ms, the consumer's time being slept off, not added.
    assert [d - delivered[0] for d in delivered] == [k * 40_000_000 for k in range(20)]
    assert len(sleeps) == 19 and all(math.isclose(s, 0.035, abs_tol=1e-9) for s in sleeps)
    # Not realtime: no sleeping at all.
    sleeps.clear()
    list(sources.VideoFileSource(lossless_video[0], realtime=False))
    assert sleeps == []


def test_closed_source_returns_none(lossless_video):
    src = sources.VideoFileSource(lossless_video[0])
    assert src.read() is not None
    src.close()
    assert src.read() is None
