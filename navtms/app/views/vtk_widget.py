"""VtkView: a QWidget with one embedded VTK render window (vtkmodules.qt QVTKRenderWindowInteractor).

Render window: on X11 a `vtkXOpenGLRenderWindow` is created explicitly (GLX). The test suite and
the offscreen snapshots set VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow process-wide, and an
EGL window cannot draw into a Qt widget; asking for the X class by name lets both live in one
process. Multisampling is off (VTK's default 8x costs ~40 ms a frame in software OpenGL at
1280x720, see /work/shared/notes/qt-vtk-headless.md).

Mouse, wheel and key events: subclasses override `mouse_press/move/release(event)`, `wheel(event)`
and `key_press(event)`
and return True when they handled the event; unhandled events go to VTK's interactor style
(e.g. the trackball camera of the 3D view). Positions are Qt widget pixels (x right, y down).
"""
from __future__ import annotations

import sys

import numpy as np
import vtk
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtk.util.numpy_support import vtk_to_numpy
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor


def _new_render_window() -> vtk.vtkRenderWindow:
    """A render window that can draw into a Qt widget on this platform."""
    from PySide6.QtGui import QGuiApplication

    platform = QGuiApplication.platformName() if QGuiApplication.instance() else ""
    if sys.platform.startswith("linux") and platform == "xcb":
        from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow

        rw = vtkXOpenGLRenderWindow()
        # draw through Qt's own X connection: a second one opened by VTK would outlive the
        # application and die noisily (exit code 1) when the X server goes away
        display = QGuiApplication.instance().nativeInterface().display()
        if display:
            rw.SetDisplayId("_%016x_p_void" % int(display))
    else:  # Windows, macOS, Wayland...: VTK's default for the platform
        rw = vtk.vtkRenderWindow()
    rw.SetMultiSamples(0)
    return rw


class _Interactor(QVTKRenderWindowInteractor):
    """Routes Qt mouse events to the owning VtkView first."""

    def __init__(self, owner: "VtkView", parent, rw):
        super().__init__(parent, rw=rw)
        self._owner = owner

    def mousePressEvent(self, ev):
        if not self._owner.mouse_press(ev):
            super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev):
        if not self._owner.mouse_move(ev):
            super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev):
        if not self._owner.mouse_release(ev):
            super().mouseReleaseEvent(ev)

    def wheelEvent(self, ev):
        if not self._owner.wheel(ev):
            super().wheelEvent(ev)

    def keyPressEvent(self, ev):
        if not self._owner.key_press(ev):
            super().keyPressEvent(ev)

    def mouseDoubleClickEvent(self, ev):
        if not self._owner.mouse_press(ev):
            super().mouseDoubleClickEvent(ev)


class VtkView(QWidget):
    """One VTK render window in a widget. `renderer` is the main vtkRenderer (layer 0)."""

    def __init__(self, parent=None, background=(0.0, 0.0, 0.0)) -> None:
        super().__init__(parent)
        self.render_window = _new_render_window()
        self.interactor = _Interactor(self, self, self.render_window)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.interactor)
        self.renderer = vtk.vtkRenderer()
        self.renderer.SetBackground(*background)
        self.render_window.AddRenderer(self.renderer)
        self.interactor.Initialize()
        self.setMinimumSize(160, 160)

    # -- event hooks for subclasses (return True when handled) -----------------------------
    def mouse_press(self, ev) -> bool:
        return False

    def mouse_move(self, ev) -> bool:
        return False

    def mouse_release(self, ev) -> bool:
        return False

    def wheel(self, ev) -> bool:
        return False

    def key_press(self, ev) -> bool:
        return False

    # -- drawing ---------------------------------------------------------------------------
    def render(self) -> None:
        """Draw now (only when visible: a hidden view draws nothing)."""
        if self.isVisible():
            self.render_window.Render()

    def view_size(self) -> tuple[int, int]:
        """(width, height) of the drawing area in Qt widget pixels."""
        return self.interactor.width(), self.interactor.height()

    def snapshot_rgb(self) -> np.ndarray:
        """The last frame as (H, W, 3) uint8 RGB, row 0 at the top (renders first)."""
        self.render_window.Render()
        f = vtk.vtkWindowToImageFilter()
        f.SetInput(self.render_window)
        f.ReadFrontBufferOff()
        f.Update()
        img = f.GetOutput()
        w, h, _ = img.GetDimensions()
        a = vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, -1)[:, :, :3]
        return np.ascontiguousarray(a[::-1])

    def closeEvent(self, ev) -> None:
        self.close_view()
        super().closeEvent(ev)

    def close_view(self) -> None:
        """Release the GL window (call before the widget is destroyed)."""
        try:
            self.interactor.Finalize()
        except Exception:  # noqa: BLE001 - shutting down must not raise
            pass


def device_pixel_ratio(widget: QWidget) -> float:
    return float(widget.devicePixelRatioF()) if hasattr(widget, "devicePixelRatioF") else 1.0


__all__ = ["VtkView", "device_pixel_ratio"]
