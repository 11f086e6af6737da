"""The 2D bullseye panel (its own vtkRenderer): where the live coil is against its plan.

Drawn in the planned coil's x/y plane (mm): screen right = planned +x, screen up = planned +y
(handle). Rings at the radii of the state's limits (the navigator's tolerances); a dot at
the live coil centre's offset from the entry;
an arrow from the dot showing the tilt (direction in which the live +z leans, length
BULLSEYE_MM_PER_DEG mm per degree); a line through the dot rotated by the twist (the planned
handle direction is the vertical reference line). Nothing live is drawn when the pose is not
current.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import vtk

from viewer.convert import set_vtk_matrix
from viewer.actors import flat_actor, line_source, make_text, scale_texts, top_down_camera
from viewer.scene import AMBER, COIL_RGB, GRADE_RGB, GREY, RED, WHITE, metric_grades, worst_grade
from viewer.state import SceneSpec, ScreenLimits, TargetSpec, ViewState

BULLSEYE_MM_PER_DEG = 1.0
PANEL_BACKGROUND = (0.11, 0.11, 0.13)


@dataclass(frozen=True)
class BullseyeGeometry:
    """Live coil against the plan, in the planned coil frame.

    offset_xy_mm: (2,) coil centre minus entry, along planned x and y (mm).
    tilt_rad: angle between live +z and planned +z; tilt_dir_xy: (2,) unit direction of the
    live +z projected on the planned x/y plane (zeros when there is no tilt).
    twist_rad: rotation of the live handle about the planned +z after removing the tilt
    (swing-twist), counter-clockwise positive.
    """

    offset_xy_mm: np.ndarray
    tilt_rad: float
    tilt_dir_xy: np.ndarray
    twist_rad: float


def bullseye_geometry(T_mri_from_plannedcoil: np.ndarray, entry_mri_mm: np.ndarray,
                      T_mri_from_coil: np.ndarray) -> BullseyeGeometry:
    """Pure maths for the bullseye (inputs in mri mm; see BullseyeGeometry)."""
    P = np.asarray(T_mri_from_plannedcoil, dtype=float)
    C = np.asarray(T_mri_from_coil, dtype=float)
    Rp = P[:3, :3]
    offset = Rp.T @ (C[:3, 3] - np.asarray(entry_mri_mm, dtype=float))
    R = Rp.T @ C[:3, :3]                 # R_plannedcoil_from_coil
    z = R[:, 2]
    tilt = math.atan2(math.hypot(z[0], z[1]), z[2])
    n = math.hypot(z[0], z[1])
    tilt_dir = np.array([z[0] / n, z[1] / n]) if n > 1e-12 else np.zeros(2)
    # swing-twist: remove the shortest rotation taking z onto e_z, then read the angle about e_z
    axis = np.cross(z, [0.0, 0.0, 1.0])
    s, c = np.linalg.norm(axis), float(np.clip(z[2], -1.0, 1.0))
    if s < 1e-12:
        S = np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    else:
        k = axis / s
        K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        S = np.eye(3) + s * K + (1 - c) * (K @ K)
    Rt = S @ R
    twist = math.atan2(Rt[1, 0], Rt[0, 0])
    return BullseyeGeometry(offset[:2].copy(), tilt, tilt_dir, twist)


def _ring(radius: float, filled: bool = False, res: int = 96):
    src = vtk.vtkRegularPolygonSource()
    src.SetNumberOfSides(res)
    src.SetRadius(radius)
    src.SetGeneratePolygon(filled)
    src.SetGeneratePolyline(not filled)
    return src


class BullseyePanel:
    """Bullseye in its own renderer (`self.renderer`), world units = mm of the planned x/y plane."""

    def __init__(self, spec: SceneSpec):
        self.spec = spec
        self.limits: Optional[ScreenLimits] = None
        self.extent_mm = 1.0
        self._fit_px = (1, 1)
        r = self.renderer = vtk.vtkRenderer()
        r.SetBackground(*PANEL_BACKGROUND)
        # unit rings and unit cross hair, scaled to the limits of the state shown (set_limits)
        self.ring_actors = [flat_actor(_ring(1.0), rgb, 2.0) for rgb in (GRADE_RGB["on"], AMBER, RED)]
        self.cross_actors = [flat_actor(line_source((0, -1, -1), (0, 1, -1)), (0.35, 0.35, 0.4), 1.0),
                             flat_actor(line_source((-1, 0, -1), (1, 0, -1)), (0.35, 0.35, 0.4), 1.0)]
        for a in (*self.ring_actors, *self.cross_actors):   # planned handle direction (+y), cross hair
            r.AddActor(a)

        self.dot_matrix = vtk.vtkMatrix4x4()
        self.dot_actor = flat_actor(_ring(0.9, filled=True, res=32), COIL_RGB)
        self.dot_actor.SetUserMatrix(self.dot_matrix)
        self.twist_matrix = vtk.vtkMatrix4x4()
        self.twist_actor = flat_actor(line_source((0, -3.5, 0.5), (0, 3.5, 0.5)), WHITE, 3.0)   # handle line
        self.twist_actor.SetUserMatrix(self.twist_matrix)
        self.tilt_matrix = vtk.vtkMatrix4x4()
        arrow = vtk.vtkAppendPolyData()
        for s in (line_source((0, 0, 0.5), (1, 0, 0.5)),                 # shaft and two head strokes
                  line_source((1, 0, 0.5), (0.75, 0.15, 0.5)), line_source((1, 0, 0.5), (0.75, -0.15, 0.5))):
            s.Update()
            arrow.AddInputData(s.GetOutput())
        self.tilt_actor = flat_actor(arrow, AMBER, 3.0)
        self.tilt_actor.SetUserMatrix(self.tilt_matrix)
        for a in (self.dot_actor, self.twist_actor, self.tilt_actor):
            r.AddActor(a)

        self.title = make_text(16, WHITE, bold=True, vjustify="top")
        self.title.SetPosition(0.03, 0.97)
        self.title.SetInput("BULLSEYE (planned coil x/y)")
        self.offset_text = make_text(22, WHITE, bold=True)
        self.offset_text.SetPosition(0.04, 0.09)
        self.angle_text = make_text(22, WHITE, bold=True)
        self.angle_text.SetPosition(0.04, 0.03)
        self.legend = make_text(13, (0.75, 0.75, 0.8), vjustify="top")
        self.legend.SetPosition(0.03, 0.915)
        self.nopose_text = make_text(22, RED, bold=True, justify="center", vjustify="center")
        self.nopose_text.SetPosition(0.5, 0.5)
        self.nopose_text.SetInput("NO CURRENT POSE")
        self.texts = [self.title, self.legend, self.offset_text, self.angle_text, self.nopose_text]
        for a in self.texts:
            r.AddViewProp(a)

        top_down_camera(r, self.extent_mm, 100.0, (-20, 20, -20, 20, -5, 5))
        self.geometry: Optional[BullseyeGeometry] = None
        self.update(ViewState())

    def set_limits(self, limits: ScreenLimits) -> None:
        """Rings at the limits' radii (green: on-target distance, amber, red), legend, extent."""
        if limits == self.limits:
            return
        self.limits = limits
        rings = limits.rings_mm
        for a, radius in zip(self.ring_actors, rings):
            a.SetScale(radius, radius, 1.0)
        self.extent_mm = 1.3 * max(rings)
        for a in self.cross_actors:
            a.SetScale(self.extent_mm, self.extent_mm, 1.0)
        self.legend.SetInput("rings " + " / ".join(f"{x:.3g}" for x in rings) + " mm, dot: coil centre\n"
                             f"arrow: tilt ({BULLSEYE_MM_PER_DEG:g} mm/\u00b0)\nline: handle (twist)")
        self.fit(*self._fit_px)

    def set_font_scale(self, scale: float) -> None:
        scale_texts(self.texts, scale)

    def fit(self, width_px: int, height_px: int) -> None:
        """Keep every ring inside a viewport of this pixel size (parallel scale = half height)."""
        self._fit_px = (int(width_px), int(height_px))
        aspect = width_px / max(1, height_px)
        self.renderer.GetActiveCamera().SetParallelScale(self.extent_mm / min(1.0, aspect))

    def update(self, state: ViewState) -> None:
        """Move dot/arrow/twist line to the state's pose (sets matrices and texts only)."""
        self.set_limits(state.limits)
        name = state.active_target or self.spec.active_target or (self.spec.targets[0].name if self.spec.targets else None)
        target: Optional[TargetSpec] = self.spec.target(name)
        show = bool(state.pose_is_current and target is not None)
        self.geometry = None
        if show:
            g = self.geometry = bullseye_geometry(target.T_mri_from_coil, target.entry_mri_mm, state.T_mri_from_coil)
            off = g.offset_xy_mm
            n = float(np.linalg.norm(off))
            lim = self.extent_mm * 0.95
            pos = off if n <= lim else off * (lim / n)   # clamp to the rim, direction kept
            T = np.eye(4)
            T[:2, 3] = pos
            set_vtk_matrix(self.dot_matrix, T)
            c, s = math.cos(g.twist_rad), math.sin(g.twist_rad)
            Tw = np.eye(4)
            Tw[:2, :2] = [[c, -s], [s, c]]
            Tw[:2, 3] = pos
            set_vtk_matrix(self.twist_matrix, Tw)
            L = max(1e-3, math.degrees(g.tilt_rad) * BULLSEYE_MM_PER_DEG)
            d = g.tilt_dir_xy if np.linalg.norm(g.tilt_dir_xy) > 0 else np.array([1.0, 0.0])
            Tt = np.eye(4)
            Tt[:2, :2] = [[d[0] * L, -d[1] * L], [d[1] * L, d[0] * L]]
            Tt[:2, 3] = pos
            set_vtk_matrix(self.tilt_matrix, Tt)
            grades = metric_grades(state.with_(
                distance_mm=state.distance_mm if math.isfinite(state.distance_mm) else n,
                tilt_deg=state.tilt_deg if math.isfinite(state.tilt_deg) else math.degrees(g.tilt_rad),
                twist_deg=state.twist_deg if math.isfinite(state.twist_deg) else math.degrees(g.twist_rad)))
            self.dot_actor.GetProperty().SetColor(*(COIL_RGB if grades["distance"] != "off" else RED))
            self.tilt_actor.SetVisibility(math.degrees(g.tilt_rad) > 0.05)
            self.offset_text.SetInput(f"x {off[0]:+.1f}  y {off[1]:+.1f} mm")
            self.offset_text.GetTextProperty().SetColor(*GRADE_RGB[grades["distance"]])
            tilt_deg = state.tilt_deg if math.isfinite(state.tilt_deg) else math.degrees(g.tilt_rad)
            twist_deg = state.twist_deg if math.isfinite(state.twist_deg) else math.degrees(g.twist_rad)
            self.angle_text.SetInput(f"tilt {tilt_deg:.1f}\u00b0  twist {twist_deg:+.1f}\u00b0")
            self.angle_text.GetTextProperty().SetColor(*GRADE_RGB[worst_grade(grades["tilt"], grades["twist"])])
        else:
            self.offset_text.SetInput("x --  y --")
            self.offset_text.GetTextProperty().SetColor(*GREY)
            self.angle_text.SetInput("tilt --  twist --")
            self.angle_text.GetTextProperty().SetColor(*GREY)
            self.tilt_actor.SetVisibility(False)
        self.dot_actor.SetVisibility(show)
        self.twist_actor.SetVisibility(show)
        self.nopose_text.SetVisibility(not show)

    def prop_count(self) -> int:
        return self.renderer.GetViewProps().GetNumberOfItems()
