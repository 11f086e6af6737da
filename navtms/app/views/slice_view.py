"""SliceView: one MRI slice (axial, coronal or sagittal in the `mri` frame) in a Qt widget.

Geometry (navtms.app.views.slice_geometry). The slice is the plane through the cursor
perpendicular to one `mri` axis (axial, coronal, sagittal; u to the right, v up on screen,
neurological). Slice frame: origin `o` = the volume centre moved along the normal w to the
cursor, in-plane axes u, v (mm). The image is cut
by vtkImageReslice with ResliceAxes = T_voxel_from_mri @ T_mri_from_slice, so an oblique or
sheared affine is honoured exactly (nothing is flipped). The renderer's world is the slice
frame: a screen point (a, b, 0) is the mri point o + a u + b v. The camera is a parallel
projection looking down -w; zoom changes its scale and pan its focal point, it never rotates.

Mouse (Qt widget pixels):
- left press: on a marker (within 8 px) -> drag it (`marker_moved` while dragging,
  `marker_released` at the end); elsewhere -> move the crosshair there (`cursor_moved`) and,
  if the mouse did not move before release, `clicked(point)` (the workspace decides whether
  a click places something);
- wheel or Up/Down (Page Up/Down: 10): next / previous slice (one voxel step); Ctrl+wheel: zoom
  about the mouse; R: fit the view again;
- right drag: window (horizontal) / level (vertical); middle or Shift+left drag: pan.

Public API: set_volume, set_cursor / cursor, set_markers, set_window_level / window_level,
display_to_mri / mri_to_display, zoom, reset_view, signals cursor_moved(object),
clicked(object), marker_moved(str, object), marker_released(str, object), marker_clicked(str).
`link_crosshairs(views)` links the cursors of several views.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import numpy as np
import vtk
from PySide6.QtCore import Qt, Signal

from navtms.app.views.vtk_widget import VtkView
from navtms.app.views.slice_geometry import (T_mri_from_slice, in_plane, initial_window_level, near_slice,
                                             plane_axes, slice_field)
from viewer.actors import flat_actor, line_source, make_text
from viewer.plan_scene import Marker
from viewer.slices import image_from_volume

MARKER_PICK_PX = 8.0
CLICK_SLOP_PX = 3.0
CROSSHAIR_RGB = (1.0, 0.72, 0.0)


class SliceView(VtkView):
    cursor_moved = Signal(object)          # (3,) mri mm
    clicked = Signal(object)               # (3,) mri mm: a click (no drag) off any marker
    marker_moved = Signal(str, object)     # marker key, (3,) mri mm, while dragging
    marker_released = Signal(str, object)  # marker key, (3,) mri mm, at the end of a drag
    marker_clicked = Signal(str)           # marker key: a click (no drag) on a marker

    def __init__(self, orientation: str = "axial", parent=None) -> None:
        super().__init__(parent)
        self.orientation = orientation
        self.u, self.v, self.letters = plane_axes(orientation)
        self.w = np.cross(self.u, self.v)
        self.interactor.SetInteractorStyle(vtk.vtkInteractorStyleUser())   # no VTK camera moves
        self._has_volume = False
        self._markers: list[Marker] = []
        self._marker_props: list[vtk.vtkProp] = []
        self._drag: Optional[tuple] = None   # (mode, key_or_None, x0, y0, extra)
        self._cursor = np.zeros(3)
        self._center = np.zeros(3)
        self._half = 100.0
        self._step = 1.0
        self.reslice = vtk.vtkImageReslice()
        self._axes = vtk.vtkMatrix4x4()
        self.reslice.SetResliceAxes(self._axes)
        self.reslice.SetOutputDimensionality(2)
        self.reslice.SetInterpolationModeToLinear()
        self.reslice.SetBackgroundLevel(0.0)
        self.image_actor = vtk.vtkImageActor()
        self.image_actor.GetMapper().SetInputConnection(self.reslice.GetOutputPort())
        self.image_actor.GetProperty().SetInterpolationTypeToLinear()
        self.image_actor.SetVisibility(False)
        self.renderer.AddActor(self.image_actor)
        self._h_src, self._v_src = line_source((0, 0, 1), (1, 0, 1)), line_source((0, 0, 1), (0, 1, 1))
        self._h_line = flat_actor(self._h_src, CROSSHAIR_RGB, 1.0)
        self._v_line = flat_actor(self._v_src, CROSSHAIR_RGB, 1.0)
        for a in (self._h_line, self._v_line):
            a.GetMapper().SetInputConnection(self._h_src.GetOutputPort() if a is self._h_line else self._v_src.GetOutputPort())
            a.SetVisibility(False)
            self.renderer.AddActor(a)
        self._title = make_text(13, (0.95, 0.95, 0.95), bold=True, vjustify="top")
        self._title.SetPosition(0.02, 0.98)
        self._info = make_text(11, (0.8, 0.8, 0.8), justify="right")
        self._info.SetPosition(0.98, 0.02)
        self.renderer.AddViewProp(self._title)
        self.renderer.AddViewProp(self._info)
        for text, (x, y, hj, vj) in zip(self.letters, ((0.01, 0.5, "left", "center"), (0.99, 0.5, "right", "center"),
                                                       (0.5, 0.01, "center", "bottom"), (0.5, 0.99, "center", "top"))):
            t = make_text(12, (0.9, 0.9, 0.3), justify=hj, vjustify=vj)
            t.SetPosition(x, y)
            t.SetInput(text)
            self.renderer.AddViewProp(t)
        cam = self.renderer.GetActiveCamera()
        cam.ParallelProjectionOn()
        self._update_texts()

    # -- volume and geometry ---------------------------------------------------------------
    def set_volume(self, data: np.ndarray, T_mri_from_voxel: np.ndarray) -> None:
        """Show this (I, J, K) volume; T_mri_from_voxel maps voxel indices to mri mm."""
        A = np.asarray(T_mri_from_voxel, dtype=np.float64)
        self.T_mri_from_voxel = A
        self.T_voxel_from_mri = np.linalg.inv(A)
        self.reslice.SetInputData(image_from_volume(data))
        f = slice_field(data.shape, A, self.u, self.v)
        self._center, self._half, self._step = f.center, f.half, f.step
        self.reslice.SetOutputSpacing(f.spacing, f.spacing, 1.0)
        self.reslice.SetOutputOrigin(-self._half, -self._half, 0.0)
        self.reslice.SetOutputExtent(0, f.n - 1, 0, f.n - 1, 0, 0)
        self._has_volume = True
        self.image_actor.SetVisibility(True)
        self._h_line.SetVisibility(True)
        self._v_line.SetVisibility(True)
        self.set_window_level(*initial_window_level(data))
        self._cursor = self._center.copy()
        self.reset_view()
        self._apply_cursor()

    def T_mri_from_slice(self) -> np.ndarray:
        """Slice frame -> mri (4x4): columns u, v, w and the origin (mm) of the current slice."""
        return T_mri_from_slice(self.u, self.v, self.w, self._center, self._cursor)

    def slice_offset_mm(self) -> float:
        """Position of the slice along its normal (mri mm along +w)."""
        return float(self._cursor @ self.w)

    # -- cursor ----------------------------------------------------------------------------
    @property
    def cursor(self) -> np.ndarray:
        """The crosshair point (3,) mri mm; the slice passes through it."""
        return self._cursor.copy()

    def set_cursor(self, p_mri) -> None:
        """Move the crosshair (and the slice plane) to p (3,) mri mm; emits nothing."""
        p = np.asarray(p_mri, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(p)):
            return
        self._cursor = p.copy()
        self._apply_cursor()
        self.render()

    def _apply_cursor(self) -> None:
        T = self.T_mri_from_slice()
        M = self.T_voxel_from_mri @ T if self._has_volume else np.eye(4)
        for i in range(4):
            for j in range(4):
                self._axes.SetElement(i, j, float(M[i, j]))
        self._axes.Modified()
        self.reslice.Modified()
        a, b = self._slice_ab(self._cursor)
        h = 10.0 * self._half
        self._h_src.SetPoint1(-h, b, 1.0)
        self._h_src.SetPoint2(h, b, 1.0)
        self._v_src.SetPoint1(a, -h, 1.0)
        self._v_src.SetPoint2(a, h, 1.0)
        self._update_markers()
        self._update_texts()

    def _slice_ab(self, p) -> tuple[float, float]:
        return in_plane(p, self.T_mri_from_slice())

    # -- screen <-> mri --------------------------------------------------------------------
    def _mm_per_px(self) -> float:
        _, h = self.view_size()
        return 2.0 * self.renderer.GetActiveCamera().GetParallelScale() / max(1, h)

    def display_to_mri(self, x: float, y: float) -> np.ndarray:
        """Qt widget pixel (x right, y down) -> the mri point (3,) mm on the current slice."""
        w, h = self.view_size()
        fx, fy, _ = self.renderer.GetActiveCamera().GetFocalPoint()
        s = self._mm_per_px()
        a = fx + (x - 0.5 * w) * s
        b = fy - (y - 0.5 * h) * s
        return self.T_mri_from_slice()[:3, 3] + a * self.u + b * self.v

    def mri_to_display(self, p_mri) -> tuple[float, float]:
        """mri point (3,) mm -> Qt widget pixel (x, y) of its projection on this slice."""
        w, h = self.view_size()
        fx, fy, _ = self.renderer.GetActiveCamera().GetFocalPoint()
        a, b = self._slice_ab(p_mri)
        s = self._mm_per_px()
        return 0.5 * w + (a - fx) / s, 0.5 * h - (b - fy) / s

    # -- camera: zoom and pan only ---------------------------------------------------------
    def reset_view(self) -> None:
        """Fit the whole slice field in the view, centred."""
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(0.0, 0.0, 0.0)
        cam.SetPosition(0.0, 0.0, 1000.0)
        cam.SetViewUp(0.0, 1.0, 0.0)
        w, h = self.view_size()
        cam.SetParallelScale(self._half * max(1.0, h / max(1, w)))
        self.renderer.ResetCameraClippingRange(-self._half, self._half, -self._half, self._half, -2.0, 2.0)

    def zoom(self, factor: float, about_px: Optional[tuple[float, float]] = None) -> None:
        """Magnify by `factor` (> 1 zooms in) keeping the point under `about_px` fixed."""
        cam = self.renderer.GetActiveCamera()
        fx, fy, _ = cam.GetFocalPoint()
        if about_px is not None:
            p = self.display_to_mri(*about_px)
            a, b = self._slice_ab(p)
        else:
            a, b = fx, fy
        scale = cam.GetParallelScale() / factor
        cam.SetParallelScale(scale)
        nfx, nfy = a + (fx - a) / factor, b + (fy - b) / factor
        cam.SetFocalPoint(nfx, nfy, 0.0)
        cam.SetPosition(nfx, nfy, 1000.0)
        self.render()

    def pan_px(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) Qt pixels (the camera moves the other way)."""
        cam = self.renderer.GetActiveCamera()
        fx, fy, _ = cam.GetFocalPoint()
        s = self._mm_per_px()
        nfx, nfy = fx - dx * s, fy + dy * s
        cam.SetFocalPoint(nfx, nfy, 0.0)
        cam.SetPosition(nfx, nfy, 1000.0)
        self.render()

    # -- window / level --------------------------------------------------------------------
    def set_window_level(self, window: float, level: float) -> None:
        p = self.image_actor.GetProperty()
        p.SetColorWindow(max(1e-6, float(window)))
        p.SetColorLevel(float(level))
        self._update_texts()
        self.render()

    def window_level(self) -> tuple[float, float]:
        p = self.image_actor.GetProperty()
        return float(p.GetColorWindow()), float(p.GetColorLevel())

    # -- markers ---------------------------------------------------------------------------
    def set_markers(self, markers: Sequence[Marker]) -> None:
        """Markers to draw where they lie within about one voxel of the slice (ring + label)."""
        self._markers = list(markers)
        self._update_markers()
        self.render()

    def _visible_markers(self) -> list[Marker]:
        return near_slice(self._markers, self.T_mri_from_slice(), self._step)

    def _update_markers(self) -> None:
        for p in self._marker_props:
            self.renderer.RemoveViewProp(p)
        self._marker_props = []
        for m in self._visible_markers():
            a, b = self._slice_ab(m.position_mri_mm)
            ring = vtk.vtkRegularPolygonSource()
            ring.SetNumberOfSides(24)
            ring.SetRadius(m.radius_mm)
            ring.SetCenter(a, b, 1.5)
            ring.GeneratePolygonOff()
            ra = flat_actor(ring, m.rgb, 2.5)
            dot = vtk.vtkRegularPolygonSource()
            dot.SetNumberOfSides(12)
            dot.SetRadius(0.6)
            dot.SetCenter(a, b, 1.5)
            da = flat_actor(dot, m.rgb, 1.0)
            self._marker_props += [ra, da]
            if m.label:
                t = vtk.vtkBillboardTextActor3D()
                t.SetInput(m.label)
                t.SetPosition(a + m.radius_mm + 1.0, b + m.radius_mm + 1.0, 1.5)
                t.GetTextProperty().SetColor(*m.rgb)
                t.GetTextProperty().SetFontSize(13)
                t.GetTextProperty().SetBold(True)
                self._marker_props.append(t)
        for p in self._marker_props:
            self.renderer.AddViewProp(p)

    def marker_at(self, x: float, y: float) -> Optional[str]:
        """The key of the visible marker nearest the widget pixel (x, y) within 8 px, or None."""
        best, best_d = None, MARKER_PICK_PX
        for m in self._visible_markers():
            mx, my = self.mri_to_display(m.position_mri_mm)
            d = math.hypot(mx - x, my - y)
            if d <= best_d:
                best, best_d = m.key, d
        return best

    def _update_texts(self) -> None:
        self._title.SetInput(self.orientation)
        if self._has_volume:
            wnd, lvl = self.window_level()
            k = int(np.argmax(np.abs(self.w)))
            self._info.SetInput(f"{'xyz'[k]} = {self._cursor[k]:.1f} mm   W {wnd:.0f} L {lvl:.0f}")

    # -- mouse -----------------------------------------------------------------------------
    def mouse_press(self, ev) -> bool:
        if not self._has_volume:
            return True
        x, y = ev.position().x(), ev.position().y()
        btn, mods = ev.button(), ev.modifiers()
        if btn == Qt.MouseButton.RightButton:
            self._drag = ("wl", None, x, y, self.window_level())
        elif btn == Qt.MouseButton.MiddleButton or (btn == Qt.MouseButton.LeftButton
                                                   and mods & Qt.KeyboardModifier.ShiftModifier):
            self._drag = ("pan", None, x, y, None)
        elif btn == Qt.MouseButton.LeftButton:
            key = self.marker_at(x, y)
            if key is not None:
                self._drag = ("marker", key, x, y, False)
            else:
                self._drag = ("cursor", None, x, y, False)
                self._move_cursor_to(x, y)
        return True

    def _move_cursor_to(self, x: float, y: float) -> None:
        p = self.display_to_mri(x, y)
        self._cursor = p
        self._apply_cursor()
        self.render()
        self.cursor_moved.emit(p.copy())

    def mouse_move(self, ev) -> bool:
        if self._drag is None:
            return True
        mode, key, x0, y0, extra = self._drag
        x, y = ev.position().x(), ev.position().y()
        moved = math.hypot(x - x0, y - y0) > CLICK_SLOP_PX
        if mode == "wl":
            wnd, lvl = extra
            self.set_window_level(wnd * math.exp((x - x0) / 200.0), lvl - (y - y0) * wnd / 400.0)
        elif mode == "pan":
            self.pan_px(x - x0, y - y0)
            self._drag = (mode, key, x, y, extra)
        elif mode == "marker" and (moved or extra):
            self._drag = (mode, key, x0, y0, True)
            p = self.display_to_mri(x, y)
            self._markers = [Marker(m.key, p, m.rgb, m.label, m.radius_mm) if m.key == key else m for m in self._markers]
            self._update_markers()
            self.render()
            self.marker_moved.emit(key, p)
        elif mode == "cursor":
            if moved:
                self._drag = (mode, key, x0, y0, True)
            if extra or moved:
                self._move_cursor_to(x, y)
        return True

    def mouse_release(self, ev) -> bool:
        if self._drag is None:
            return True
        mode, key, x0, y0, extra = self._drag
        self._drag = None
        x, y = ev.position().x(), ev.position().y()
        if mode == "marker" and extra:
            self.marker_released.emit(key, self.display_to_mri(x, y))
        elif mode == "marker":
            self.marker_clicked.emit(key)
        elif mode == "cursor" and not extra:
            self.clicked.emit(self.display_to_mri(x0, y0))
        return True

    def wheel(self, ev) -> bool:
        if not self._has_volume:
            return True
        steps = ev.angleDelta().y() / 120.0
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.15 ** steps, (ev.position().x(), ev.position().y()))
        else:
            self.scroll(int(round(steps)) or (1 if steps > 0 else -1))
        return True

    def key_press(self, ev) -> bool:
        """Up / Page Up: next slice, Down / Page Down: previous one (10 at a time with Page);
        R: fit the view again. Other keys are swallowed (VTK's own key bindings never act)."""
        k = ev.key()
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}.get(k)
        if steps and self._has_volume:
            self.scroll(steps)
        elif k == Qt.Key.Key_R:
            self.reset_view()
            self.render()
        return True

    def scroll(self, n_steps: int) -> None:
        """Move the slice n voxel steps along its normal; emits cursor_moved."""
        self._cursor = self._cursor + n_steps * self._step * self.w
        self._apply_cursor()
        self.render()
        self.cursor_moved.emit(self._cursor.copy())


def link_crosshairs(views: Iterable[SliceView]) -> None:
    """Every view's cursor moves all the others (a linked crosshair)."""
    views = list(views)
    for v in views:
        v.cursor_moved.connect(lambda p, src=v: [o.set_cursor(p) for o in views if o is not src])
