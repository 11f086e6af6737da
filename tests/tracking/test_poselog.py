"""Pose log: exact round trips, truncated tails, malformed files."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from navcore.errors import InputFileError
from navcore.transforms import pose_from_transform, random_rigid, transform_from_pose
from tracking import poselog
from tracking.types import BodyPose


def _pose(body, frame, ns, rng, visible=True):
    if not visible:
        return BodyPose.not_visible(body, frame, ns, tags_total=4)
    t, q = pose_from_transform(random_rigid(rng, 500.0))
    return BodyPose(body, frame, ns, True, transform_from_pose(t, q), 3, 4, float(rng.uniform(0, 2)))


def _write(path, n_frames, bodies=("head", "coil"), seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        ns = 1_000_000_000 + i * 33_333_333
        frames.append([_pose(b, i, ns, rng, visible=(i + j) % 3 != 0) for j, b in enumerate(bodies)])
    poselog.write_log(path, frames)
    return frames


def test_header_is_exact(tmp_path):
    p = tmp_path / "poses.csv"
    _write(p, 1)
    lines = p.read_text().splitlines()
    assert lines[0] == "# navtms pose log, format_version 1"
    assert lines[1] == "frame,time_s,body,visible,tags_seen,tags_total,rms_px,tx_mm,ty_mm,tz_mm,qw,qx,qy,qz"


@given(st.integers(min_value=0, max_value=2**63 - 1))
@settings(max_examples=200)
def test_time_text_round_trips_exactly(ns):
    text = poselog.format_time_ns(ns)
    assert poselog.parse_time_ns(text) == ns
    assert text == f"{ns // 10**9}.{ns % 10**9:09d}"


@given(seed=st.integers(0, 2**32 - 1), ns=st.integers(0, 10**15), frame=st.integers(0, 10**7),
       visible=st.booleans(), rms=st.one_of(st.just(math.nan), st.floats(0, 100)))
@settings(max_examples=60)
def test_random_pose_round_trip_is_bit_exact(tmp_path_factory, seed, ns, frame, visible, rms):
    rng = np.random.default_rng(seed)
    if visible:
        t, q = pose_from_transform(random_rigid(rng, 1000.0))
        T = transform_from_pose(t, q)
        pose = BodyPose("coil", frame, ns, True, T, 5, 6, rms)
    else:
        pose = BodyPose("coil", frame, ns, False, None, 0, 6, rms)
    line = poselog.format_row(pose)
    back = poselog.parse_row(line)
    assert back.frame_number == frame and back.capture_ns == ns and back.visible == visible
    assert (math.isnan(back.rms_px) and math.isnan(rms)) or back.rms_px == rms
    if visible:
        # The stored numbers (t, q) round-trip bit-exactly, so the rebuilt matrix is identical
        # to the one built from the written t, q.
        t0, q0 = pose_from_transform(pose.T_camera_from_body)
        fields = line.split(",")
        assert np.array_equal(np.array([float(v) for v in fields[7:10]]), t0)
        assert np.array_equal(np.array([float(v) for v in fields[10:]]), q0)
        assert np.array_equal(back.T_camera_from_body[:3, 3], t0)
        assert np.array_equal(transform_from_pose(t0, q0), back.T_camera_from_body)
        assert np.allclose(back.T_camera_from_body, pose.T_camera_from_body, atol=1e-12)
    else:
        assert back.T_camera_from_body is None
        assert line.endswith(",,,,,,,")


def test_file_round_trip_frames(tmp_path):
    p = tmp_path / "poses.csv"
    written = _write(p, 7)
    frames = list(poselog.read_frames(p))
    assert [f.frame_number for f in frames] == list(range(7))
    for f, poses in zip(frames, written):
        assert f.image is None and set(f.poses) == {"head", "coil"}
        for wp in poses:
            rp = f.poses[wp.body]
            assert rp.capture_ns == wp.capture_ns == f.capture_ns
            assert rp.visible == wp.visible
            if wp.visible:
                t0, q0 = pose_from_transform(wp.T_camera_from_body)
                assert np.array_equal(rp.T_camera_from_body[:3, 3], t0)
                assert rp.rms_px == wp.rms_px
            else:
                assert rp.T_camera_from_body is None


def test_truncated_last_line_loses_only_last_frame(tmp_path):
    p = tmp_path / "poses.csv"
    _write(p, 5)
    data = p.read_bytes()
    # Cut inside the last row (frame 4, second body): frame 4 is dropped whole.
    p.write_bytes(data[:-10])
    assert [f.frame_number for f in poselog.read_frames(p)] == [0, 1, 2, 3]
    # Cut right after the first row of frame 4 plus a few chars of the next: still 0..3.
    lines = data.decode().split("\n")
    cut = "\n".join(lines[:2 + 2 * 4 + 1]) + "\n" + lines[2 + 2 * 4 + 1][:5]
    p.write_text(cut)
    assert [f.frame_number for f in poselog.read_frames(p)] == [0, 1, 2, 3]
    # Cut after a complete frame plus a partial row of the next frame: all complete frames stay.
    cut = "\n".join(lines[:2 + 2 * 4]) + "\n" + lines[2 + 2 * 4][:8]
    p.write_text(cut)
    assert [f.frame_number for f in poselog.read_frames(p)] == [0, 1, 2, 3]


def test_writer_appends_after_a_killed_writer(tmp_path):
    p = tmp_path / "poses.csv"
    _write(p, 3)
    p.write_bytes(p.read_bytes()[:-7])  # killed mid-row in frame 2
    rng = np.random.default_rng(5)
    with poselog.PoseLogWriter(p) as w:
        w.write_frame([_pose("head", 3, 5_000_000_000, rng), _pose("coil", 3, 5_000_000_000, rng)])
    # The truncated row is now a complete but malformed line: the reader names it.
    with pytest.raises(InputFileError, match=r"line 8 of the pose log is malformed"):
        list(poselog.read_frames(p))


@pytest.mark.parametrize("bad, match", [
    ("0,1.000000000,head,2,0,4,,,,,,,,", "line 3 .*visible"),
    ("0,1.0,head,0,0,4,,,,,,,,", "line 3 .*9 decimals"),
    ("0,1.000000000,head,1,4,4,0.5,1.0,2.0,3.0,,,,", "line 3 .*empty pose"),
    ("0,1.000000000,head,1,4,4,0.5,1.0,2.0,3.0,2.0,0.0,0.0,0.0", "line 3 .*unit length"),
    ("0,1.000000000,head,0,0,4", "line 3 .*6 fields"),
    ("x,1.000000000,head,0,0,4,,,,,,,,", "line 3 .*frame"),
])
def test_malformed_rows_name_the_line(tmp_path, bad, match):
    p = tmp_path / "poses.csv"
    p.write_text(poselog.VERSION_LINE + "\n" + poselog.HEADER + "\n" + bad + "\n")
    with pytest.raises(InputFileError, match=match):
        list(poselog.read_frames(p))


def test_wrong_header_and_missing_file(tmp_path):
    p = tmp_path / "poses.csv"
    p.write_text(poselog.VERSION_LINE + "\nframe,time,body\n")
    with pytest.raises(InputFileError, match="line 2 .*header"):
        list(poselog.read_frames(p))
    p.write_text("frame,time_s\n")
    with pytest.raises(InputFileError, match="line 1"):
        list(poselog.read_frames(p))
    with pytest.raises(InputFileError, match="does not exist"):
        list(poselog.read_frames(tmp_path / "nope.csv"))
    with pytest.raises(InputFileError, match="header"):
        poselog.PoseLogWriter(p)  # never appends to a file that is not a pose log


def test_write_log_never_overwrites(tmp_path):
    p = tmp_path / "poses.csv"
    _write(p, 2)
    before = p.read_bytes()
    with pytest.raises(InputFileError, match="already exists"):
        poselog.write_log(p, [])
    assert p.read_bytes() == before


def test_frame_rows_must_be_consecutive(tmp_path):
    p = tmp_path / "poses.csv"
    rows = ["0,1.000000000,a,0,0,1,,,,,,,,", "1,2.000000000,a,0,0,1,,,,,,,,", "0,1.000000000,b,0,0,1,,,,,,,,"]
    p.write_text(poselog.VERSION_LINE + "\n" + poselog.HEADER + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputFileError, match="frame 0 appears twice"):
        list(poselog.read_frames(p))
