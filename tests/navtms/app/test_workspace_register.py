"""Register workspace, driven with recorded pose logs: fiducials in the plan's order, one refused
(pointer moving) and retaken, head points with coverage, the one pipeline's result (errors shown
even when refused, ICP residuals and bias), accept writes the session, discard changes nothing."""
from __future__ import annotations

import numpy as np
import pytest

from navcore.points import read_points
from navcore.transforms import apply, invert
from navtms.session import load_session
from operator_helpers import sphere_session, sweep_frames, touch_frames, write_frames

pytest.importorskip("pytestqt")


@pytest.fixture
def register(qtbot, tmp_path):
    from navtms.app.context import AppContext
    from navtms.app.workspaces.register import RegisterWorkspace

    s, scene = sphere_session(tmp_path)
    ctx = AppContext()
    ctx.set_session(s, s.folder)
    ws = RegisterWorkspace(ctx)
    qtbot.addWidget(ws)
    ws.resize(1300, 800)
    ws.show()
    ws.activated()
    yield ws, ctx, scene, tmp_path
    ws.shutdown()
    ws.close()
    ws.deleteLater()
    qtbot.wait(10)
    import gc
    gc.collect()


def _touch(ws, qtbot, path, name):
    ws.connect_source(f"poses:{path}")
    before = ws.fid_label.text()
    ws.sample_fiducial()
    qtbot.waitUntil(lambda: ws._task is None and ws.fid_label.text() != before, timeout=15000)


def _sphere_points(n, seed=0, radius=90.0):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(4 * n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d = d[d[:, 2] > 0.1][:n]
    return radius * d


def test_fiducials_refused_retaken_head_points_and_accept(register, qtbot):
    ws, ctx, scene, tmp = register
    T_reg = scene.T_mri_from_head
    fids = ws.plan.fiducials
    assert [e.name for e in ws.attempt.fiducials] == list(fids.names)      # the plan's order
    for i, name in enumerate(fids.names):
        p_head = apply(invert(T_reg), fids[name])
        write_frames(tmp / f"{name}.csv", touch_frames(p_head, "head", n=80, jitter_mm=0.2, seed=i))
    write_frames(tmp / "moving.csv", touch_frames(apply(invert(T_reg), fids[fids.names[0]]), "head", n=80,
                                                  jitter_mm=5.0))
    first = fids.names[0]
    assert ws.picture.current == first and first in ws.sample_button.text()
    _touch(ws, qtbot, tmp / "moving.csv", first)               # the pointer moved: refused, says why
    e = ws.attempt.entry(first)
    assert e.state.value == "refused" and "moved" in e.message and ws.attempt.next_pending() == first
    for name in fids.names:
        _touch(ws, qtbot, tmp / f"{name}.csv", name)
        assert ws.attempt.entry(name).state.value == "collected"
    # a wrong touch retaken: the others are kept
    ws.retake(fids.names[1])
    assert ws.attempt.next_pending() == fids.names[1] and ws.attempt.entry(fids.names[0]).state.value == "collected"
    _touch(ws, qtbot, tmp / f"{fids.names[1]}.csv", fids.names[1])
    # head points: sweep; the coverage and count are shown, the points land on the scalp
    pts_mri = _sphere_points(120)
    pts_mri[::8] *= 1.12                                       # every 8th lifted 10 mm off the scalp: outliers
    write_frames(tmp / "sweep.csv", sweep_frames(apply(invert(T_reg), pts_mri)))
    ws.connect_source(f"poses:{tmp / 'sweep.csv'}")
    ws.hp_n.setValue(110)
    ws.toggle_sweep()
    qtbot.waitUntil(lambda: ws._task is None, timeout=20000)
    assert len(ws.attempt.head_points) == 110
    qtbot.waitUntil(lambda: "covered" in ws.hp_label.text(), timeout=5000)
    ws.fit()
    qtbot.waitUntil(lambda: ws.attempt.result is not None, timeout=30000)
    r = ws.attempt.result
    assert r.accepted and r.icp is not None
    assert np.allclose(r.T_mri_from_b[:3, 3], T_reg[:3, 3], atol=1.0)
    text = ws.result_label.text()
    assert "signed bias" in text and "after ICP, fiducials" in text and "predicted TRE at" in text
    for n in fids.names:
        assert f"{n}: " in text                                 # per-fiducial errors
    assert len(r.icp.outliers) >= 10                           # at most 10 of the 120 were not swept
    assert all(r.icp.residuals_mm[n] > 8.0 for n in r.icp.outliers)
    before = load_session(ctx.session_dir).registration
    ws.accept()
    after = load_session(ctx.session_dir)
    assert after.registration.fre_mm == pytest.approx(r.fre_mm) and after.registration.fre_mm != before.fre_mm
    got = read_points(ctx.session_dir / "fiducials_head.csv", frame="head")
    assert got.names == fids.names
    assert len(read_points(ctx.session_dir / "head_points.csv", frame="head").names) == 110


def test_a_refused_fit_shows_every_fiducial_error_and_discard_keeps_the_accepted(register, qtbot):
    ws, ctx, scene, tmp = register
    T_reg = scene.T_mri_from_head
    fids = ws.plan.fiducials
    for i, name in enumerate(fids.names):
        p_head = apply(invert(T_reg), fids[name]) + (np.array([9.0, 0, 0]) if i == 0 else 0.0)   # one bad touch
        write_frames(tmp / f"{name}.csv", touch_frames(p_head, "head", n=80, jitter_mm=0.1, seed=i))
        _touch(ws, qtbot, tmp / f"{name}.csv", name)
    ws.fit()
    qtbot.waitUntil(lambda: ws.attempt.result is not None, timeout=30000)
    r = ws.attempt.result
    assert not r.accepted and "REFUSED" in ws.result_label.text()
    for n, err in r.fiducial_errors_mm.items():
        assert f"{n}: {err:.2f} mm" in ws.result_label.text()
    assert not ws.accept_button.isEnabled()
    before = load_session(ctx.session_dir).registration
    ws.accept()                                               # refused: nothing stored
    ws.discard()
    after = load_session(ctx.session_dir).registration
    np.testing.assert_array_equal(after.T_mri_from_head, before.T_mri_from_head)
    assert after.fre_mm == before.fre_mm and ws.attempt.next_pending() == fids.names[0]
