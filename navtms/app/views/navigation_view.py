"""NavigationView: what the operator looks at while aiming the coil, drawn from the latest
ViewState only (the loop's values; the screen never computes its own verdict).

- 3D: viewer.scene.NavigationScene (head, targets, planned ghost coil, live coil, STALE wireframe,
  X-ray target) with every pulse marked (white: on target, orange: off target), in a VtkView.
- MRI slices through the coil focus: viewer.slices.SlicePanel (three planes), in a VtkView.
- Bullseye (views.bullseye_view, QPainter): planned-coil plane, anatomical directions (toward
  nasion, left ear, vertex), height above the scalp, pulses (fired dots, refused crosses).
- Status: the verdict in words (ON TARGET, or the loop's reasons such as "TILT 4.2 deg > 3.0 deg",
  COIL / HEAD NOT VISIBLE, STALE), FRE and predicted TRE (always), display rate, tracking rate,
  pose age and latency.

offscreen=True puts the VTK parts in offscreen render windows (EGL) instead of widgets, for the
bench (`navtms bench loop`) and tests that check pixels without a display. Display meshes are
decimated copies (viewer.plan_scene.decimate_for_display) so software OpenGL keeps up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Mapping, Optional, Sequence

import numpy as np
import vtk
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from navtms.app.views.bullseye_view import BullseyeState, BullseyeView, PulseMark, anatomical_directions
from viewer.actors import sphere_actor
from viewer.state import SceneSpec, ViewState

NAV_DISPLAY_TRIANGLES = 10_000   # per surface: the navigation view needs shape, not detail
SLICE_STEP_MM = 0.5                     # the slices are redrawn when their focus moved this far
LEFT_SHARE, SCENE_SHARE = 0.63, 0.72     # 3D + slices on the left, 3D above the slices
GREEN, AMBER, RED, GREY = "#28c850", "#f0aa1e", "#dc3232", "#8c8c96"


def display_spec(spec: SceneSpec, max_triangles: int = NAV_DISPLAY_TRIANGLES) -> SceneSpec:
    """The spec with scalp and brain replaced by decimated display copies (mm, mri): the brain
    to `max_triangles`, the translucent scalp to at most viewer.plan_scene.SCALP_DISPLAY_TRIANGLES."""
    from viewer.convert import arrays_from_polydata
    from viewer.plan_scene import SCALP_DISPLAY_TRIANGLES, decimate_for_display

    def dec(s, n):
        if s is None:
            return None
        v, f = arrays_from_polydata(decimate_for_display(s, n))
        return SimpleNamespace(vertices=v, faces=f)
    # the translucent scalp needs fewer triangles than the brain (same budgets as the Plan view)
    return replace(spec, scalp=dec(spec.scalp, min(max_triangles, SCALP_DISPLAY_TRIANGLES)),
                   brain=dec(spec.brain, max_triangles))


def scalp_height_mm(point_mri_mm: np.ndarray, tree, vertices: np.ndarray, normals: np.ndarray) -> float:
    """Signed height (mm) of a point above the scalp: its offset from the nearest scalp vertex
    along that vertex's outward normal (positive outside the head). tree: scipy cKDTree of
    `vertices` (N, 3) mri mm; normals (N, 3) unit, outward."""
    _, i = tree.query(np.asarray(point_mri_mm, float))
    return float(np.dot(np.asarray(point_mri_mm, float) - vertices[i], normals[i]))


def direction_points(fiducials: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The bullseye's anatomical landmarks from a plan's fiducials (mri mm): 'nasion' and
    'left ear' (the LPA), whatever the plan calls them (touch_pictures.fiducial_key)."""
    from navtms.app.views.touch_pictures import fiducial_key

    label = {"nasion": "nasion", "lpa": "left ear"}
    return {label[k]: np.asarray(p, float) for name, p in fiducials.items()
            if (k := fiducial_key(name)) in label}


def pulse_mark(target, T_mri_from_coil, fired: bool, on_target: bool, refusal: str = "") -> PulseMark:
    """A pulse on the bullseye of `target` (viewer TargetSpec): where the coil centre was, in the
    same planned-coil x/y plane as the live dot (viewer.bullseye.bullseye_geometry); no position
    when the coil was not seen."""
    from viewer.bullseye import bullseye_geometry

    if target is None or T_mri_from_coil is None:
        return PulseMark(None, None, fired, on_target, refusal)
    g = bullseye_geometry(target.T_mri_from_coil, target.entry_mri_mm, T_mri_from_coil)
    return PulseMark(float(g.offset_xy_mm[0]), float(g.offset_xy_mm[1]), fired, on_target, refusal)


