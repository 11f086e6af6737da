"""The viewer window: a real VTK window for the operator, and offscreen snapshots.

Layout (normalized window coordinates): the 3D scene on the left (above the three MRI slices
when the spec has an MRI), the bullseye in the right column.

NavigationWindow(spec, state_source) opens a vtkRenderWindow with a vtkRenderWindowInteractor;
a repeating timer (display rate) pulls the latest ViewState from `state_source` and renders
only when it changed (latest value wins, nothing is queued, the tracking loop is never
waited on). Keys: on_key('p', callback) etc.; 'q' closes, 'r' re-aims the camera; VTK's own
single-key bindings (wireframe, stereo, ...) are switched off so a key never does two things.

render_offscreen(spec, state, size) -> (H, W, 3) uint8 RGB, row 0 at the top, and
save_snapshot(path, spec, state, size) (PNG, written atomically) are for tests and reports.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Union

from viewer.display import has_display

if not has_display():
    # headless: render through EGL (must be set before VTK makes its first window)
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from navcore.fileio import atomic_write_bytes
from viewer.bullseye import BullseyePanel
from viewer.scene import NavigationScene
from viewer.slices import SlicePanel
from viewer.state import LatestState, SceneSpec, ViewState

StateSource = Union[LatestState, Callable[[], Optional[ViewState]]]


class ViewerLayout:
    """Scene + bullseye + slices, their viewports, and one update() for all of them."""

    def __init__(self, spec: SceneSpec):
        self.spec = spec
        self.scene = NavigationScene(spec)
        self.bullseye = BullseyePanel(spec)
        self.slices = SlicePanel(spec)
        has_slices = bool(self.slices.renderers)
        self.viewports = {"scene": (0.0, 0.3 if has_slices else 0.0, 0.66, 1.0),
                          "bullseye": (0.66, 0.0, 1.0, 1.0)}
        self.scene.set_viewport(*self.viewports["scene"])
        self.bullseye.renderer.SetViewport(*self.viewports["bullseye"])
        for i, r in enumerate(self.slices.renderers):
            vp = (0.22 * i + 0.003, 0.0, 0.22 * (i + 1) - 0.003, 0.3)
            self.viewports[f"slice{i}"] = vp
            r.SetViewport(*vp)

    @property
    def renderers(self) -> list[vtk.vtkRenderer]:
        return [*self.scene.renderers, self.bullseye.renderer, *self.slices.renderers]

    def attach(self, render_window: vtk.vtkRenderWindow) -> None:
        render_window.SetNumberOfLayers(2)     # layer 1: the scene's X-ray overlay
        for r in self.renderers:
            render_window.AddRenderer(r)

    def fit(self, width_px: int, height_px: int) -> None:
        """Scale fonts and 2D panels to a window of this pixel size."""
        s = height_px / 720.0
        self.scene.set_font_scale(s)
        self.bullseye.set_font_scale(s)
        self.slices.set_font_scale(s)
        vx0, vy0, vx1, vy1 = self.viewports["bullseye"]
        self.bullseye.fit(int((vx1 - vx0) * width_px), int((vy1 - vy0) * height_px))
        if self.slices.renderers:
            vx0, vy0, vx1, vy1 = self.viewports["slice0"]
            self.slices.fit(int((vx1 - vx0) * width_px), int((vy1 - vy0) * height_px))

    def update(self, state: ViewState) -> None:
        self.scene.update(state)
        self.bullseye.update(state)
        self.slices.update(state)

    def prop_count(self) -> int:
        return sum(r.GetViewProps().GetNumberOfItems() for r in self.renderers)


def _grab(render_window: vtk.vtkRenderWindow, w2i: vtk.vtkWindowToImageFilter) -> np.ndarray:
    w2i.Modified()
    w2i.Update()
    img = w2i.GetOutput()
    w, h, _ = img.GetDimensions()
    arr = vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, -1)[:, :, :3]
    return np.ascontiguousarray(arr[::-1])    # VTK rows start at the bottom


class OffscreenViewer:
    """The full layout in an offscreen vtkRenderWindow; render(state) -> (H, W, 3) uint8 RGB."""

    def __init__(self, spec: SceneSpec, size: tuple[int, int] = (1280, 720)):
        self.layout = ViewerLayout(spec)
        self.size = (int(size[0]), int(size[1]))
        rw = self.render_window = vtk.vtkRenderWindow()
        rw.SetOffScreenRendering(1)
        rw.SetSize(*self.size)
        rw.SetMultiSamples(0)
        self.layout.attach(rw)
        self.layout.fit(*self.size)
        self.w2i = vtk.vtkWindowToImageFilter()
        self.w2i.SetInput(rw)
        self.w2i.SetInputBufferTypeToRGB()
        self.w2i.ReadFrontBufferOff()

    def update(self, state: ViewState) -> None:
        self.layout.update(state)
        self.render_window.Render()

    def render(self, state: ViewState) -> np.ndarray:
        self.update(state)
        return _grab(self.render_window, self.w2i)

    def world_to_pixel(self, point_mri_mm) -> tuple[float, float]:
        """(column, row) in the rendered image (row 0 at the top) of an mri point in the 3D view."""
        c = vtk.vtkCoordinate()
        c.SetCoordinateSystemToWorld()
        c.SetValue(*np.asarray(point_mri_mm, float))
        x, y = c.GetComputedDoubleDisplayValue(self.layout.scene.renderer)
        return float(x), float(self.size[1] - 1 - y)

    def close(self) -> None:
        self.render_window.Finalize()


def png_bytes(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB (row 0 at the top) -> PNG file bytes (vtkPNGWriter)."""
    from vtk.util.numpy_support import numpy_to_vtk

    h, w, _ = image.shape
    img = vtk.vtkImageData()
    img.SetDimensions(w, h, 1)
    arr = numpy_to_vtk(np.ascontiguousarray(image[::-1]).reshape(-1, 3), deep=True)
    img.GetPointData().SetScalars(arr)
    wr = vtk.vtkPNGWriter()
    wr.SetInputData(img)
    wr.WriteToMemoryOn()
    wr.Write()
    return bytes(vtk_to_numpy(wr.GetResult()).tobytes())


