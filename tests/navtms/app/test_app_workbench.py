"""The workbench end to end with the real widgets (pytest-qt; Xvfb from pytest-xvfb):
a planner opens the sample head, clicks a left-DLPFC target, turns the handle, undoes and redoes,
saves; the saved plan equals `navtms plan` for the same inputs, reopens with the same targets,
and `navtms session new` takes it. Also: steps with done/next, progress bar and cancel, the
3D click on the brain, `navtms app` without a display."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app_helpers import DLPFC, click_at, make_window, open_sample, wait_idle
from navtms.app.worker import TaskState
from planning_helpers import SAMPLE_FIDUCIALS, SAMPLE_MRI, planning_dir, surface_cache_dir  # noqa: F401
from targets.placement import handle_angle_of
from targets.planner import plan_axes, signed_distance_to_surface

REPO = Path(__file__).resolve().parents[3]


def _plan_json(folder: Path) -> dict:
    obj = json.loads((folder / "plan.json").read_text())
    obj.pop("created_utc")
    return obj


def test_steps_before_and_after_a_plan(qtbot, tmp_path, surface_cache_dir):
    win = make_window(qtbot, tmp_path, surface_cache_dir)
    states = win.step_states()
    assert [k for k, _, _ in states] == ["plan", "calibrate", "register", "navigate", "review"]
    assert states[0][1] == "next" and "MRI" in states[0][2]
    assert "Open a T1 MRI" in win.hint.text()
    assert win.steps.item(0).text().endswith("\u25b6 next")


@pytest.mark.slow
def test_plan_click_handle_undo_redo_save_equals_cli_and_reopens(qtbot, tmp_path, surface_cache_dir):
    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    ctx, panel = win.ctx, ws.panel
    plans = [ctx.plan]
    # click a left-DLPFC target in the axial slice with the target tool
    qtbot.mouseClick(panel.tool_buttons["target"], Qt.MouseButton.LeftButton)
    ax = ws.slices[0]
    ax.set_cursor(DLPFC + [10.0, 10.0, 0.0])           # the axial slice through the spot
    click_at(qtbot, ax, DLPFC)
    assert len(ctx.plan.targets) == 1
    t = ctx.plan.targets[0]
    assert np.linalg.norm(t.target_mri_mm - DLPFC) <= 0.5          # a third of a 1.5 mm voxel
    plans.append(ctx.plan)
    # the handle: 90 deg by the spin box, back to 45 deg by the dial
    panel.angle.setValue(90.0)
    assert ctx.plan.targets[0].handle_angle_deg == 90.0
    plans.append(ctx.plan)
    panel.dial.setValue(45)
    t = ctx.plan.targets[0]
    assert t.handle_angle_deg == 45.0
    assert handle_angle_of(t.T_mri_from_coil, plan_axes(ctx.plan)) == pytest.approx(45.0, abs=1e-6)
    plans.append(ctx.plan)
    # rename in the list
    item = panel.target_list.item(0)
    item.setText("L-DLPFC")
    assert [x.name for x in ctx.plan.targets] == ["L-DLPFC"]
    plans.append(ctx.plan)
    # a fiducial by clicking (nasion tool) and a target dragged in the coronal slice
    qtbot.mouseClick(panel.tool_buttons["nasion"], Qt.MouseButton.LeftButton)
    co = ws.slices[1]
    nasion = np.asarray(ctx.plan.fiducials["nasion"], dtype=float)
    co.set_cursor(nasion + [3.0, 0.0, 12.0])
    click_at(qtbot, co, nasion + [10.0, 0.0, 0.0])
    assert np.linalg.norm(np.asarray(ctx.plan.fiducials["nasion"]) - (nasion + [10.0, 0.0, 0.0])) <= 0.5
    plans.append(ctx.plan)
    qtbot.mouseClick(panel.tool_buttons["browse"], Qt.MouseButton.LeftButton)
    co.set_cursor(ctx.plan.targets[0].target_mri_mm)
    x, y = co.mri_to_display(ctx.plan.targets[0].target_mri_mm)
    qtbot.mousePress(co.interactor, Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))
    qtbot.mouseMove(co.interactor, QPoint(int(x) + 12, int(y) + 6))
    qtbot.mouseRelease(co.interactor, Qt.MouseButton.LeftButton, pos=QPoint(int(x) + 12, int(y) + 6))
    assert ctx.plan is not plans[-1] and "Moved" not in ctx.plan.targets[0].notes   # a click is not a library target
    plans.append(ctx.plan)
    # undo every edit: each step restores exactly the plan before it; redo replays them
    for i in range(len(plans) - 1, 0, -1):
        win.act_undo.trigger()
        assert ctx.plan is plans[i - 1]
    assert not win.act_undo.isEnabled()
    for i in range(1, len(plans)):
        win.act_redo.trigger()
        assert ctx.plan is plans[i]
    # back to the state before the fiducial change, and save
    win.act_undo.trigger()
    win.act_undo.trigger()
    assert ctx.plan is plans[4]
    app_dir = tmp_path / "app_plan"
    assert win.save_plan(app_dir) == app_dir / "plan.json"
    assert dict((k, s) for k, s, _ in win.step_states())["plan"] == "done"
    # `navtms plan` with the same inputs writes the same plan
    from navtms.cli import main

    t = ctx.plan.targets[0]
    csv = tmp_path / "targets.csv"
    csv.write_text("name,x_mm,y_mm,z_mm\n" + "L-DLPFC," + ",".join(repr(float(v)) for v in t.target_mri_mm) + "\n")
    cli_dir = tmp_path / "cli_plan"
    assert main(["plan", str(SAMPLE_MRI), "--targets-file", str(csv), "--fiducials", str(SAMPLE_FIDUCIALS),
                 "--handle-angle", "45", "--cache-dir", str(surface_cache_dir), "--out", str(cli_dir)]) == 0
    assert _plan_json(app_dir) == _plan_json(cli_dir)
    for name in ("scalp.npz", "brain.npz", "targets.csv", "targets.mrk.json", "entries.mrk.json", "fiducials.mrk.json"):
        a, b = app_dir / name, cli_dir / name
        if name.endswith(".npz"):
            with np.load(a) as za, np.load(b) as zb:
                for k in ("vertices", "faces"):
                    np.testing.assert_array_equal(za[k], zb[k])
        else:
            assert a.read_bytes() == b.read_bytes(), name
    # a new window opens the saved plan and shows the same targets
    win2 = make_window(qtbot, tmp_path, surface_cache_dir)
    assert win2.open_path(app_dir / "plan.json")
    ws2 = win2.workspaces["plan"]
    qtbot.waitUntil(lambda: ws2.mri is not None, timeout=60_000)
    wait_idle(qtbot, win2)
    names = [ws2.panel.target_list.item(i).text() for i in range(ws2.panel.target_list.count())]
    assert names == ["L-DLPFC"]
    got = win2.ctx.plan.targets[0]
    np.testing.assert_array_equal(got.T_mri_from_coil, t.T_mri_from_coil)
    np.testing.assert_array_equal(got.target_mri_mm, t.target_mri_mm)
    assert any(m.key == "target:L-DLPFC" for m in ws2.slices[0]._markers)
    assert win2.recent.items()[0] == {"kind": "plan", "path": str(app_dir.resolve())}
    # the CLI's session (what `navtms navigate` reads) takes the plan saved by the app
    from navtms.session import load_session

    assert main(["session", "new", str(tmp_path / "session"), "--plan", str(app_dir)]) == 0
    s = load_session(tmp_path / "session")
    assert [x.name for x in s.targets] == ["L-DLPFC"]
    np.testing.assert_allclose(s.targets[0].T_mri_from_coil, t.T_mri_from_coil)


def test_a_click_on_the_brain_in_3d_places_a_target_on_it(qtbot, tmp_path, surface_cache_dir):
    import vtk

    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    qtbot.mouseClick(ws.panel.tool_buttons["target"], Qt.MouseButton.LeftButton)
    sv = ws.scene_view
    sv.scene.reset_camera(view_dir=(-1.0, 0.3, 0.4))
    sv.render()
    plan = win.ctx.plan
    # a brain vertex facing the camera, projected by VTK's own camera model
    cam = sv.renderer.GetActiveCamera()
    to_cam = np.array(cam.GetPosition()) - plan.brain.vertices
    facing = np.einsum("ij,ij->i", plan.brain.normals, to_cam) / np.linalg.norm(to_cam, axis=1)
    v = plan.brain.vertices[np.argmax(facing * (plan.brain.vertices[:, 2] > 20))]
    c = vtk.vtkCoordinate()
    c.SetCoordinateSystemToWorld()
    c.SetValue(*v)
    dx, dy = c.GetComputedDoubleDisplayValue(sv.renderer)
    dpr = sv.devicePixelRatioF()
    h = sv.render_window.GetSize()[1]
    qtbot.mouseClick(sv.interactor, Qt.MouseButton.LeftButton, pos=QPoint(int(round(dx / dpr)), int(round((h - 1 - dy) / dpr))))
    assert len(win.ctx.plan.targets) == 1
    t = win.ctx.plan.targets[0].target_mri_mm
    assert abs(signed_distance_to_surface(plan.brain, t)) < 1.5      # on the (full-resolution) brain
    assert np.linalg.norm(t - v) < 4.0


def test_progress_bar_and_cancel(qtbot, tmp_path, surface_cache_dir):
    win = make_window(qtbot, tmp_path, surface_cache_dir)

    def slow(progress, cancelled):
        for i in range(2000):
            if cancelled():
                return None
            progress(i / 2000.0, "working")
            time.sleep(0.005)
        return "finished"

    task = win.ctx.run_in_worker("Slow job", slow)
    qtbot.waitUntil(lambda: win.progress.value() > 0, timeout=10_000)
    assert win.progress.isVisible() and win.cancel_button.isVisible() and win.task_label.text().startswith("Slow job")
    qtbot.mouseClick(win.cancel_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, win, 10_000)
    assert task.state is TaskState.CANCELLED
    assert not win.progress.isVisible()
    assert "cancelled" in win.statusBar().currentMessage()


def test_refused_edits_say_why_and_change_nothing(qtbot, tmp_path, surface_cache_dir):
    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    ws.add_target_at(DLPFC, "a")
    ws.add_target_at(DLPFC + [0.0, 10.0, 0.0], "b")
    before = win.ctx.plan
    ws.panel.target_list.item(1).setText("a")             # duplicate name
    assert win.ctx.plan is before
    assert "already has a target named" in win.statusBar().currentMessage()
    assert ws.add_from("mni", "1,2") is None and win.ctx.plan is before
    assert win.undo_group.activeStack().count() == 2


def test_app_without_display_says_so_in_one_sentence(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(REPO)
    r = subprocess.run([sys.executable, "-m", "navtms", "app"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0]
    r = subprocess.run([sys.executable, "-m", "navtms", "app", str(tmp_path / "missing")], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.slow
def test_library_target_via_mni_registration_in_the_worker(qtbot, tmp_path, surface_cache_dir):
    """Adding a library (MNI) target registers the MRI to MNI152 in the worker and places it as
    `navtms plan --target` does."""
    from navtms.cli import main

    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    task = ws.add_from("library", "dlpfc-fox2012")
    assert task is not None and win.progress.isVisible()
    wait_idle(qtbot, win, 600_000)
    assert task.state is TaskState.DONE
    app_t = win.ctx.plan.target("dlpfc-fox2012")
    assert win.ctx.plan.T_mri_from_mni is not None and app_t.mni_mm is not None
    win.save_plan(tmp_path / "app")
    assert main(["plan", str(SAMPLE_MRI), "--target", "dlpfc-fox2012", "--fiducials", str(SAMPLE_FIDUCIALS),
                 "--cache-dir", str(surface_cache_dir), "--out", str(tmp_path / "cli")]) == 0
    a, b = _plan_json(tmp_path / "app"), _plan_json(tmp_path / "cli")
    a.pop("mni_transform_source"), b.pop("mni_transform_source")          # holds the registration's seconds
    _assert_close(a, b, 1e-5)        # SimpleITK's threaded registration repeats to ~1e-8 mm, not bit for bit


def _assert_close(a, b, atol, where="plan"):
    """Same JSON structure and text; numbers equal within atol."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _assert_close(a[k], b[k], atol, f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, atol, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=atol, nan_ok=True), where
    else:
        assert a == b, where