@dataclass(frozen=True)
class NavExtras:
    """What the status shows besides the ViewState. Rates in Hz, times in ms."""

    display_hz: float = math.nan
    tracking_hz: float = math.nan
    latency_ms: float = math.nan
    pulses: Sequence[PulseMark] = ()
    pulse_points_mri: Sequence[tuple[np.ndarray, bool]] = ()   # (coil centre mri mm, on target)
    last_refusal: str = ""
    loop_state: str = ""


def verdict(state: ViewState) -> tuple[str, str]:
    """(words, grade) of a state: grade 'on' | 'near' | 'off' | 'none'. Words come from the
    loop: its off-target reasons, or NOT VISIBLE / STALE; never a verdict of our own."""
    if state.stale:
        return ("STALE" + (f": {state.status}" if state.status else ": no fresh pose")), "none"
    if not state.coil_visible and not state.head_visible:
        return "COIL AND HEAD NOT VISIBLE", "none"
    if not state.coil_visible:
        return "COIL NOT VISIBLE", "none"
    if not state.head_visible:
        return "HEAD NOT VISIBLE", "none"
    if not state.pose_is_current:
        return "NO CURRENT POSE", "none"
    if state.on_target:
        return "ON TARGET", "on"
    reasons = tuple(getattr(state, "off_target_reasons", ()) or ())
    words = "NOT ON TARGET: " + ("; ".join(reasons) if reasons else "outside the tolerance")
    limits = getattr(state, "limits", None)
    near = False
    if limits is not None:
        near = all((b := limits.band(m, False)) is None or not math.isfinite(v) or abs(v) <= b[1]
                   for m, v in (("distance", state.distance_mm), ("tilt", state.tilt_deg), ("twist", state.twist_deg)))
    return words, ("near" if near else "off")