def render_offscreen(spec: SceneSpec, state: ViewState, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """One offscreen render of the full layout: (H, W, 3) uint8 RGB, row 0 at the top."""
    v = OffscreenViewer(spec, size)
    try:
        return v.render(state)
    finally:
        v.close()


def save_snapshot(path: str | Path, spec: SceneSpec, state: ViewState,
                  size: tuple[int, int] = (1280, 720)) -> Path:
    """Render offscreen and write a PNG atomically (temp file then rename). Returns the path."""
    return atomic_write_bytes(path, png_bytes(render_offscreen(spec, state, size)))


class NavigationWindow:
    """The operator's window. `state_source` is a LatestState or a callable returning the
    latest ViewState (or None); it is polled by a VTK timer at `fps`."""

    def __init__(self, spec: SceneSpec, state_source: Optional[StateSource] = None,
                 size: tuple[int, int] = (1280, 720), fps: float = 60.0,
                 title: str = "navtms navigation", offscreen: bool = False):
        self.layout = ViewerLayout(spec)
        self.state_source = state_source
        self.fps = float(fps)
        rw = self.render_window = vtk.vtkRenderWindow()
        rw.SetSize(int(size[0]), int(size[1]))
        rw.SetWindowName(title)
        if offscreen:
            rw.SetOffScreenRendering(1)
        self.layout.attach(rw)
        self.layout.fit(int(size[0]), int(size[1]))
        self.interactor = vtk.vtkRenderWindowInteractor()
        self.interactor.SetRenderWindow(rw)
        self.style = vtk.vtkInteractorStyleTrackballCamera()
        self.interactor.SetInteractorStyle(self.style)
        # An observer on the style's CharEvent replaces VTK's built-in single-key actions.
        self.style.AddObserver("CharEvent", self._on_char)
        self.interactor.AddObserver("TimerEvent", self._on_timer)
        rw.AddObserver("WindowResizeEvent", self._on_resize)
        self._keys: dict[str, Callable[[], None]] = {}
        self._last_version: object = None
        self._last_state: Optional[ViewState] = None
        self.renders = 0
        self.closed = False
        self._started = False
        self.on_key("q", self.close)
        self.on_key("r", self.layout.scene.reset_camera)

    def on_key(self, key: str, callback: Callable[[], None]) -> None:
        """Call `callback()` when `key` (a VTK key symbol such as 'p', 'n', 'space') is pressed."""
        self._keys[key] = callback

    def _on_char(self, _obj=None, _event=None) -> None:
        key = self.interactor.GetKeySym() or ""
        cb = self._keys.get(key) or self._keys.get(key.lower())
        if cb is not None:
            cb()
            if not self.closed:
                self.render_window.Render()

    def _on_resize(self, _obj=None, _event=None) -> None:
        w, h = self.render_window.GetSize()
        self.layout.fit(w, h)

    def _latest(self) -> tuple[object, Optional[ViewState]]:
        src = self.state_source
        if src is None:
            return None, None
        if isinstance(src, LatestState):
            return src.get()
        state = src()
        return id(state), state

    def poll(self) -> bool:
        """Pull the latest state; update and render when it changed. True when it rendered."""
        version, state = self._latest()
        if state is None or (version == self._last_version and state is self._last_state):
            return False
        self._last_version, self._last_state = version, state
        self.layout.update(state)
        self.render_window.Render()
        self.renders += 1
        return True

    def _on_timer(self, _obj=None, _event=None) -> None:
        if not self.closed:
            self.poll()

    def start(self) -> None:
        """Show the window and run the event loop until 'q' or the window is closed."""
        self.interactor.Initialize()
        self.interactor.CreateRepeatingTimer(max(1, int(1000.0 / self.fps)))
        self.layout.update(self._last_state or ViewState())
        self.render_window.Render()
        self._started = True
        try:
            self.interactor.Start()
        finally:
            self._started = False
            self.closed = True
            self.render_window.Finalize()

    def close(self) -> None:
        """Stop the event loop and release the window."""
        if self.closed:
            return
        self.closed = True
        if self._started:
            self.interactor.TerminateApp()    # start() releases the window when the loop ends
        else:
            self.render_window.Finalize()
