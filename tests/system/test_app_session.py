"""A whole session driven through the workbench (pytest-qt, the main window) with recorded pose
logs: pointer pivot, coil touches, fiducials with one refused and retaken, head points,
navigation with pulses; then the same recordings through the CLI (`navtms session calibrate /
register`, `navtms navigate`). Both write the same session files, with the same calibration and
registration. The recordings are noise-free, so both paths must agree to rounding."""
from __future__ import annotations

import builtins
import math

import numpy as np
import pytest

from navcore.points import read_points
from navcore.transforms import apply, invert, make_transform
from navigation.csvlog import read_log
from navtms.cli import main
from navtms.session import load_session
from operator_helpers import (POINTER_TIP_MM, hold_frames, pivot_frames, sweep_frames, touch_frames, write_frames)
from navloop_helpers import Scene, rot

pytest.importorskip("pytestqt")

T_REG = make_transform(rot([0.2, 0.1, 1.0], 0.7), [10.0, -20.0, 30.0])          # true T_mri_from_head
T_CAL = make_transform(rot([1, 0.2, 0], 0.4), [3.0, -38.0, 50.0])               # true T_coilbody_from_coil
T_CAM_COIL = make_transform(rot([0, 1, 0.3], 0.5), [40.0, 10.0, 520.0])
COIL_POINTS = {"centre": [0, 0, 0], "handle": [0, 35.0, 0], "side": [30.0, 4.0, 0]}   # coil frame, mm


