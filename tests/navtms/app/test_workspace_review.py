"""Review workspace: a run's logs replayed with play / pause / seek / speed; what is shown at a
time is the logged frame at that time; pulses appear as they happen, refusals with their reason."""
from __future__ import annotations

import math

import numpy as np
import pytest

from navigation.csvlog import read_log
from operator_helpers import write_run
from navloop_helpers import Scene

pytest.importorskip("pytestqt")


@pytest.fixture
def review(qtbot, tmp_path):
    from navtms.app.context import AppContext
    from navtms.app.workspaces.review import ReviewWorkspace

    ctx = AppContext()
    ws = ReviewWorkspace(ctx)
    qtbot.addWidget(ws)
    ws.activated()
    yield ws
    ws.shutdown()


def test_seek_shows_the_logged_frame_and_the_pulses_so_far(review, tmp_path):
    ws = review
    frames, times = write_run(tmp_path / "run", Scene.make(1))
    rows = read_log(tmp_path / "run" / "frames.csv", "frame")
    pulses = read_log(tmp_path / "run" / "pulses.csv", "pulse")
    assert not ws.load(tmp_path / "nothing") and "cannot open" in ws.path_label.text()
    assert ws.load(tmp_path / "run") and ws.step_status().value == "done"
    t0 = frames[0].capture_ns
    for i in (30, 150, 235):                        # a frame between two others: the earlier one is shown
        ws.seek((frames[i].capture_ns - t0) / 1e9 + 0.3 / 120)
        st = ws.bullseye.state
        assert st.offset_xy_mm == pytest.approx((float(rows[i]["offset_x_mm"]), float(rows[i]["offset_y_mm"])))
        assert f"frame {i}" in st.title
        if rows[i]["on_target"] == "0":               # the loop's words, from the run's one Tolerances
            d = float(rows[i]["distance_mm"])
            assert (f"DISTANCE {d:.1f} mm > 3.0 mm" in st.reason) == (d > 3.0)
        # every pulse requested up to now is on the bullseye, none after
        assert len(st.pulses) == sum(t <= frames[i].capture_ns + 0.3e9 / 120 for t in times)
    ws.seek((frames[110].capture_ns - t0) / 1e9)     # coil hidden there: no dot, the words say why
    assert ws.bullseye.state.offset_xy_mm is None and ws.bullseye.state.reason == "COIL NOT VISIBLE"
    refused = [r for r in pulses if r["fired"] == "0"]
    assert refused, "lock to target must refuse the early pulse"
    ws.seek(ws.run.duration_s)
    assert "last refusal" in ws.readout.text() and refused[-1]["refusal"] in ws.readout.text()
    assert f"{sum(r['fired'] == '0' for r in pulses)} refused" in ws.summary.text()


def test_play_advances_on_the_recorded_clock_at_the_chosen_speed(review, tmp_path, qtbot):
    ws = review
    write_run(tmp_path / "run", Scene.make(2), n=600)      # 5 s at 120 fps
    ws.load(tmp_path / "run")
    ws.set_speed(2.0)
    ws.play()
    qtbot.wait(500)
    ws.pause()
    t_fast = ws.t_s
    assert 0.5 < t_fast < 1.6                               # ~1 s of run in 0.5 s of wall time
    qtbot.wait(200)
    assert ws.t_s == t_fast                                 # paused: nothing moves
    ws.set_speed(8.0)
    ws.play()
    qtbot.waitUntil(lambda: not ws.playing, timeout=5000)   # stops at the end
    assert ws.t_s == pytest.approx(ws.run.duration_s)
    assert ws.slider.value() == ws.slider.maximum()
    ws.timeline.seek.emit(1.0)
    assert ws.t_s == pytest.approx(1.0) and math.isclose(ws.timeline.cursor_s, 1.0)


def test_3d_replay_shows_the_logged_pose_verdict_and_pulses(review, tmp_path, qtbot):
    from navcore.transforms import transform_from_pose
    from operator_helpers import sphere_session

    ws = review
    s, scene = sphere_session(tmp_path)
    ws.ctx.set_session(s, s.folder)
    frames, times = write_run(tmp_path / "run", scene, n=240, lock=False)
    rows = read_log(tmp_path / "run" / "frames.csv", "frame")
    ws.load(tmp_path / "run")
    ws.show()
    ws.tabs.setCurrentWidget(ws.view3d_page)
    t0 = frames[0].capture_ns
    pulse_rows = read_log(tmp_path / "run" / "pulses.csv", "pulse")
    for i in (230, 40, 150):                            # seeking back drops the later pulses again
        ws.seek((frames[i].capture_ns - t0) / 1e9)
        st = ws.view3d.state
        r = rows[i]
        T = transform_from_pose([float(r[k]) for k in ("tx_mm", "ty_mm", "tz_mm")],
                                [float(r[k]) for k in ("qw", "qx", "qy", "qz")])
        np.testing.assert_allclose(st.T_mri_from_coil, T)
        assert st.on_target == (r["on_target"] == "1") and st.limits.distance_mm == 3.0
        fired = [p for p, t in zip(pulse_rows, times) if t <= frames[i].capture_ns and p["fired"] == "1"]
        assert st.pulses_delivered == len(fired)
        assert len(ws.view3d._pulse_actors) == sum(bool(p["tx_mm"]) for p in fired)   # those with a pose
        if not st.on_target:
            assert st.off_target_reasons and ws.view3d.banner.text().startswith("NOT ON TARGET")
    ws.shutdown()
