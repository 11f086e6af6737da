"""The Plan workspace's panel with real widgets: scalp-rule targets added in the worker with
their source, delete and reorder buttons, the live ghost coil while the dial turns, fiducial
pictures, and opening a session folder (its plan comes with it)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app_helpers import DLPFC, make_window, open_sample, wait_idle
from planning_helpers import planning_dir, surface_cache_dir  # noqa: F401
from targets.placement import handle_angle_of
from targets.planner import plan_axes


def _coil_matrix(ws) -> np.ndarray:
    m = ws.scene_view.scene.coil_actor.GetUserMatrix()
    return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])


@pytest.mark.slow
def test_scalp_rule_targets_buttons_and_live_ghost_coil(qtbot, tmp_path, surface_cache_dir):
    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    p = ws.panel
    # 10-20 F3 and Beam F3 (measured on the scalp) from the "add from" box, computed in the worker
    p.add_kind.setCurrentIndex(p.add_kind.findData("ten-twenty"))
    p.add_value.setCurrentText("F3")
    qtbot.mouseClick(p.btn_add, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, win)
    p.add_kind.setCurrentIndex(p.add_kind.findData("beam-f3"))
    p.add_value.setCurrentText("auto")
    qtbot.mouseClick(p.btn_add, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, win)
    plan = win.ctx.plan
    assert [t.name for t in plan.targets] == ["F3", "beam-f3"]
    f3, beam = plan.targets
    assert "10-20" in f3.source and "Beam" in beam.source and "Brain Stimulation" in beam.source
    assert f3.entry_method == beam.entry_method == "given"
    assert f3.entry_mri_mm[0] < 0 and beam.entry_mri_mm[0] < 0          # both on the left
    assert np.linalg.norm(f3.entry_mri_mm - beam.entry_mri_mm) < 40.0    # neighbours on the scalp
    # a click target, then reorder and delete with the buttons
    ws.add_target_at(DLPFC, "click")
    ws.select("click")
    qtbot.mouseClick(p.btn_up, Qt.MouseButton.LeftButton)
    assert [t.name for t in win.ctx.plan.targets] == ["F3", "click", "beam-f3"]
    ws.select("F3")
    qtbot.mouseClick(p.btn_delete, Qt.MouseButton.LeftButton)
    assert [t.name for t in win.ctx.plan.targets] == ["click", "beam-f3"]
    # while the dial turns the ghost coil follows it; nothing is an edit until it is released
    ws.select("click")
    before = win.ctx.plan
    count = win.undo_group.activeStack().count()
    p.dial.setSliderDown(True)
    p.dial.setValue(100)
    assert win.ctx.plan is before and win.undo_group.activeStack().count() == count
    assert abs(handle_angle_of(_coil_matrix(ws), plan_axes(before)) - 100.0) < 1e-6
    p.dial.setSliderDown(False)                       # emits sliderReleased: the one edit
    p.dial.sliderReleased.emit()                      # a second report of the same angle is no edit
    assert win.ctx.plan.target("click").handle_angle_deg == 100.0
    assert win.undo_group.activeStack().count() == count + 1
    np.testing.assert_allclose(_coil_matrix(ws), win.ctx.plan.target("click").T_mri_from_coil, atol=1e-9)


@pytest.mark.slow
def test_fiducial_pictures_and_open_session(qtbot, tmp_path, surface_cache_dir):
    from navtms.app.views.fiducial_picture import fiducial_picture
    from navtms.cli import main

    for k in ("nasion", "lpa", "rpa"):
        img = fiducial_picture(k, 72).toImage()
        assert img.width() == 72 and img.height() == 88
        red = sum(1 for x in range(72) for y in range(72) if img.pixelColor(x, y).red() > 200
                  and img.pixelColor(x, y).green() < 60)
        assert red > 10                                   # the point is marked
    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    ws.add_target_at(DLPFC, "L-DLPFC")
    assert win.save_plan(tmp_path / "plan") is not None
    assert main(["session", "new", str(tmp_path / "s"), "--plan", str(tmp_path / "plan")]) == 0
    win2 = make_window(qtbot, tmp_path, surface_cache_dir)
    assert win2.open_path(tmp_path / "s")
    assert win2.ctx.session is not None and win2.ctx.session_dir == (tmp_path / "s")
    assert [t.name for t in win2.ctx.plan.targets] == ["L-DLPFC"]
    assert win2.recent.items()[0]["kind"] == "session"
    wait_idle(qtbot, win2)
    assert not win2.open_path(tmp_path / "nothing-here")
    assert "not a plan folder" in win2.statusBar().currentMessage()


@pytest.mark.slow
def test_import_fiducials_is_one_edit_and_keys_scroll(qtbot, tmp_path, surface_cache_dir):
    from PySide6.QtCore import Qt as _Qt

    from navcore.points import NamedPoints, write_points

    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    ws.add_target_at(DLPFC, "t")
    before = win.ctx.plan
    f = write_points(tmp_path / "fid.csv", NamedPoints.from_dict(
        {"Nasion": [2.0, 100.0, -25.0], "LPA": [-75.0, 5.0, -50.0], "RPA": [70.0, 0.0, -50.0]}, "mri"))
    assert ws.import_fiducials(f)
    look = {n.lower(): np.asarray(win.ctx.plan.fiducials[n]) for n in win.ctx.plan.fiducials.names}
    np.testing.assert_allclose(look["nasion"], [2.0, 100.0, -25.0])
    assert abs(handle_angle_of(win.ctx.plan.target("t").T_mri_from_coil, plan_axes(win.ctx.plan)) - 45.0) < 1e-6
    win.act_undo.trigger()
    assert win.ctx.plan is before                       # the three fiducials were one edit
    assert not ws.import_fiducials(tmp_path / "missing.csv")
    ax = ws.slices[0]
    z = ax.cursor[2]
    ax.setFocus()
    qtbot.keyClick(ax.interactor, _Qt.Key.Key_Up)
    qtbot.keyClick(ax.interactor, _Qt.Key.Key_PageDown)
    assert ax.cursor[2] == pytest.approx(z + (1 - 10) * ax._step)          # one voxel per step (1.5 mm here)
