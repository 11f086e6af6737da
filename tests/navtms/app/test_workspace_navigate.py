"""Navigate workspace, driven with recorded pose logs: the screen shows the loop's verdict in
words (tilt 4.2 deg under a 3 deg tolerance is not green and says why), refused pulses show their
reason, fired pulses are marked on the bullseye and in 3D, and the session gets its logs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from navcore.transforms import make_transform
from navigation.csvlog import read_log
from operator_helpers import hold_frames, sphere_session, write_frames
from navloop_helpers import rot

pytest.importorskip("pytestqt")


@pytest.fixture
def navigate(qtbot, tmp_path):
    from navtms.app.context import AppContext
    from navtms.app.workspaces.navigate import NavigateWorkspace

    s, scene = sphere_session(tmp_path)
    ctx = AppContext()
    ctx.set_session(s, s.folder)
    ws = NavigateWorkspace(ctx)
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    ws.show()
    ws.activated()
    yield ws, ctx, scene, tmp_path
    ws.shutdown()           # releases the GL windows now, while the X server is still there
    ws.close()
    ws.deleteLater()
    qtbot.wait(10)
    import gc
    gc.collect()


def test_tilt_beyond_tolerance_is_not_green_and_says_why_and_pulses_are_refused(navigate, qtbot):
    from navtms.app.views.navigation_view import GREEN

    ws, ctx, scene, tmp = navigate
    T_tilted = scene.target.T_mri_from_coil @ make_transform(rot([1, 0, 0], math.radians(4.2)), [0, 0, 0])
    write_frames(tmp / "tilted.csv", hold_frames(scene, T_tilted, n=400, fps=200.0))
    assert ws.step_status().value == "ready"
    assert ws.start(f"poses:{tmp / 'tilted.csv'}")
    qtbot.waitUntil(lambda: ws.view is not None and ws.view.state.pose_is_current, timeout=10000)
    st = ws.view.state
    assert not st.on_target and abs(st.tilt_deg - 4.2) < 0.05 and st.distance_mm < 0.5
    banner = ws.view.banner.text()
    assert "TILT 4.2 deg > 3.0 deg" in banner and "ON TARGET" not in banner.replace("NOT ON TARGET", "")
    assert GREEN not in ws.view.banner.styleSheet()
    assert ws.view.bullseye.state.grade != "on" and "TILT 4.2" in ws.view.bullseye.state.reason
    ws.pulse()                                            # lock to target: refused, and the screen says why
    assert "refused" in ws.last_refusal and "target" in ws.last_refusal
    qtbot.waitUntil(lambda: "last refused" in ws.view.status.text(), timeout=5000)
    assert "FRE" in ws.view.status.text() and "predicted TRE" in ws.view.status.text()
    # the recording ends: the last pose is no longer current and the screen says so
    qtbot.waitUntil(lambda: ws.view.banner.text().startswith("STALE"), timeout=20000)
    assert ws.view.bullseye.state.offset_xy_mm is None and GREEN not in ws.view.banner.styleSheet()
    ws.stop()
    rows = read_log(ctx.session.folder / "pulses.csv", "pulse")
    assert rows and rows[-1]["fired"] == "0" and rows[-1]["refusal"]


def test_on_target_pulses_are_marked_and_logged_in_the_session(navigate, qtbot):
    ws, ctx, scene, tmp = navigate
    T_near = scene.target.T_mri_from_coil @ make_transform(np.eye(3), [0.8, -0.5, 0.0])
    write_frames(tmp / "hold.csv", hold_frames(scene, T_near, n=1200, fps=200.0))
    ws.start(f"poses:{tmp / 'hold.csv'}")
    qtbot.waitUntil(lambda: ws.view is not None and ws.view.state.on_target, timeout=10000)
    assert ws.view.banner.text() == "ON TARGET"
    qtbot.waitUntil(lambda: ws.view.renders > 10, timeout=10000)
    assert ws.view.slices.renderers and 1 <= ws.view.slice_renders <= 3 < ws.view.renders   # held still: no slice redraws
    for _ in range(3):
        ws.pulse()
        qtbot.wait(60)
    qtbot.waitUntil(lambda: len(ws.view.bullseye.state.pulses) == 3, timeout=5000)
    marks = ws.view.bullseye.state.pulses
    assert all(m.fired and m.on_target for m in marks)
    for m in marks:                                       # where the coil was: 0.8 mm, -0.5 mm off the entry
        assert abs(m.x_mm - 0.8) < 0.3 and abs(m.y_mm + 0.5) < 0.3
    qtbot.waitUntil(lambda: len(ws.view._pulse_actors) == 3, timeout=5000)    # and in 3D
    ghost = ws.view.scene.ghost_actor                     # the ghost coil: whole, without handle, off
    whole_ymax = ghost.GetMapper().GetInput().GetBounds()[3]
    ws._next_ghost()
    assert ws.view.ghost_mode == "without handle" and ghost.GetVisibility()
    assert whole_ymax > 150.0 and ghost.GetMapper().GetInput().GetBounds()[3] < 45.0
    ws._next_ghost()
    assert ws.view.ghost_mode == "off" and not ghost.GetVisibility()
    ws.step_target(+1)                                    # next target: the loop switches too
    qtbot.waitUntil(lambda: ws.view.state.active_target == ctx.session.targets[1].name, timeout=5000)
    assert not ws.view.state.on_target and not ghost.GetVisibility()     # the ghost stays off
    ws.stop()
    assert ws.step_status().value == "done"
    frames = read_log(ctx.session.folder / "frames.csv", "frame")
    pulses = read_log(ctx.session.folder / "pulses.csv", "pulse")
    assert len(frames) > 50 and sum(r["fired"] == "1" for r in pulses) == 3
