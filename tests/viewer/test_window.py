"""viewer.window: the interactive window (offscreen EGL here), key callbacks, latest-value
polling, snapshots written atomically."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from navcore.errors import InputFileError
from viewer.state import LatestState, ViewState
from viewer.window import NavigationWindow, render_offscreen, save_snapshot
from viewer_synth import coil_blue_mask, live_state, synthetic_spec

SIZE = (400, 300)


@pytest.fixture(scope="module")
def spec():
    return synthetic_spec(with_mri=False)


def _press(win, key):
    win.interactor.SetKeySym(key)
    win.interactor.SetKeyCode(key if len(key) == 1 else "\0")
    win.interactor.InvokeEvent("CharEvent")


def test_keys_call_callbacks_and_q_closes(spec):
    win = NavigationWindow(spec, LatestState(), size=SIZE, offscreen=True)
    calls = []
    win.on_key("p", lambda: calls.append("pulse"))
    win.on_key("n", lambda: calls.append("next"))
    _press(win, "p")
    _press(win, "n")
    _press(win, "p")
    _press(win, "w")          # VTK's wireframe key is switched off
    assert calls == ["pulse", "next", "pulse"]
    props = win.layout.scene.scalp_actor.GetProperty()
    assert props.GetRepresentation() == vtk.VTK_SURFACE
    _press(win, "q")
    assert win.closed


def test_timer_renders_only_new_states_latest_wins(spec):
    latest = LatestState()
    win = NavigationWindow(spec, latest, size=SIZE, offscreen=True)
    try:
        assert not win.poll()                     # nothing yet
        latest.put(live_state(spec, dx_mm=1.0))
        latest.put(live_state(spec, dx_mm=9.0))   # overwrites, never queued
        win.interactor.InvokeEvent("TimerEvent")
        assert win.renders == 1
        m = win.layout.scene.live_coil_actor.GetUserMatrix()
        T = spec.target("L-DLPFC").T_mri_from_coil
        assert np.allclose([m.GetElement(i, 3) for i in range(3)], T[:3, 3] + 9.0 * T[:3, 0])
        assert not win.poll() and win.renders == 1   # same version: no render
        # a producer thread putting states while the viewer polls
        def produce():
            for i in range(200):
                latest.put(live_state(spec, dx_mm=i % 10))
        th = threading.Thread(target=produce)
        th.start()
        while th.is_alive():
            win.poll()
        th.join()
        win.poll()
        version, last = latest.get()
        assert version == 202 and win._last_state is last
    finally:
        win.close()


def test_callable_state_source(spec):
    states = [live_state(spec), live_state(spec)]
    win = NavigationWindow(spec, lambda: states[-1], size=SIZE, offscreen=True)
    try:
        assert win.poll() and not win.poll()
        states.append(live_state(spec, dx_mm=2.0))
        assert win.poll()
    finally:
        win.close()


def test_render_offscreen_shape_and_coil(spec):
    img = render_offscreen(spec, live_state(spec), SIZE)
    assert img.shape == (SIZE[1], SIZE[0], 3) and img.dtype == np.uint8
    assert coil_blue_mask(img).sum() > 50
    img2 = render_offscreen(spec, ViewState(), SIZE)
    assert coil_blue_mask(img2).sum() == 0


def test_save_snapshot_png_matches_render(spec, tmp_path):
    path = tmp_path / "shot.png"
    state = live_state(spec)
    save_snapshot(path, spec, state, SIZE)
    r = vtk.vtkPNGReader()
    r.SetFileName(str(path))
    r.Update()
    w, h, _ = r.GetOutput().GetDimensions()
    png = vtk_to_numpy(r.GetOutput().GetPointData().GetScalars()).reshape(h, w, -1)[::-1, :, :3]
    assert (w, h) == SIZE
    assert np.array_equal(png, render_offscreen(spec, state, SIZE))
    assert [p.name for p in tmp_path.iterdir()] == ["shot.png"]      # no temp file left


def test_save_snapshot_into_missing_folder_raises(spec, tmp_path):
    with pytest.raises(InputFileError, match="folder does not exist"):
        save_snapshot(tmp_path / "nope" / "shot.png", spec, ViewState(), SIZE)
