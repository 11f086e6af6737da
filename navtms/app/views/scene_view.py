"""SceneView: the planner's 3D head in a Qt widget (viewer.plan_scene.PlanScene inside a VtkView).

Left drag rotates (VTK trackball camera), right drag zooms, middle drag pans, R frames the head
(VTK's own single-key bindings are off); a left click
without drag picks the brain (through the translucent scalp) or else the scalp and emits
`surface_clicked(point (3,) mri mm, "brain" | "scalp")`.

Public API: `scene` (the PlanScene: set_surfaces, set_markers, set_coil, reset_camera),
`render()`, `pick_at(x, y)` (Qt widget pixels), `pick_order`, signal surface_clicked(object, str).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import vtk
from PySide6.QtCore import Qt, Signal

from navtms.app.views.vtk_widget import VtkView
from viewer.plan_scene import PlanScene

CLICK_SLOP_PX = 4.0


class SceneView(VtkView):
    surface_clicked = Signal(object, str)   # (3,) mri mm, "brain" or "scalp"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.render_window.RemoveRenderer(self.renderer)
        self.scene = PlanScene()
        self.renderer = self.scene.renderer
        self.scene.attach(self.render_window)
        self.interactor.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
        self._press: Optional[tuple[float, float]] = None
        self.pick_order = ("brain", "scalp")     # surfaces a click tries, in order

    def pick_at(self, x: float, y: float) -> Optional[tuple[np.ndarray, str]]:
        """The surface point under the Qt widget pixel (x, y): (point (3,) mri mm, which) or None."""
        dpr = float(self.devicePixelRatioF())
        _, h = self.render_window.GetSize()
        return self.scene.pick(x * dpr, h - 1 - y * dpr, self.pick_order)

    def key_press(self, ev) -> bool:
        """R: frame the head again; every other key is swallowed (VTK's own single-key bindings,
        wireframe, stereo, quit, ..., never act)."""
        if ev.key() == Qt.Key.Key_R:
            self.scene.reset_camera()
            self.render()
        return True

    def mouse_press(self, ev) -> bool:
        if ev.button() == Qt.MouseButton.LeftButton:
            self._press = (ev.position().x(), ev.position().y())
        return False          # the trackball still gets it

    def mouse_release(self, ev) -> bool:
        if ev.button() == Qt.MouseButton.LeftButton and self._press is not None:
            x, y = ev.position().x(), ev.position().y()
            if math.hypot(x - self._press[0], y - self._press[1]) <= CLICK_SLOP_PX:
                hit = self.pick_at(x, y)
                if hit is not None:
                    self.surface_clicked.emit(hit[0], hit[1])
            self._press = None
        return False
