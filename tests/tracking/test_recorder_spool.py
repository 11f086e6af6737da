"""Background Recorder and its frame spool: a killed background recorder loses at most the frame
being written; replay takes the frames the video stops short of from the spool, bit-exact, and
never takes a spool slot that holds another frame.

The state a kill leaves is made two ways: a real child process SIGKILLed while its (slowed)
encoder is many frames behind, and, in process, a copy of the folder taken while the encoder
is held at a known frame (every file is flushed, so the copy is what a kill at that moment
leaves). The truth is regenerated independently (test_recorder.make_frame is deterministic)."""
from __future__ import annotations

import json
import os
import random
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from navcore.errors import TrackingError
from recorder_kill import record_and_kill
from test_recorder import make_frame
from tracking import recorder as rec
from tracking import spool
from tracking.sources import SourceFileError

KINDS = ["ffv1", "png"]


def _need(kind):
    if kind == "ffv1" and not rec.ffv1_available():
        pytest.skip("no FFV1 writer (PyAV) here")


def _images_in_video(folder: Path, kind: str) -> int:
    """How many frames the video alone holds (what a replay without the spool could give)."""
    if kind == "png":
        return len(list((folder / rec.PNG_DIR).glob("*.png")))
    cap = cv2.VideoCapture(str(folder / rec.VIDEO_FILE))
    n = 0
    while cap.isOpened() and cap.read()[0]:
        n += 1
    cap.release()
    return n


def _check_frames(out, first: int = 0, **size):
    """Every replayed frame equals the frame written (image bit-exact, number, time, poses)."""
    for k, f in enumerate(out):
        expect = make_frame(first + k, **size)
        assert f.frame_number == expect.frame_number and f.capture_ns == expect.capture_ns
        assert f.image.dtype == np.uint8 and np.array_equal(f.image, expect.image), f"frame {k}"
        for name in ("coil", "head"):
            p, q = f.poses[name], expect.poses[name]
            assert (p.visible, p.tags_seen, p.tags_total, p.frame_number, p.capture_ns) == \
                   (q.visible, q.tags_seen, q.tags_total, q.frame_number, q.capture_ns)
            if q.visible:
                assert np.allclose(p.T_camera_from_body, q.T_camera_from_body, rtol=0, atol=1e-12)


def _hold_encoder(r: rec.Recorder, from_index: int, fail: bool = False):
    """Make r's encoder stop before frame `from_index` until `release` is set (then encode it,
    or raise OSError when fail). Returns (release, reached) events."""
    encode, release, reached = r._encode, threading.Event(), threading.Event()

    def held(index, image):
        if index >= from_index:
            reached.set()
            assert release.wait(30)
            if fail:
                raise OSError("disk full")
        encode(index, image)

    r._encode = held
    return release, reached


def _slot_header(folder: Path, layout: spool.SpoolLayout, index: int) -> tuple:
    with open(folder / spool.SPOOL_FILE, "rb") as f:
        f.seek(layout.offset(index))
        return spool.HEADER.unpack(f.read(spool.HEADER.size))


def _put_slot(folder: Path, layout: spool.SpoolLayout, slot_of: int, header: tuple, image=None) -> None:
    with open(folder / spool.SPOOL_FILE, "r+b") as f:
        f.seek(layout.offset(slot_of))
        f.write(spool.HEADER.pack(*header))
        if image is not None:
            f.write(np.ascontiguousarray(image).tobytes())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gray", [False, True])
