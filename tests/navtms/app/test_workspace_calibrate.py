"""Calibrate workspace, driven as an operator would with recorded pose logs (pytest-qt):
live lights, pivot with progress and its result against the true tip, coil touches against
the true coil frame, refusals, and nothing saved before Accept."""
from __future__ import annotations

import numpy as np
import pytest

from navcore.transforms import invert, make_transform
from navtms.session import load_session
from operator_helpers import POINTER_TIP_MM, pivot_frames, tool_session, touch_frames, write_frames
from navloop_helpers import Scene, rot

pytest.importorskip("pytestqt")


@pytest.fixture
def calibrate(qtbot, tmp_path):
    from navtms.app.context import AppContext
    from navtms.app.workspaces.calibrate import CalibrateWorkspace

    scene = Scene.make()
    s = tool_session(tmp_path / "s", [scene.target])
    ctx = AppContext()
    ctx.set_session(s, s.folder)
    ws = CalibrateWorkspace(ctx)
    qtbot.addWidget(ws)
    ws.activated()
    yield ws, ctx, tmp_path
    ws.shutdown()
    ctx.wait_idle(5000)


def test_pivot_finds_the_true_tip_and_reports_inliers_and_uncertainty(calibrate, qtbot):
    ws, ctx, tmp = calibrate
    pivot = np.array([20.0, -30.0, 550.0])
    write_frames(tmp / "pivot.csv", pivot_frames(pivot, n=240, slipped=set(range(100, 130))))
    assert ws.step_status().value == "ready" and "Connect" in ws.next_hint()
    assert ws.connect_source(f"poses:{tmp / 'pivot.csv'}")
    qtbot.waitUntil(lambda: ws.lights.states["pointer"] == "seen", timeout=5000)
    assert ws.lights.states["coil"] == "not seen"          # the coil is not in this recording
    ws.pivot_n.setValue(200)
    ws.start_pivot()
    qtbot.waitUntil(lambda: ws.pivot_ring.fraction > 0.2, timeout=5000)   # the ring fills while collecting
    qtbot.waitUntil(lambda: ws.pivot_result is not None, timeout=20000)
    res, unc, spread, n = ws.pivot_result
    assert np.linalg.norm(res.tip_tool - POINTER_TIP_MM) < 0.3
    frac = float(np.mean(res.inliers))
    assert 0.75 < frac < 0.95                               # the slipped poses are outliers
    assert 0.0 < unc < 0.3 and spread > 10.0
    assert "inlier fraction" in ws.pivot_label.text() and "uncertainty" in ws.pivot_label.text()
    assert load_session(ctx.session_dir).pointer_tip_mm is None      # nothing saved before Accept
    ws.accept_pivot()
    np.testing.assert_allclose(load_session(ctx.session_dir).pointer_tip_mm, res.tip_tool)


def test_pivot_without_rotation_is_refused_with_the_reason(calibrate, qtbot):
    ws, ctx, tmp = calibrate
    write_frames(tmp / "still.csv", pivot_frames([0, 0, 500.0], n=120, swing_deg=0.5))
    ws.connect_source(f"poses:{tmp / 'still.csv'}")
    ws.pivot_n.setValue(60)
    ws.start_pivot()
    qtbot.waitUntil(lambda: "refused" in ws.pivot_label.text(), timeout=20000)
    assert "rotated" in ws.pivot_label.text() and ws.pivot_result is None


def test_coil_touches_give_the_true_coil_frame_and_a_moving_pointer_is_refused(calibrate, qtbot):
    ws, ctx, tmp = calibrate
    s = ctx.session.with_(pointer_tip_mm=POINTER_TIP_MM)
    s.save()
    ctx.set_session(s, s.folder)
    T_true = make_transform(rot([1, 0.2, 0], 0.4), [3.0, -38.0, 50.0])     # T_coilbody_from_coil
    pts = {"centre": [0, 0, 0], "handle": [0, 35.0, 0], "side": [30.0, 4.0, 0]}   # coil frame, mm
    T_cam_coil = make_transform(rot([0, 1, 0.3], 0.5), [40.0, 10.0, 520.0])
    for name, p in pts.items():
        pb = (T_true @ np.r_[p, 1.0])[:3]
        write_frames(tmp / f"{name}.csv", touch_frames(pb, "coil", T_cam_coil, n=80))
    write_frames(tmp / "moving.csv", touch_frames((T_true @ np.r_[0, 0, 0, 1.0])[:3], "coil", T_cam_coil,
                                                  n=80, jitter_mm=6.0))
    ws.connect_source(f"poses:{tmp / 'moving.csv'}")
    ws.sample_coil_point()
    qtbot.waitUntil(lambda: "refused" in ws.coil_label.text(), timeout=10000)
    assert "moved" in ws.coil_label.text() and "centre" not in ws.coil_points
    for name in ("centre", "handle", "side"):
        assert ws._next_coil_point() == name and ws.coil_picture.current == name
        ws.connect_source(f"poses:{tmp / f'{name}.csv'}")
        ws.sample_coil_point()
        qtbot.waitUntil(lambda: name in ws.coil_points and ws._task is None, timeout=10000)
        assert ws.samples == [20, 20]                            # the count the screen showed while sampling
    assert ws.coil_T is not None
    np.testing.assert_allclose(ws.coil_T[:3, 3], T_true[:3, 3], atol=0.3)
    R_err = invert(ws.coil_T)[:3, :3] @ T_true[:3, :3]
    assert np.degrees(np.arccos(np.clip((np.trace(R_err) - 1) / 2, -1, 1))) < 1.0
    ws.accept_coil()
    assert ws.step_status().value == "done"
    np.testing.assert_allclose(load_session(ctx.session_dir).T_coilbody_from_coil, ws.coil_T)
    # retake: the selected point goes back to the list of points to touch
    ws.coil_list.setCurrentRow(1)
    ws.retake_coil_point()
    assert ws._next_coil_point() == "handle" and ws.coil_T is None