def test_navtms_navigate_runs_on_the_plan_the_app_saved(qtbot, tmp_path, surface_cache_dir):
    """The 'done when' of the workbench: the plan clicked and saved in the app is navigated by
    the CLI; a recorded coil that arrives exactly on the planned pose ends on target (~0 mm)."""
    from navcore.transforms import invert
    from navigation.csvlog import read_log
    from navloop_helpers import Scene, Target, approach
    from navtms.cli import main
    from navtms.session import create_session
    from navtms.workflow import register_session
    from targets.plan import load_plan
    from tracking.poselog import PoseLogWriter

    win = make_window(qtbot, tmp_path, surface_cache_dir)
    ws = open_sample(qtbot, win)
    qtbot.mouseClick(ws.panel.tool_buttons["target"], Qt.MouseButton.LeftButton)
    ws.slices[0].set_cursor(DLPFC + [10.0, 10.0, 0.0])
    click_at(qtbot, ws.slices[0], DLPFC)
    ws.panel.dial.setValue(45)
    assert win.save_plan(tmp_path / "plan") is not None
    plan = load_plan(tmp_path / "plan")
    t = plan.targets[0]
    base = Scene.make(7)
    scene = Scene(base.T_mri_from_head, base.T_coilbody_from_coil, Target(t.name, t.target_mri_mm, t.T_mri_from_coil))
    frames, _ = approach(scene, 40)
    with PoseLogWriter(tmp_path / "poses.csv") as w:
        for f in frames:
            w.write_frame(f.poses)
    s = create_session(tmp_path / "session", plan.targets, plan=tmp_path / "plan",
                       T_coilbody_from_coil=scene.T_coilbody_from_coil)
    fid = plan.fiducials                                  # nasion, LPA, RPA in mri mm
    register_session(s, fid, fid.transformed(invert(scene.T_mri_from_head), "head"))
    assert main(["navigate", "--session", str(tmp_path / "session"), "--source", f"poses:{tmp_path / 'poses.csv'}",
                 "--headless", "--no-keys"]) == 0
    rows = read_log(tmp_path / "session" / "frames.csv", "frame")
    assert rows[-1]["frame"] == "39" and rows[-1]["target"] == t.name
    assert float(rows[-1]["distance_mm"]) < 0.01 and rows[-1]["on_target"] == "1"
    assert float(rows[0]["distance_mm"]) > 10.0