def _recordings(tmp, plan):
    """Pose logs of each step (noise-free), separately for the app and concatenated for the CLI."""
    rec = {}
    rec["pivot"] = pivot_frames([20.0, -30.0, 550.0], n=150, noise_mm=0.0)
    for name, p in COIL_POINTS.items():
        rec[f"coil_{name}"] = touch_frames(apply(T_CAL, np.array(p, float)), "coil", T_CAM_COIL, n=20, jitter_mm=0.0)
    fids = plan.fiducials
    rec["moving"] = touch_frames(apply(invert(T_REG), fids[fids.names[0]]), "head", n=20, jitter_mm=5.0, seed=9)
    for i, n in enumerate(fids.names):
        rec[f"fid_{n}"] = touch_frames(apply(invert(T_REG), fids[n]), "head", n=20, jitter_mm=0.0, seed=i)
    rng = np.random.default_rng(4)
    d = rng.normal(size=(400, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = 90.0 * d[d[:, 2] > 0.2][:100]
    rec["sweep"] = sweep_frames(apply(invert(T_REG), pts))
    scene = Scene(T_REG, T_CAL, plan.targets[0])
    T_near = plan.targets[0].T_mri_from_coil @ make_transform(np.eye(3), [0.6, -0.4, 0.0])
    rec["nav"] = hold_frames(scene, T_near, n=900, fps=300.0)
    files = {}
    for k, frames in rec.items():
        files[k] = write_frames(tmp / f"{k}.csv", frames)
    # the CLI reads one source per command: the steps one after the other (renumbered frames)
    def cat(name, keys):
        from tracking.types import BodyPose

        out, i = [], 0
        for k in keys:
            for fr in rec[k]:
                out.append({b: BodyPose(b, i, 10**9 + i * 2_500_000, p.visible, p.T_camera_from_body, p.tags_seen,
                                        p.tags_total, p.rms_px) for b, p in fr.items()})
                i += 1
        return write_frames(tmp / f"{name}.csv", out)
    files["cli_calibrate"] = cat("cli_calibrate", ["pivot", "coil_centre", "coil_handle", "coil_side"])
    files["cli_register"] = cat("cli_register", ["moving"] + [f"fid_{n}" for n in fids.names] + ["sweep"])
    return files


def _new_session(folder, plan_dir):
    assert main(["session", "new", str(folder), "--plan", str(plan_dir), "--lock-to-target"]) == 0
    return folder


def _app_session(qtbot, session_dir, files, plan):
    from navtms.app.shell import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    assert win.open_path(session_dir)
    ctx = win.ctx
    # Calibrate: pivot, then the three coil touches
    win.show_workspace("calibrate")
    cal = win.workspaces["calibrate"]
    assert cal.connect_source(f"poses:{files['pivot']}")
    cal.start_pivot()
    qtbot.waitUntil(lambda: cal.pivot_result is not None, timeout=60000)
    cal.accept_pivot()
    for name in ("centre", "handle", "side"):
        cal.connect_source(f"poses:{files[f'coil_{name}']}")
        cal.sample_coil_point()
        qtbot.waitUntil(lambda: name in cal.coil_points and cal._task is None, timeout=30000)
    cal.accept_coil()
    assert cal.step_status().value == "done"
    # Register: the first fiducial refused (pointer moving), retaken; head points; accept
    win.show_workspace("register")
    reg = win.workspaces["register"]
    first = plan.fiducials.names[0]
    reg.connect_source(f"poses:{files['moving']}")
    reg.sample_fiducial()
    qtbot.waitUntil(lambda: reg._task is None and reg.attempt.entry(first).state.value == "refused", timeout=30000)
    for n in plan.fiducials.names:
        reg.connect_source(f"poses:{files[f'fid_{n}']}")
        reg.sample_fiducial()
        qtbot.waitUntil(lambda: reg._task is None and reg.attempt.entry(n).state.value == "collected", timeout=30000)
    reg.connect_source(f"poses:{files['sweep']}")
    reg.hp_n.setValue(100)
    reg.toggle_sweep()
    qtbot.waitUntil(lambda: reg._task is None and len(reg.attempt.head_points) == 100, timeout=60000)
    reg.fit()
    qtbot.waitUntil(lambda: reg.attempt.result is not None, timeout=60000)
    assert reg.attempt.result.accepted
    reg.accept()
    assert ctx.session.registration is not None
    # Navigate: hold on target, three pulses
    win.show_workspace("navigate")
    nav = win.workspaces["navigate"]
    assert nav.start(f"poses:{files['nav']}")
    qtbot.waitUntil(lambda: nav.view is not None and nav.view.state.on_target, timeout=30000)
    for _ in range(3):
        nav.pulse()
        qtbot.wait(80)
    qtbot.waitUntil(lambda: len(nav.run.pulses.samples) == 3, timeout=10000)
    nav.stop()
    win.show_workspace("review")
    for w in win.workspaces.values():
        w.shutdown()
    win.close()


def _cli_session(session_dir, files, monkeypatch):
    answers = iter([""] * 20)
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    assert main(["session", "calibrate", str(session_dir), "--source", f"poses:{files['cli_calibrate']}",
                 "--pivot", "--coil"]) == 0
    answers = iter([""] * 20)
    assert main(["session", "register", str(session_dir), "--source", f"poses:{files['cli_register']}",
                 "--head-points", "100"]) == 0
    assert main(["navigate", "--session", str(session_dir), "--source", f"poses:{files['nav']}", "--headless",
                 "--no-keys", "--protocol", "3,10,1,1,1.0"]) == 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_whole_session_in_the_app_writes_what_the_cli_writes(tmp_path, qtbot, monkeypatch):
    from course_helpers import make_sphere_plan
    from targets.plan import load_plan

    plan_dir, _ = make_sphere_plan(tmp_path / "planroot")
    plan = load_plan(plan_dir, checksum="skip")
    files = _recordings(tmp_path, plan)
    app_dir = _new_session(tmp_path / "app_session", plan_dir)
    cli_dir = _new_session(tmp_path / "cli_session", plan_dir)
    _app_session(qtbot, app_dir, files, plan)
    _cli_session(cli_dir, files, monkeypatch)

    a, c = load_session(app_dir), load_session(cli_dir)
    assert sorted(p.name for p in app_dir.iterdir()) == sorted(p.name for p in cli_dir.iterdir())
    assert {"session.json", "fiducials_head.csv", "head_points.csv", "frames.csv", "timing.csv",
            "pulses.csv"} <= {p.name for p in app_dir.iterdir()}
    # calibration and registration: the truth, and the same in both paths
    np.testing.assert_allclose(a.pointer_tip_mm, POINTER_TIP_MM, atol=1e-6)
    np.testing.assert_allclose(a.pointer_tip_mm, c.pointer_tip_mm, atol=1e-6)
    np.testing.assert_allclose(a.T_coilbody_from_coil, T_CAL, atol=1e-6)
    np.testing.assert_allclose(a.T_coilbody_from_coil, c.T_coilbody_from_coil, atol=1e-9)
    ra, rc = a.registration, c.registration
    assert ra.method == rc.method == "paired-point+icp" and ra.names == rc.names
    np.testing.assert_allclose(ra.T_mri_from_head, rc.T_mri_from_head, atol=1e-6)
    # the truth, to what a faceted 90 mm sphere scalp allows the surface fit (its facets sag ~1 mm)
    np.testing.assert_allclose(ra.T_mri_from_head[:3, :3], T_REG[:3, :3], atol=0.01)
    np.testing.assert_allclose(ra.T_mri_from_head[:3, 3], T_REG[:3, 3], atol=0.5)
    assert ra.fre_mm == pytest.approx(rc.fre_mm, abs=1e-6)
    for k in ra.predicted_tre_mm:
        assert ra.predicted_tre_mm[k] == pytest.approx(rc.predicted_tre_mm[k], abs=1e-6)
    fa, fc = read_points(app_dir / "fiducials_head.csv", frame="head"), read_points(cli_dir / "fiducials_head.csv", frame="head")
    assert fa.names == fc.names == plan.fiducials.names
    np.testing.assert_allclose(fa.positions, fc.positions, atol=1e-9)
    ha = read_points(app_dir / "head_points.csv", frame="head").positions
    hc = read_points(cli_dir / "head_points.csv", frame="head").positions
    assert len(ha) == len(hc) == 100                     # the same points (the app's sweep began elsewhere)
    np.testing.assert_allclose(np.array(sorted(map(tuple, ha))), np.array(sorted(map(tuple, hc))), atol=1e-9)
    # the navigation logs: same layout, pulses fired on target in both
    for name, kind in (("frames.csv", "frame"), ("timing.csv", "timing"), ("pulses.csv", "pulse")):
        la = (app_dir / name).read_text().splitlines()[:2]
        lc = (cli_dir / name).read_text().splitlines()[:2]
        assert la == lc, name
    for d in (app_dir, cli_dir):
        pulses = read_log(d / "pulses.csv", "pulse")
        assert len(pulses) == 3 and all(p["fired"] == "1" and p["on_target"] == "1" for p in pulses)
        frames = read_log(d / "frames.csv", "frame")
        # how many frames a paced run logs before it is stopped depends on the machine's speed; that
        # the frames each pulse took its pose from were logged, seen and finite does not
        logged = {r["frame"]: r for r in frames}
        for p in pulses:
            for k in ("frame_before", "frame_after"):
                assert p[k] in logged and logged[p[k]]["visible"] == "1", (d.name, k, p[k])
        assert all(math.isfinite(float(r["distance_mm"])) for r in frames if r["visible"] == "1")
