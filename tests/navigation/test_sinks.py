"""Loop sinks and log rows: frames.csv rows, viewer state (stale/status never shows a pose as
current), timing rows with drop counts."""
from __future__ import annotations

import math

import numpy as np

from navcore.transforms import transform_from_pose
from navigation.csvlog import read_log
from navigation.navigator import Navigator
from navigation.records import FRAME_COLUMNS, frame_row
from navigation.sinks import FrameLogSink
from viewer.sink import ViewSink, view_state
from viewer.state import LatestState
from navloop_helpers import Scene, approach


def _outs(n=5, hidden=()):
    scene = Scene.make(41)
    frames, truth = approach(scene, n, hidden=hidden)
    nav = Navigator([scene.target], scene.T_mri_from_head, scene.T_coilbody_from_coil, 1.1,
                    clock=lambda: frames[-1].capture_ns)
    return [nav.update(f.poses, f.frame_number, f.capture_ns) for f in frames], truth


def test_frame_row_round_trips_the_pose_and_errors():
    outs, truth = _outs(3, hidden={1})
    r0, r1 = frame_row(outs[0]), frame_row(outs[1])
    assert set(r0) <= set(FRAME_COLUMNS)
    T = transform_from_pose([r0["tx_mm"], r0["ty_mm"], r0["tz_mm"]], [r0["qw"], r0["qx"], r0["qy"], r0["qz"]])
    np.testing.assert_allclose(T, truth[0], atol=1e-9)
    assert r0["distance_mm"] == outs[0].errors.distance_mm and r0["tilt_deg"] == outs[0].errors.tilt_deg
    assert r1["visible"] is False and "distance_mm" not in r1 and "tx_mm" not in r1


def test_view_state_and_view_sink_never_show_an_old_pose_as_current():
    outs, _ = _outs(4, hidden={3})
    s = view_state(outs[0], fre_mm=0.7, pulses_delivered=2)
    assert s.pose_is_current and s.fre_mm == 0.7 and s.pulses_delivered == 2
    assert abs(s.tilt_deg - outs[0].errors.tilt_deg) < 1e-12 and s.predicted_tre_mm == 1.1
    hidden = view_state(outs[3])
    assert not hidden.pose_is_current and math.isnan(hidden.distance_mm) and hidden.T_mri_from_coil is None
    latest = LatestState()
    sink = ViewSink(latest, 0.7)
    sink(outs[2])
    v1, st = latest.get()
    assert st.pose_is_current
    sink.stale(250_000_000)
    v2, st = latest.get()
    assert v2 == v1 + 1 and st.stale and not st.pose_is_current and not st.on_target and st.pose_age_ms == 250.0
    sink.status("source lost", "camera 0 unplugged")
    _, st = latest.get()
    assert st.stale and "camera 0 unplugged" in st.status


def test_frame_log_sink_writes_frames_and_timing_with_drop_counts(tmp_path):
    outs, _ = _outs(4)

    class LoopCounter:       # what FrameLogSink reads of a NavigationLoop: its drop counter
        class slot:
            dropped = 0

    sink = FrameLogSink(tmp_path / "frames.csv", tmp_path / "timing.csv")
    sink.loop = LoopCounter
    for k, o in enumerate(outs):
        LoopCounter.slot.dropped = 2 * k
        sink(o)
    sink.close()
    frames = read_log(tmp_path / "frames.csv", "frame")
    timing = read_log(tmp_path / "timing.csv", "timing")
    assert [r["frame"] for r in frames] == ["0", "1", "2", "3"]
    assert [r["dropped_before"] for r in timing] == ["0", "2", "2", "2"]
    assert all(float(r["latency_us"]) >= 0 for r in timing)
