"""Recorder and RecordingSource: bit-exact replay, killed recordings, refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest

from navcore.errors import InputFileError, TrackingError
from navcore.transforms import random_rigid
from tracking import recorder as rec
from tracking.camera import CameraModel
from navigation.sources import open_source
from tracking.types import BodyPose, Frame
from recorder_kill import record_and_kill


def make_frame(i: int, gray: bool = False, w: int = 96, h: int = 72):
    """A frame with a deterministic noisy image (noise defeats any lossy codec) and two bodies."""
    rng = np.random.default_rng(i)
    shape = (h, w) if gray else (h, w, 3)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    ns = 7_000_000_000 + i * 33_366_667 + (i % 3)  # irregular, not derivable from an fps
    coil = BodyPose("coil", 100 + i, ns, True, random_rigid(rng, 300.0), 4, 4, 0.3 + 0.01 * i)
    head = BodyPose("head", 100 + i, ns, i % 4 != 0, random_rigid(rng, 300.0) if i % 4 != 0 else None, 6 if i % 4 else 0, 6)
    return Frame(100 + i, ns, image, {"coil": coil, "head": head})


@pytest.mark.parametrize("kind", ["ffv1", "png"])
@pytest.mark.parametrize("gray, background", [(False, False), (True, False), (False, True)])
def test_replay_is_bit_exact(tmp_path, kind, gray, background):
    if kind == "ffv1" and not rec.ffv1_available():
        pytest.skip("this OpenCV build has no FFV1 writer")
    folder = tmp_path / "rec"
    cam = CameraModel.guess(96, 72)
    frames = [make_frame(i, gray) for i in range(12)]
    with rec.Recorder(folder, camera=cam, bodies=["coil", "head"], video=kind, background=background, max_queue=4) as r:
        for f in frames:
            r.write(f)
    info = json.loads((folder / "recording.json").read_text())
    assert info["format_version"] == 1 and info["frame_count"] == 12 and info["complete"] is True
    assert info["video"]["kind"] == kind and info["image_size"] == [96, 72] and info["bodies"] == ["coil", "head"]
    with open_source(f"replay:{folder}") as src:
        out = list(src)
        assert np.array_equal(src.camera.K, cam.K)
    assert len(out) == 12
    for a, b in zip(frames, out):
        assert b.frame_number == a.frame_number and b.capture_ns == a.capture_ns
        assert b.image.dtype == np.uint8 and b.image.shape == a.image.shape
        assert np.array_equal(b.image, a.image)
        for name in ("coil", "head"):
            pa, pb = a.poses[name], b.poses[name]
            assert pb.visible == pa.visible and pb.capture_ns == pa.capture_ns and pb.frame_number == pa.frame_number
            if pa.visible:
                assert np.allclose(pb.T_camera_from_body, pa.T_camera_from_body, atol=1e-12)
            else:
                assert pb.T_camera_from_body is None


def test_pose_only_recording(tmp_path):
    folder = tmp_path / "rec"
    frames = [Frame(f.frame_number, f.capture_ns, None, f.poses) for f in (make_frame(i) for i in range(5))]
    with rec.Recorder(folder, bodies=["coil", "head"]) as r:
        for f in frames:
            r.write(f)
    out = list(rec.RecordingSource(folder))
    assert [f.capture_ns for f in out] == [f.capture_ns for f in frames]
    assert all(f.image is None for f in out)


def test_bodies_taken_from_first_frame(tmp_path):
    folder = tmp_path / "rec"
    with rec.Recorder(folder, video="png") as r:
        assert json.loads((folder / "recording.json").read_text())["bodies"] == []
        r.write(make_frame(0))
        assert json.loads((folder / "recording.json").read_text())["bodies"] == ["coil", "head"]
        r.write(make_frame(1))
        with pytest.raises(TrackingError, match="has poses for"):
            r.write(Frame(9, 9, make_frame(2).image, None))
    out = list(rec.RecordingSource(folder))
    assert len(out) == 2 and set(out[1].poses) == {"coil", "head"}


def test_background_encoder_failure_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "rec"
    r = rec.Recorder(folder, video="png", background=True)

    def broken(index, image):
        raise OSError("disk full")

    monkeypatch.setattr(r, "_encode", broken)
    r.write(make_frame(0))
    # close() waits for the encoder thread and reports its failure; the index stays incomplete.
    with pytest.raises(TrackingError, match=r"image encoder failed \(disk full\)"):
        r.close()
    assert json.loads((folder / "recording.json").read_text())["complete"] is False


def test_refusals(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(InputFileError, match="not empty; recordings are never overwritten"):
        rec.Recorder(folder)
    assert (folder / "keep.txt").read_text() == "mine"
    with pytest.raises(TrackingError, match="video kind 'mp4' is unknown"):
        rec.Recorder(tmp_path / "new", video="mp4")
    with rec.Recorder(tmp_path / "r2", video="png", bodies=["coil", "head"]) as r:
        r.write(make_frame(0))
        with pytest.raises(TrackingError, match="is 48x36x3 but the recording is 96x72x3"):
            r.write(make_frame(1, w=48, h=36))
        with pytest.raises(TrackingError, match="images in every frame or in none"):
            r.write(Frame(5, 5, None, make_frame(2).poses))
    with rec.Recorder(tmp_path / "r3", bodies=["coil", "head"]) as r:
        f = make_frame(0)
        with pytest.raises(TrackingError, match=r"poses for \['coil'\] but the recording logs \['coil', 'head'\]"):
            r.write(f, poses={"coil": f.poses["coil"]})
        assert r.frame_count == 0
    with pytest.raises(TrackingError, match="recording folder does not exist"):
        open_source(f"replay:{tmp_path / 'nope'}")


@pytest.mark.slow
@pytest.mark.parametrize("kind, background, stop_after", [("ffv1", False, 23), ("png", False, 17), ("ffv1", True, 31)])
def test_killed_recording_loses_at_most_the_last_frame(tmp_path, kind, background, stop_after):
    """SIGKILL while recording: the image and the pose rows of a frame are durable together,
    so the replay holds every frame of the pose log (at most the one being written is lost)
    and every frame reported written (with background=True too: its images not yet encoded
    come from the frame spool; tests/tracking/test_recorder_spool.py kills a far-behind one)."""
    if kind == "ffv1" and not rec.ffv1_available():
        pytest.skip("no FFV1 writer (PyAV) here")
    folder = tmp_path / "rec"
    reported, _ = record_and_kill(folder, kind, background=background, max_queue=5, stop_after=stop_after)
    assert reported >= stop_after
    info = json.loads((folder / "recording.json").read_text())
    assert info["complete"] is False  # never closed
    src = rec.RecordingSource(folder)
    assert sorted(src._poses) == list(range(100, 100 + len(src._poses)))
    out = list(src)
    assert len(src._poses) - len(out) <= 1, "replay lost more than the frame being written"
    assert len(out) >= reported + 1   # every frame write() returned from is replayed
    for f in out:
        expect = make_frame(f.frame_number - 100, w=320, h=240)
        assert np.array_equal(f.image, expect.image)
        assert f.capture_ns == expect.capture_ns
        assert np.allclose(f.poses["coil"].T_camera_from_body, expect.poses["coil"].T_camera_from_body, atol=1e-12)


@pytest.mark.parametrize("cut", [0, 100, 3000])
def test_recording_killed_during_its_first_frame_replays_as_empty(tmp_path, cut):
    """The state a kill leaves while the first frame is written: the index says 320x240 FFV1,
    the video is missing or cut before its first whole frame, no rows. Replay: zero frames,
    no error (and `navtms track replay:DIR` reports 0 frames, exit 0)."""
    if not rec.ffv1_available():
        pytest.skip("no FFV1 writer (PyAV) here")
    folder = tmp_path / "rec"
    r = rec.Recorder(folder, bodies=["coil", "head"], video="ffv1")
    r._check_image(make_frame(0, w=320, h=240).image)       # set up as the first write() does
    r._writer.write(make_frame(0, w=320, h=240).image)      # the image is being written ...
    video = folder / rec.VIDEO_FILE
    data = video.read_bytes()
    video.write_bytes(data[:cut])                           # ... and cut by the kill
    assert json.loads((folder / "recording.json").read_text())["image_size"] == [320, 240]
    assert list(rec.RecordingSource(folder)) == []
    from navtms.cli import main

    assert main(["track", f"replay:{folder}", "--quiet"]) == 0


def test_unreadable_video_of_a_complete_recording_is_an_error(tmp_path):
    folder = tmp_path / "rec"
    with rec.Recorder(folder, bodies=["coil", "head"], video="auto") as r:
        r.write(make_frame(0, w=320, h=240))
    if r.kind != "ffv1":
        pytest.skip("no FFV1 writer (PyAV) here")
    (folder / rec.VIDEO_FILE).write_bytes(b"not a video")
    with pytest.raises(InputFileError, match="cannot be opened"):
        rec.RecordingSource(folder)