class NavigationView(QWidget):
    """See the module docstring. set_state(state, extras) then render()."""

    def __init__(self, spec: SceneSpec, fiducials: Optional[Mapping[str, np.ndarray]] = None,
                 offscreen: bool = False, size: tuple[int, int] = (1280, 720), parent=None) -> None:
        super().__init__(parent)
        from scipy.spatial import cKDTree
        from viewer.scene import NavigationScene
        from viewer.slices import SlicePanel

        self.spec = display_spec(spec)
        self.offscreen = offscreen
        self.scene = NavigationScene(self.spec)
        self.slices = SlicePanel(self.spec)
        self._scalp = None
        if spec.scalp is not None:
            v = np.asarray(spec.scalp.vertices, float)
            n = getattr(spec.scalp, "normals", None)
            if n is None or len(n) != len(v):
                n = _vertex_normals(v, np.asarray(spec.scalp.faces))
            self._scalp = (cKDTree(v), v, np.asarray(n, float))
        self.fiducials = {k: np.asarray(p, float) for k, p in (fiducials or {}).items()}
        self.bullseye = BullseyeView()
        self.status = QLabel()
        self.status.setTextFormat(Qt.RichText)
        self.status.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.banner = QLabel()
        self.banner.setAlignment(Qt.AlignCenter)
        self.banner.setWordWrap(True)
        self._pulse_actors: list = []
        self.renders = self.slice_renders = 0
        self._slice_key = None
        self.state = ViewState()
        self.extras = NavExtras()
        if offscreen:      # the panels at the sizes the window layout gives them (see _layout)
            w, h = int(size[0]), int(size[1])
            left = int(w * LEFT_SHARE)
            self.scene_window = _offscreen_window((left, int(h * SCENE_SHARE)))
            self.slice_window = _offscreen_window((left, h - int(h * SCENE_SHARE)))
            self.resize(w, h)
            self.bullseye.resize(w - left, int(h * 0.6))
        else:
            from navtms.app.views.vtk_widget import VtkView

            self.scene_view, self.slice_view = VtkView(), VtkView()
            self.scene_window, self.slice_window = self.scene_view.render_window, self.slice_view.render_window
            self._layout()
        self.scene_window.SetNumberOfLayers(2)
        if not offscreen:
            self.scene_window.RemoveRenderer(self.scene_view.renderer)
        for r in self.scene.renderers:
            self.scene_window.AddRenderer(r)
        if not offscreen:
            self.slice_window.RemoveRenderer(self.slice_view.renderer)
        for i, r in enumerate(self.slices.renderers):
            r.SetViewport(i / 3 + 0.002, 0.0, (i + 1) / 3 - 0.002, 1.0)
            self.slice_window.AddRenderer(r)
        self.scene.set_font_scale(0.8)
        self.slices.set_font_scale(0.7)
        self.set_state(ViewState())

    def _layout(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        left = QSplitter(Qt.Vertical)
        left.addWidget(self.scene_view)
        left.addWidget(self.slice_view)
        left.setSizes([int(1000 * SCENE_SHARE), 1000 - int(1000 * SCENE_SHARE)])
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.banner)
        rl.addWidget(self.bullseye, 3)
        rl.addWidget(self.status, 2)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([int(1000 * LEFT_SHARE), 1000 - int(1000 * LEFT_SHARE)])
        grid.addWidget(split, 0, 0)

    # -- state -----------------------------------------------------------------------------------
    def active_target(self):
        name = self.state.active_target or self.spec.active_target
        return self.spec.target(name) or (self.spec.targets[0] if self.spec.targets else None)

    def set_active_target(self, name: str) -> None:
        self.scene.set_active_target(name, reset_camera=True)
        self.set_ghost(getattr(self, "ghost_mode", "whole"))

    def set_state(self, state: ViewState, extras: Optional[NavExtras] = None) -> None:
        """Apply one state to every panel (matrices and texts only; render() draws)."""
        from viewer.bullseye import bullseye_geometry

        self.state, self.extras = state, (extras or self.extras)
        if state.active_target and (self.scene.active is None or self.scene.active.name != state.active_target):
            self.set_active_target(state.active_target)
        self.scene.update(state)
        self.slices.update(state)
        self._sync_pulse_actors()
        words, grade = verdict(state)
        tgt = self.active_target()
        tol = getattr(getattr(state, "limits", None), "distance_mm", None) or 3.0
        self.bullseye.tolerance_mm = float(tol)
        bs = BullseyeState(reason=words, grade=grade, pulses=self.extras.pulses,
                           title=f"BULLSEYE  {tgt.name if tgt else ''}")
        if tgt is not None:
            pts = {k: v for k, v in self.fiducials.items() if k in ("nasion", "left ear")}
            bs = replace(bs, directions=anatomical_directions(tgt.T_mri_from_coil, pts, np.array([0.0, 0.0, 1.0])))
            if state.pose_is_current:
                g = bullseye_geometry(tgt.T_mri_from_coil, tgt.entry_mri_mm, state.T_mri_from_coil)
                h = (scalp_height_mm(np.asarray(state.T_mri_from_coil)[:3, 3], *self._scalp)
                     if self._scalp is not None else math.nan)
                bs = replace(bs, offset_xy_mm=(float(g.offset_xy_mm[0]), float(g.offset_xy_mm[1])),
                             tilt_deg=math.degrees(g.tilt_rad), tilt_dir_xy=tuple(g.tilt_dir_xy),
                             twist_deg=math.degrees(g.twist_rad), height_mm=h)
        self.bullseye.set_state(bs)
        colour = {"on": GREEN, "near": AMBER, "off": RED}.get(grade, RED)
        self.banner.setText(words)
        self.banner.setStyleSheet(f"font-size: 22px; font-weight: bold; color: white; background: {colour}; "
                                  "padding: 6px; border-radius: 4px;")
        self.status.setText(self._status_html(state))

    def _status_html(self, s: ViewState) -> str:
        e = self.extras

        def f(v, unit, d=1):
            return f"{v:.{d}f} {unit}" if v is not None and math.isfinite(v) else "--"
        lim = getattr(s, "limits", None)

        def coloured(metric, v, unit):
            if lim is None or not math.isfinite(v):
                return f"<b>{f(v, unit)}</b>"
            band = lim.band(metric, s.on_target)
            if band is None:
                return f"<b>{f(v, unit)}</b>"
            c = GREEN if abs(v) <= band[0] else (AMBER if abs(v) <= band[1] else RED)
            return f"<b style='color:{c}'>{f(v, unit)}</b>"
        cur = s.pose_is_current
        nan = math.nan
        rows = [f"distance {coloured('distance', s.distance_mm if cur else nan, 'mm')} &nbsp; "
                f"tilt {coloured('tilt', s.tilt_deg if cur else nan, 'deg')} &nbsp; "
                f"twist {coloured('twist', s.twist_deg if cur else nan, 'deg')} &nbsp; "
                f"depth <b>{f(s.depth_mm if cur else nan, 'mm')}</b>",
                f"FRE <b>{f(s.fre_mm, 'mm', 2)}</b> &nbsp; predicted TRE <b>{f(s.predicted_tre_mm, 'mm', 2)}</b>",
                f"display {f(e.display_hz, 'Hz', 0)} &nbsp; tracking {f(e.tracking_hz, 'Hz', 0)} &nbsp; "
                f"pose age {f(s.pose_age_ms, 'ms', 0)} &nbsp; latency {f(e.latency_ms, 'ms', 1)}",
                f"pulses <b>{s.pulses_delivered}</b>"
                + (f" &nbsp; <span style='color:{RED}'>last refused: {e.last_refusal}</span>" if e.last_refusal else "")]
        if e.loop_state and e.loop_state != "running":
            rows.append(f"<span style='color:{AMBER}'>loop: {e.loop_state}</span>")
        return "<br>".join(rows)

    def _sync_pulse_actors(self) -> None:
        pts = self.extras.pulse_points_mri
        while len(self._pulse_actors) > len(pts):          # a replay seeking back in time
            self.scene.overlay.RemoveActor(self._pulse_actors.pop())
        for p, on in pts[len(self._pulse_actors):]:
            a = sphere_actor(np.asarray(p, float), 1.5, (1.0, 1.0, 1.0) if on else (1.0, 0.6, 0.2))
            self.scene.overlay.AddActor(a)        # the X-ray layer: seen through the coil and the scalp
            self._pulse_actors.append(a)

    GHOST_MODES = ("whole", "without handle", "off")

    def set_ghost(self, mode: str) -> None:
        """The planned (ghost) coil: 'whole', 'without handle' (the handle hides the scalp while
        aiming) or 'off'."""
        if mode not in self.GHOST_MODES:
            raise ValueError(f"ghost mode must be one of {self.GHOST_MODES}")
        if not hasattr(self, "_ghost_meshes"):
            mapper = self.scene.ghost_actor.GetMapper()
            self._ghost_meshes = {"whole": mapper.GetInput(), "without handle": _handleless(self.spec.coil_mesh_path)}
        if mode != "off":
            self.scene.ghost_actor.GetMapper().SetInputData(self._ghost_meshes[mode])
        self.scene.ghost_actor.SetVisibility(mode != "off" and self.scene.active is not None)
        self.ghost_mode = mode

    def render(self) -> None:
        """Draw the VTK panels (the Qt panels repaint on their own)."""
        if self.scene_window is None:
            return
        self.scene_window.Render()
        if self.slices.renderers and self._slices_changed():
            self.slice_window.Render()
            self.slice_renders += 1
        if self.offscreen:
            from PySide6.QtGui import QImage
            img = QImage(self.bullseye.size(), QImage.Format_RGB32)
            self.bullseye.render(img)
        self.renders += 1

    def _slices_changed(self) -> bool:
        """Redraw the slices only when what they show changed: the focus moved by half a voxel
        (SLICE_STEP_MM) or the coil axis appeared / went (a coil held still costs no slice
        renders; the slices never lag the coil by more than half a voxel)."""
        focus = getattr(self.slices, "focus_mri_mm", None)
        key = (None if focus is None else np.asarray(focus, float).copy(), bool(self.state.pose_is_current),
               self.state.active_target)
        last = self._slice_key
        if (last is not None and last[1:] == key[1:] and last[0] is not None and key[0] is not None
                and np.linalg.norm(key[0] - last[0]) < SLICE_STEP_MM):
            return False
        self._slice_key = key
        return True

    def close_view(self) -> None:
        """Release the GL windows now (not at interpreter exit, when the X server may be gone)."""
        if self.scene_window is None:
            return
        if self.offscreen:
            self.scene_window.Finalize()
            self.slice_window.Finalize()
        else:
            for v in (self.scene_view, self.slice_view):
                release_vtk_view(v)
        self.scene_window = self.slice_window = None


