"""SliceView in a real window (pytest-qt; Xvfb from pytest-xvfb when no display is set).

The truth is independent of the view's own geometry: a volume holds ONE bright voxel at a
known index; its mri position comes from the affine (nibabel's convention, oblique and sheared
affines included); the view draws it, the brightest spot of the drawn pixels is clicked with a
real mouse event, and the clicked point must lie within half a voxel of the voxel's centre.
"""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from navtms.app.views.slice_view import SliceView, link_crosshairs
from navcore.transforms import make_transform
from viewer.plan_scene import Marker

SHAPE = (40, 44, 36)
IJK = np.array([21.0, 19.0, 17.0])


def _rot(axis, deg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    a = np.deg2rad(deg)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


AFFINES = {
    "axis-aligned 1 mm": np.diag([1.0, 1.0, 1.0, 1.0]) + np.array([[0, 0, 0, -20], [0, 0, 0, -22], [0, 0, 0, -18], [0, 0, 0, 0]]),
    "oblique anisotropic": make_transform(_rot([0.3, -0.5, 0.8], 23.0) @ np.diag([0.9, 1.1, 1.3]), [-17.0, 12.0, -25.0]),
    "oblique sheared, flipped i": make_transform(_rot([1.0, 0.2, 0.1], -17.0) @ np.array([[-1.0, 0.15, 0.0], [0.0, 1.2, 0.1],
                                                                                     [0.0, 0.0, 1.0]]), [30.0, -8.0, 5.0]),
}


def _volume():
    v = np.zeros(SHAPE, np.float32)
    v[tuple(IJK.astype(int))] = 1000.0
    return v


def _show(qtbot, orientation, A):
    view = SliceView(orientation)
    qtbot.addWidget(view)
    view.resize(420, 400)
    view.show()
    qtbot.waitExposed(view)
    view.set_volume(_volume(), A)
    view.set_window_level(1000.0, 500.0)
    return view


def _bright_spot(view) -> tuple[float, float]:
    """Centre (x, y) in widget pixels of the brightest drawn pixels, searched in the middle 60 %
    of the view (the corner and edge texts stay out), grey pixels only."""
    rgb = view.snapshot_rgb().astype(float)
    img = np.where(np.abs(rgb[:, :, 0] - rgb[:, :, 2]) < 12, rgb.sum(axis=2), 0.0)   # grey only (not the amber crosshair)
    h, w = img.shape
    y0, y1, x0, x1 = int(0.2 * h), int(0.8 * h), int(0.2 * w), int(0.8 * w)
    sub = img[y0:y1, x0:x1]
    ys, xs = np.nonzero(sub >= 0.97 * sub.max())
    assert sub.max() > 150, "the bright voxel is not drawn"
    dpr = view.devicePixelRatioF()
    return (x0 + xs.mean() + 0.5) / dpr, (y0 + ys.mean() + 0.5) / dpr


@pytest.mark.parametrize("name", list(AFFINES))
@pytest.mark.parametrize("orientation", ["axial", "coronal", "sagittal"])
def test_click_gives_the_voxel_within_half_a_voxel(qtbot, name, orientation):
    A = AFFINES[name]
    p = A[:3, :3] @ IJK + A[:3, 3]                      # the voxel centre in mri mm (nibabel's meaning)
    half_voxel = 0.5 * np.linalg.norm(A[:3, :3], axis=0).min()
    view = _show(qtbot, orientation, A)
    # the slice through the voxel, crosshair moved aside in the plane (so it does not cover it)
    view.set_cursor(p + 8.0 * view.u + 6.0 * view.v)
    if name.startswith("oblique sheared"):
        view.zoom(1.7, view.mri_to_display(p))
        view.pan_px(25, -15)
    x, y = _bright_spot(view)
    with qtbot.waitSignal(view.clicked, timeout=3000) as sig:
        qtbot.mouseClick(view.interactor, Qt.MouseButton.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    got = np.asarray(sig.args[0])
    assert np.linalg.norm(got - p) <= half_voxel, (got, p)
    assert np.linalg.norm(view.cursor - got) < 1e-9          # the crosshair follows the click


def test_zoom_and_pan_never_rotate(qtbot):
    view = _show(qtbot, "coronal", AFFINES["oblique anisotropic"])
    cam = view.renderer.GetActiveCamera()
    before = view.display_to_mri(100, 100)
    view.zoom(2.0, (100, 100))
    np.testing.assert_allclose(view.display_to_mri(100, 100), before, atol=1e-9)   # zoom about the mouse
    q = view.display_to_mri(200, 200)
    qtbot.mousePress(view.interactor, Qt.MouseButton.MiddleButton, pos=QPoint(200, 200))
    qtbot.mouseMove(view.interactor, QPoint(230, 180))
    qtbot.mouseRelease(view.interactor, Qt.MouseButton.MiddleButton, pos=QPoint(230, 180))
    # a left drag with Shift pans too; a plain left drag only moves the crosshair
    qtbot.mousePress(view.interactor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(150, 150))
    qtbot.mouseMove(view.interactor, QPoint(190, 120))
    qtbot.mouseRelease(view.interactor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(190, 120))
    np.testing.assert_allclose(cam.GetViewUp(), (0.0, 1.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(np.subtract(cam.GetFocalPoint(), cam.GetPosition())[:2], 0.0, atol=1e-9)
    # the picture moved with the mouse: the point under (200, 200) before the pan is under (230, 180)
    np.testing.assert_allclose(view.mri_to_display(q), (230.0, 180.0), atol=1e-6)
    # and the screen axes are still the slice's u (right) and v (up), scaled alike
    s = view._mm_per_px()
    d = view.display_to_mri(230, 180) - view.display_to_mri(200, 200)
    assert np.linalg.norm(d - (30 * s * view.u + 20 * s * view.v)) < 1e-9


def test_wheel_scrolls_one_voxel_and_right_drag_sets_window_level(qtbot):
    A = AFFINES["axis-aligned 1 mm"]
    view = _show(qtbot, "axial", A)
    z0 = view.cursor[2]
    with qtbot.waitSignal(view.cursor_moved, timeout=3000):
        view.wheel(_Wheel(120))
    assert view.cursor[2] == pytest.approx(z0 + 1.0)
    view.wheel(_Wheel(-240))
    assert view.cursor[2] == pytest.approx(z0 - 1.0)
    scale = view.renderer.GetActiveCamera().GetParallelScale()
    view.wheel(_Wheel(120, Qt.KeyboardModifier.ControlModifier))
    assert view.renderer.GetActiveCamera().GetParallelScale() < scale       # Ctrl+wheel zooms
    assert view.cursor[2] == pytest.approx(z0 - 1.0)                        # ... and does not scroll
    w0, l0 = view.window_level()
    qtbot.mousePress(view.interactor, Qt.MouseButton.RightButton, pos=QPoint(200, 200))
    qtbot.mouseMove(view.interactor, QPoint(260, 160))
    qtbot.mouseRelease(view.interactor, Qt.MouseButton.RightButton, pos=QPoint(260, 160))
    w1, l1 = view.window_level()
    assert w1 > w0 and l1 > l0


class _Wheel:
    """A wheel event stand-in (QWheelEvent needs a window-system round trip to be delivered)."""

    def __init__(self, dy, mods=Qt.KeyboardModifier.NoModifier):
        self._dy, self._mods = dy, mods

    def angleDelta(self):
        return QPoint(0, self._dy)

    def modifiers(self):
        return self._mods

    def position(self):
        return QPointF(200, 200)


def test_drag_a_marker_and_linked_crosshairs(qtbot):
    A = AFFINES["oblique anisotropic"]
    views = [_show(qtbot, o, A) for o in ("axial", "coronal", "sagittal")]
    link_crosshairs(views)
    p = A[:3, :3] @ IJK + A[:3, 3]
    for v in views:
        v.set_cursor(p)
    ax = views[0]
    ax.set_markers([Marker("target:t", p, label="t")])
    x, y = ax.mri_to_display(p)
    with qtbot.waitSignal(ax.marker_released, timeout=3000) as sig:
        qtbot.mousePress(ax.interactor, Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))
        qtbot.mouseMove(ax.interactor, QPoint(int(x) + 40, int(y) - 25))
        qtbot.mouseRelease(ax.interactor, Qt.MouseButton.LeftButton, pos=QPoint(int(x) + 40, int(y) - 25))
    key, q = sig.args
    s = ax._mm_per_px()
    assert key == "target:t"
    # moved 40 px right (+x in mri for an axial slice) and 25 px up (+y), in the slice plane
    np.testing.assert_allclose(q - ax.display_to_mri(int(x), int(y)), [40 * s, 25 * s, 0.0], atol=1e-9)
    # a click elsewhere moves every linked crosshair to the same mri point
    qtbot.mouseClick(ax.interactor, Qt.MouseButton.LeftButton, pos=QPoint(150, 170))
    c = ax.cursor
    for v in views[1:]:
        np.testing.assert_allclose(v.cursor, c, atol=1e-9)


def test_vtk_single_key_bindings_never_act(qtbot):
    """'w' would turn VTK's surfaces to wireframe, 'e'/'q' would end the interactor: swallowed."""
    from navtms.app.views.scene_view import SceneView
    from planning_helpers import ellipsoid_mesh

    sv = SceneView()
    qtbot.addWidget(sv)
    sv.resize(300, 300)
    sv.show()
    qtbot.waitExposed(sv)
    sv.scene.set_surfaces(ellipsoid_mesh((80.0, 80.0, 80.0), res=60), None)
    sv.scene.reset_camera()
    sv.render()
    for key in (Qt.Key.Key_W, Qt.Key.Key_E, Qt.Key.Key_Q, Qt.Key.Key_3):
        qtbot.keyClick(sv.interactor, key)
    assert sv.scene.scalp_actor.GetProperty().GetRepresentation() == 2      # VTK_SURFACE
    assert sv.isVisible()