def test_spooled_frames_replay_when_the_video_stops_short(tmp_path, kind, gray):
    """Encoder held after 3 of 9 frames (max_queue 5: 6 slots, all in use): write() still
    returned 9 times; a copy of the folder then (what a kill leaves) replays all 9 frames
    bit-exact, 3 from the video and 6 from the spool; a 10th write() waits for a free slot;
    after close the spool is gone and the index is as before (no 'spool')."""
    _need(kind)
    folder = tmp_path / "rec"
    r = rec.Recorder(folder, bodies=["coil", "head"], video=kind, background=True, max_queue=5)
    release, reached = _hold_encoder(r, 3)
    for i in range(9):
        r.write(make_frame(i, gray))
    assert reached.wait(30)
    killed = tmp_path / "killed"
    shutil.copytree(folder, killed)
    info = json.loads((killed / rec.INDEX_NAME).read_text())
    assert info["complete"] is False and info["format_version"] == 1
    layout = spool.SpoolLayout.for_images(6, (96, 72), 1 if gray else 3)
    assert info["spool"] == layout.to_index() and info["spool"]["slots"] == 6
    assert (killed / spool.SPOOL_FILE).stat().st_size == 6 * layout.slot_bytes
    assert _images_in_video(killed, kind) == 3
    out = list(rec.RecordingSource(killed))
    assert len(out) == 9
    _check_frames(out, gray=gray)

    tenth = threading.Thread(target=r.write, args=(make_frame(9, gray),))
    tenth.start()
    tenth.join(0.3)
    assert tenth.is_alive(), "write() did not wait although all 6 spool slots hold frames not yet encoded"
    release.set()
    tenth.join(30)
    r.close()
    assert not (folder / spool.SPOOL_FILE).exists()
    info = json.loads((folder / rec.INDEX_NAME).read_text())
    assert info["complete"] is True and info["frame_count"] == 10 and "spool" not in info
    out = list(rec.RecordingSource(folder))
    assert len(out) == 10 and _images_in_video(folder, kind) == 10
    _check_frames(out, gray=gray)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), max_queue=st.integers(1, 6), encoded=st.integers(0, 9),
       extra=st.integers(0, 7), gray=st.booleans())
def test_any_kill_point_replays_every_frame_written(tmp_path_factory, kind, max_queue, encoded, extra, gray):
    """For any spool size, any number of frames already encoded and any number of frames then
    written (up to the spool's slots, so write() never waits): the state a kill leaves replays
    every frame written, bit-exact, `encoded` of them from the video alone."""
    _need(kind)
    slots = max_queue + 1
    written = encoded + min(extra, slots)
    folder = tmp_path_factory.mktemp("any") / "rec"
    r = rec.Recorder(folder, bodies=["coil", "head"], video=kind, background=True, max_queue=max_queue)
    release, reached = _hold_encoder(r, encoded)
    try:
        for i in range(written):
            r.write(make_frame(i, gray, w=32, h=24))
            if i < encoded:   # the encoder keeps up with the first `encoded` frames
                while _images_in_video(folder, kind) < i + 1:
                    threading.Event().wait(0.002)
        assert written == encoded or reached.wait(30)
        killed = folder.parent / "killed"
        shutil.copytree(folder, killed)
    finally:
        release.set()
        r.close()
    out = list(rec.RecordingSource(killed))
    assert len(out) == written and (written == 0 or _images_in_video(killed, kind) == encoded)
    _check_frames(out, gray=gray, w=32, h=24)


@pytest.mark.parametrize("kind", KINDS)
def test_a_spool_slot_holding_another_frame_is_not_replayed(tmp_path, kind):
    """The spool is used only for a slot whose header names this very frame (index, frame
    number, capture time): a stale slot (an older frame with its whole image), a slot marked
    as being written, a slot whose time differs, a spool cut short or deleted: replay stops at
    that frame (every frame before it bit-exact), never returns another frame's image."""
    _need(kind)
    folder = tmp_path / "rec"
    r = rec.Recorder(folder, bodies=["coil", "head"], video=kind, background=True, max_queue=5)
    release, reached = _hold_encoder(r, 3)
    for i in range(9):
        r.write(make_frame(i))
    assert reached.wait(30)
    base = tmp_path / "killed"
    shutil.copytree(folder, base)
    release.set()
    r.close()
    layout = spool.SpoolLayout.for_images(6, (96, 72), 3)
    f6 = make_frame(6)
    assert _slot_header(base, layout, 6) == (spool.MAGIC, 6, f6.frame_number, f6.capture_ns)
    f0 = make_frame(0)
    cases = {
        # slot 0 still holding frame 0 (index 0 = 6 - 6 slots), image and header whole
        "stale": ((spool.MAGIC, 0, f0.frame_number, f0.capture_ns), f0.image),
        "being written": ((spool.MAGIC, -1, -1, -1), f0.image),
        "other time": ((spool.MAGIC, 6, f6.frame_number, f6.capture_ns + 1), f6.image),
        "other frame number": ((spool.MAGIC, 6, f6.frame_number + 1, f6.capture_ns), f6.image),
        "not a spool slot": ((b"NAVTMSP0", 6, f6.frame_number, f6.capture_ns), f6.image),
    }
    for name, (header, image) in cases.items():
        case = tmp_path / name
        shutil.copytree(base, case)
        _put_slot(case, layout, 6, header, image)
        out = list(rec.RecordingSource(case))
        assert len(out) == 6, name
        _check_frames(out)
    cut = tmp_path / "cut"
    shutil.copytree(base, cut)
    with open(cut / spool.SPOOL_FILE, "r+b") as f:    # frame 5's slot (5 of 6) loses its last byte
        f.truncate(layout.offset(5) + spool.HEADER.size + layout.image_bytes - 1)
    out = list(rec.RecordingSource(cut))
    assert len(out) == 5
    _check_frames(out)
    gone = tmp_path / "gone"
    shutil.copytree(base, gone)
    (gone / spool.SPOOL_FILE).unlink()
    out = list(rec.RecordingSource(gone))
    assert len(out) == 3                                 # the video's frames only
    _check_frames(out)


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_encoder_keeps_the_spool_and_its_frames(tmp_path, kind):
    """The encoder fails at frame 2 (after 5 frames were written): close() raises, the index
    stays incomplete and names the spool, which is kept, so all 5 frames still replay."""
    _need(kind)
    folder = tmp_path / "rec"
    r = rec.Recorder(folder, bodies=["coil", "head"], video=kind, background=True, max_queue=5)
    release, reached = _hold_encoder(r, 2, fail=True)
    for i in range(5):
        r.write(make_frame(i))
    assert reached.wait(30)
    release.set()
    with pytest.raises(TrackingError, match=r"image encoder failed \(disk full\)"):
        r.close()
    info = json.loads((folder / rec.INDEX_NAME).read_text())
    assert info["complete"] is False and info["frame_count"] == 5 and info["spool"]["slots"] == 6
    assert _images_in_video(folder, kind) == 2
    out = list(rec.RecordingSource(folder))
    assert len(out) == 5
    _check_frames(out)


