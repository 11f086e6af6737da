"""IGTLSource behind a PLUS-like pyigtl server: one output per tracker frame, never torn.

PLUS sends CoilToTracker and HeadToTracker of one tracker frame back to back with one header
timestamp. The model of the truth: the coil is held on a moving head (31 mm/s), so the chain
T_mri_from_head @ inv(T_tracker_from_head) @ T_tracker_from_coil equals the fixed true
T_mri_from_coil in every tracker frame; joining the coil of frame k with the head of frame k-1
puts it off by the head's motion in one frame (~0.5 mm at 60 Hz).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from igtl.source import IGTLSource
from navigation.navigator import Navigator
from navcore.transforms import invert
from igtl_helpers import plus_motion, pyigtl_server, stream_plus_frames

RATE_HZ = 60.0


@pytest.fixture
def server():
    srv = pyigtl_server()
    yield srv
    srv.stop()


def _chain_error_mm(frame, T_mri_from_head, T_mri_from_coil):
    c, h = frame.poses["coil"].T_camera_from_body, frame.poses["head"].T_camera_from_body
    T = T_mri_from_head @ invert(h) @ c
    return float(np.max(np.abs(T[:3, 3] - T_mri_from_coil[:3, 3])))


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("reader_sleep_s", [0.0, 0.013])
def test_every_output_is_one_whole_tracker_frame(server, reader_sleep_s):
    """Fast reader (every tracker frame) and a slow reader (skips frames): every visible
    output's chain equals the truth to float32 precision; tracker timestamps never repeat
    (one output per tracker frame); the fast reader sees nearly every frame."""
    n = 150
    T_mri_from_head, T_mri_from_coil, frames = plus_motion(n, RATE_HZ)
    by_ts = {round(ts, 6): (c, h) for ts, c, h in frames}
    # A torn frame would be this far off: the head's motion between two tracker frames.
    torn_mm = _chain_error_mm_frames(frames[1][1], frames[0][2], T_mri_from_head, T_mri_from_coil)
    assert torn_mm > 0.2
    nav = Navigator([_Target(T_mri_from_coil)], T_mri_from_head)
    with IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.5) as src:
        th = stream_plus_frames(server, frames, RATE_HZ)
        seen_ts, errors = [], []
        end = time.monotonic() + 20
        while time.monotonic() < end and (not seen_ts or seen_ts[-1] < round(frames[-1][0], 6)):
            f = src.read()
            if f.meta["stale"]:
                if not th.is_alive():
                    break
                continue
            ts = round(f.meta["tracker_timestamp_s"], 6)
            assert ts in by_ts
            if ts == round(frames[0][0], 6) and not f.poses["head"].visible:
                continue   # the very first message goes out alone: the stream is not yet known grouped
            assert f.poses["coil"].visible and f.poses["head"].visible
            assert f.meta["sender_timestamps_s"]["coil"] == f.meta["sender_timestamps_s"]["head"]
            c, h = by_ts[ts]
            assert np.allclose(f.poses["coil"].T_camera_from_body, c, atol=1e-3)
            assert np.allclose(f.poses["head"].T_camera_from_body, h, atol=1e-3)
            errors.append(_chain_error_mm(f, T_mri_from_head, T_mri_from_coil))
            out = nav.update(f.poses, f.frame_number, f.capture_ns)
            assert np.max(np.abs(out.T_mri_from_coil[:3, 3] - T_mri_from_coil[:3, 3])) < 1e-3
            seen_ts.append(ts)
            if reader_sleep_s:
                time.sleep(reader_sleep_s)
        th.join()
    late = src.grouper.late_messages
    assert len(seen_ts) - len(set(seen_ts)) <= late <= 2, "one output per tracker frame"
    assert max(errors) < 1e-3 < torn_mm
    if reader_sleep_s == 0.0:
        assert len(set(seen_ts)) >= 0.9 * n
    assert src.grouper.frames == n
    assert abs(src.tracker_rate_hz - RATE_HZ) < 0.5


def _chain_error_mm_frames(T_coil, T_head, T_mri_from_head, T_mri_from_coil):
    T = T_mri_from_head @ invert(T_head) @ T_coil
    return float(np.linalg.norm(T[:3, 3] - T_mri_from_coil[:3, 3]))


class _Target:
    def __init__(self, T):
        self.name, self.T_mri_from_coil, self.target_mri_mm = "t", T, T[:3, 3] + T[:3, 2] * 20.0


@pytest.mark.timeout(30)
def test_tool_left_out_of_a_tracker_frame_is_not_visible_in_it(server):
    """PLUS SendValidTransformsOnly="true": the coil is simply not sent in some frames. Those
    outputs must show the coil not visible, never the coil of an earlier frame."""
    import pyigtl

    T_mri_from_head, T_mri_from_coil, frames = plus_motion(40, RATE_HZ, seed=3)
    with IGTLSource("127.0.0.1", server.server_address[1], read_timeout_s=0.3) as src:
        stop = threading.Event()

        def run():
            for k, (ts, c, h) in enumerate(frames):
                if k < 10 or k >= 30:   # coil sent only in frames 0-9 and 30-39
                    server.send_message(pyigtl.TransformMessage(c, device_name="CoilToTracker", timestamp=ts),
                                        wait=False)
                server.send_message(pyigtl.TransformMessage(h, device_name="HeadToTracker", timestamp=ts),
                                    wait=False)
                time.sleep(1 / RATE_HZ)

        th = threading.Thread(target=run, daemon=True)
        th.start()
        outputs = []
        while th.is_alive() or not outputs or outputs[-1][0] < frames[-1][0] - 1e-6:
            f = src.read()
            if f.meta["stale"]:
                if not th.is_alive():
                    break
                continue
            outputs.append((f.meta["tracker_timestamp_s"], f.poses["coil"].visible, f.poses["head"].visible))
        th.join()
    t10, t30 = frames[10][0], frames[30][0]
    for ts, coil_vis, head_vis in outputs:
        assert head_vis or ts == frames[0][0]   # the first message alone, before the stream is known grouped
        if t10 - 1e-6 < ts < t30 - 1e-6:
            assert not coil_vis, f"coil shown in tracker frame at {ts - frames[0][0]:.3f} s where it was not sent"
    assert any(v for ts, v, _ in outputs if ts > t30 - 1e-6)