def release_vtk_view(v) -> None:
    """Close a VtkView's GL window now (the view draws nothing afterwards)."""
    if getattr(v, "_released", False):
        return
    v._released = True
    v.close_view()


def _handleless(mesh_path) -> vtk.vtkPolyData:
    """The coil without its handle, coil frame mm: the generated figure-8 built without one, or a
    mesh file cut at y = 45 mm (the handle runs along +y)."""
    from viewer.coil_library import coil_polydata
    from viewer.coil_model import figure8_coil

    if not mesh_path:
        return figure8_coil(handle_length_mm=1e-3, handle_radius_mm=1e-3)
    plane = vtk.vtkPlane()
    plane.SetOrigin(0.0, 45.0, 0.0)
    plane.SetNormal(0.0, -1.0, 0.0)
    clip = vtk.vtkClipPolyData()
    clip.SetInputData(coil_polydata(mesh_path))
    clip.SetClipFunction(plane)
    clip.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(clip.GetOutput())
    return out


def _offscreen_window(size) -> vtk.vtkRenderWindow:
    rw = vtk.vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetMultiSamples(0)
    rw.SetSize(int(size[0]), int(size[1]))
    return rw


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Outward unit vertex normals (area-weighted face normals, oriented away from the centroid)."""
    n = np.zeros_like(v)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    if np.mean(np.sum(n * (v - v.mean(axis=0)), axis=1)) < 0:
        n = -n
    return n