def test_a_spool_entry_that_does_not_fit_the_images_is_refused(tmp_path):
    folder = tmp_path / "rec"
    r = rec.Recorder(folder, bodies=["coil", "head"], video="png", background=True, max_queue=2)
    release, reached = _hold_encoder(r, 0)
    r.write(make_frame(0))
    assert reached.wait(30)
    good = json.loads((folder / rec.INDEX_NAME).read_text())
    release.set()
    r.close()
    for bad in [{**good["spool"], "slot_bytes": good["spool"]["slot_bytes"] + 4096},
                {**good["spool"], "header_bytes": 64}, {**good["spool"], "slots": 0},
                {**good["spool"], "file": "../elsewhere.bin"}, "frames.spool", [3]]:
        (folder / rec.INDEX_NAME).write_text(json.dumps({**good, "spool": bad}))
        with pytest.raises(SourceFileError, match="'spool' in the recording index is not a frame spool"):
            rec.RecordingSource(folder)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", KINDS)
def test_killed_background_recording_keeps_every_frame_written(tmp_path, kind):
    """A child records with background=True and a slow encoder (30 ms a frame; write() is much
    faster, so up to 31 frames wait in the spool) and is SIGKILLed at random points: the replay
    holds every frame whose write() returned (at least every frame the child reported), the
    pose log at most one frame more, all bit-exact against the frames regenerated here, and
    the video alone holds many frames fewer (the spool gave the rest)."""
    _need(kind)
    rng = random.Random(int(os.environ.get("NAVTMS_KILL_SEED", "13")))
    for k, (stop_after, delay) in enumerate([(45, 0.0)] + [(rng.randint(20, 60), rng.uniform(0, 0.02)) for _ in range(2)]):
        folder = tmp_path / f"rec{k}"
        reported, stderr = record_and_kill(folder, kind, background=True, max_queue=30, stop_after=stop_after,
                                           delay_s=delay, encode_delay_s=0.03)
        assert reported >= stop_after, stderr
        src = rec.RecordingSource(folder)
        out = list(src)
        in_video = _images_in_video(folder, kind)
        print(f"{kind} kill {k} after frame {reported} + {delay * 1e3:.0f} ms: replayed {len(out)}, "
              f"pose log {len(src._poses)}, video alone {in_video}")
        assert src.complete is False and (folder / spool.SPOOL_FILE).exists()
        assert len(out) >= reported + 1, "a frame whose write() returned is lost"
        assert len(src._poses) - len(out) <= 1, "replay lost more than the frame being written"
        assert len(out) - in_video >= 10, "the encoder was not behind: the spool was not exercised"
        _check_frames(out, w=320, h=240)
