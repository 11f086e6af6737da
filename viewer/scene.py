"""The 3D navigation scene: head, targets, planned (ghost) and live coil, numbers on screen.

NavigationScene(spec) builds every actor ONCE; update(state) only sets matrices (via
actor.SetUserMatrix on a vtkMatrix4x4 owned by the scene), visibility, colours and texts.
All geometry is in the `mri` frame (scanner RAS+, mm); coil meshes live in the `coil` frame
and are placed with T_mri_from_coil.

Safety: the live coil is drawn only when the state says the pose is current (coil and head
seen, not stale). A stale pose is drawn as a grey wireframe under a STALE banner; a coil not
seen is not drawn at all and a COIL NOT VISIBLE banner shows. FRE and predicted TRE are
always on screen.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import vtk

from navcore.transforms import check_rigid
from viewer.actors import make_text, mesh_actor, scale_texts, sphere_actor
from viewer.coil_library import coil_polydata
from viewer.convert import polydata_from_surface, set_vtk_matrix
from viewer.state import SceneSpec, TargetSpec, ViewState

# Colours (RGB 0-1). Only the live coil is blue, so tests and eyes can find it.
BACKGROUND = (0.07, 0.07, 0.08)
COIL_RGB = (0.15, 0.45, 1.0)
GHOST_RGB = (1.0, 0.85, 0.25)
STALE_RGB = (0.6, 0.6, 0.6)
SCALP_RGB = (0.93, 0.78, 0.66)
BRAIN_RGB = (0.85, 0.6, 0.6)
TARGET_RGB = (1.0, 0.2, 0.75)
OTHER_TARGET_RGB = (0.55, 0.45, 0.55)
ENTRY_RGB = (1.0, 1.0, 1.0)
AXIS_RGB = (0.65, 0.95, 1.0)
LABEL_RGB = (0.2, 0.95, 0.55)    # EEG electrode / 10-20 labels
GREEN = (0.2, 0.95, 0.35)
AMBER = (1.0, 0.72, 0.0)
RED = (1.0, 0.25, 0.2)
GREY = (0.6, 0.6, 0.6)
WHITE = (0.95, 0.95, 0.95)

AXIS_LENGTH_MM = 90.0
CAMERA_ELEVATION_DEG = 45.0   # camera between the coil normal and the front of the head
CAMERA_DISTANCE_MM = 470.0
LIVE_COIL_OPACITY = 1.0      # opaque: the target is shown through it by the X-ray overlay
TARGET_RADIUS_MM = 4.0


def grade(value: float, band: tuple[float, float]) -> str:
    """'on' when |value| <= band[0], 'near' when <= band[1], 'off' beyond, 'unknown' for NaN."""
    if value is None or not math.isfinite(value):
        return "unknown"
    v = abs(value)
    return "on" if v <= band[0] else ("near" if v <= band[1] else "off")


GRADE_RGB = {"on": GREEN, "near": AMBER, "off": RED, "unknown": GREY, "info": WHITE}
GRADE_ORDER = ("info", "on", "near", "off", "unknown")


def metric_grades(state: ViewState) -> dict[str, str]:
    """Grade of the distance, tilt and twist rows under the state's limits (the loop's
    tolerances) and the loop's on-target verdict (its hysteresis): 'on' (green) exactly when
    the loop's rule passes the row; 'info' for a row the loop does not check (twist without a
    twist tolerance). A state on target therefore has no row that is not green, and a state
    off target (with a pose) has at least one."""
    out = {}
    for key, value in (("distance", state.distance_mm), ("tilt", state.tilt_deg), ("twist", state.twist_deg)):
        band = state.limits.band(key, state.on_target)
        if band is None:
            out[key] = "info" if value is not None and math.isfinite(value) else "unknown"
        else:
            out[key] = grade(value, band)
    return out


def worst_grade(*grades: str) -> str:
    """The worst of some grades (info < on < near < off < unknown)."""
    return max(grades, key=GRADE_ORDER.index)


def _fmt(value: float, unit: str, digits: int = 1) -> str:
    sep = "" if unit == "\u00b0" else " "
    return "--" if value is None or not math.isfinite(value) else f"{value:.{digits}f}{sep}{unit}"


def banner_text(state: ViewState) -> str:
    """The warning banner for a state ('' when all is well)."""
    lines = []
    if not state.has_pose:
        lines.append("COIL NOT VISIBLE")
    if not state.head_visible:
        lines.append("HEAD NOT VISIBLE")
    if state.stale:
        age = "" if not math.isfinite(state.pose_age_ms) else f" ({state.pose_age_ms:.0f} ms old)"
        lines.append("STALE POSE" + age)
    return "\n".join(lines)


class NavigationScene:
    """The 3D view (one vtkRenderer, `self.renderer`). Build once, then update(state) often."""

    def __init__(self, spec: SceneSpec):
        self.spec = spec
        r = self.renderer = vtk.vtkRenderer()
        r.SetBackground(*BACKGROUND)
        r.SetUseDepthPeeling(bool(spec.depth_peeling))
        r.SetMaximumNumberOfPeels(4)
        # Without peeling, plain alpha blending (translucent actors cull their back faces);
        # VTK's default order-independent translucency costs ~20 ms per layer in software GL.
        r.SetUseOIT(False)

        self.scalp_actor = mesh_actor(polydata_from_surface(spec.scalp), SCALP_RGB, spec.scalp_opacity)
        self.scalp_actor.GetProperty().BackfaceCullingOn()
        r.AddActor(self.scalp_actor)
        self.brain_actor: Optional[vtk.vtkActor] = None
        if spec.brain is not None:
            self.brain_actor = mesh_actor(polydata_from_surface(spec.brain), BRAIN_RGB, 1.0)
            # a closed surface seen from outside: its back faces are hidden anyway, and not
            # shading them saves fill rate in software GL (as in viewer.plan_scene)
            self.brain_actor.GetProperty().BackfaceCullingOn()
            r.AddActor(self.brain_actor)

        # X-ray overlay: a second layer with the same camera that draws the active target on
        # top of everything (through the scalp and the coil), semi-transparent.
        o = self.overlay = vtk.vtkRenderer()
        o.SetLayer(1)
        o.InteractiveOff()
        o.SetActiveCamera(r.GetActiveCamera())
        o.SetUseOIT(False)
        for t in spec.targets:
            check_rigid(t.T_mri_from_coil, f"the planned coil pose of target {t.name!r}")
        self.target_actors: dict[str, tuple[vtk.vtkActor, vtk.vtkActor]] = {}
        self.xray_actors: dict[str, vtk.vtkActor] = {}
        for t in spec.targets:
            ta = sphere_actor(t.target_mri_mm, TARGET_RADIUS_MM, OTHER_TARGET_RGB)
            ea = sphere_actor(t.entry_mri_mm, 2.0, ENTRY_RGB)
            xa = sphere_actor(t.target_mri_mm, TARGET_RADIUS_MM, TARGET_RGB)
            xa.GetProperty().SetOpacity(0.55)
            r.AddActor(ta)
            r.AddActor(ea)
            o.AddActor(xa)
            self.target_actors[t.name] = (ta, ea)
            self.xray_actors[t.name] = xa

        coil = coil_polydata(spec.coil_mesh_path, spec.coil_mesh_transform)
        self.ghost_matrix = vtk.vtkMatrix4x4()
        self.ghost_actor = mesh_actor(coil, GHOST_RGB, 0.3)
        self.ghost_actor.GetProperty().BackfaceCullingOn()   # translucent without depth peeling
        # where the live coil coincides with the plan, the live coil wins the depth test (the
        # per-mapper offset needs VTK's process-wide polygon-offset mode; same for every mapper)
        vtk.vtkMapper.SetResolveCoincidentTopologyToPolygonOffset()
        self.ghost_actor.GetMapper().SetRelativeCoincidentTopologyPolygonOffsetParameters(1.0, 20.0)
        self.ghost_actor.SetUserMatrix(self.ghost_matrix)
        r.AddActor(self.ghost_actor)

        self.coil_matrix = vtk.vtkMatrix4x4()
        self.live_coil_actor = mesh_actor(coil, COIL_RGB, LIVE_COIL_OPACITY)
        self.live_coil_actor.SetUserMatrix(self.coil_matrix)
        r.AddActor(self.live_coil_actor)
        self.stale_coil_actor = mesh_actor(coil, STALE_RGB, 0.6)
        self.stale_coil_actor.GetProperty().SetRepresentationToWireframe()
        self.stale_coil_actor.SetUserMatrix(self.coil_matrix)
        r.AddActor(self.stale_coil_actor)

        line = vtk.vtkLineSource()
        line.SetPoint1(0.0, 0.0, 0.0)
        line.SetPoint2(0.0, 0.0, AXIS_LENGTH_MM)   # coil centre along +z, into the head
        line.Update()
        self.axis_actor = mesh_actor(line.GetOutput(), AXIS_RGB)
        self.axis_actor.GetProperty().SetLineWidth(3.0)
        self.axis_actor.GetProperty().SetLighting(False)
        self.axis_actor.SetUserMatrix(self.coil_matrix)
        r.AddActor(self.axis_actor)

        # EEG electrode / 10-20 labels on the scalp: a dot and its name at each position
        self.label_actors: dict[str, tuple[vtk.vtkActor, vtk.vtkBillboardTextActor3D]] = {}
        for name, pos in spec.scalp_labels:
            dot = sphere_actor(pos, 1.5, LABEL_RGB)
            txt = vtk.vtkBillboardTextActor3D()
            txt.SetInput(str(name))
            txt.SetPosition(*np.asarray(pos, dtype=float))
            txt.GetTextProperty().SetFontSize(14)
            txt.GetTextProperty().SetColor(*LABEL_RGB)
            txt.GetTextProperty().SetJustificationToCentered()
            r.AddActor(dot)
            r.AddActor(txt)
            self.label_actors[str(name)] = (dot, txt)
        self._label_centre = np.asarray(spec.scalp.vertices, dtype=float).mean(axis=0)

        # screen texts (normalized viewport coordinates of the 3D view)
        self.title_text = make_text(20, WHITE, bold=True, vjustify="top")
        self.title_text.SetPosition(0.015, 0.975)
        self.metric_texts = {}
        for i, key in enumerate(("distance", "tilt", "twist", "depth")):
            a = make_text(30, GREY, bold=True, vjustify="top")
            a.SetPosition(0.015, 0.91 - 0.085 * i)
            self.metric_texts[key] = a
        self.on_target_text = make_text(34, GREEN, bold=True, justify="right", vjustify="top")
        self.on_target_text.SetPosition(0.985, 0.975)
        self.on_target_text.SetInput("ON TARGET")
        self.reason_text = make_text(22, AMBER, bold=True, justify="right", vjustify="top")
        self.reason_text.SetPosition(0.985, 0.975)
        self.quality_text = make_text(20, WHITE, bold=True)
        self.quality_text.SetPosition(0.015, 0.075)
        self.age_text = make_text(16, WHITE)
        self.age_text.SetPosition(0.015, 0.02)
        self.pulses_text = make_text(20, WHITE, bold=True, justify="right")
        self.pulses_text.SetPosition(0.985, 0.075)
        self.status_text = make_text(16, WHITE, justify="right")
        self.status_text.SetPosition(0.985, 0.02)
        self.banner = make_text(30, WHITE, bold=True, justify="center", vjustify="center")
        self.banner.SetPosition(0.5, 0.86)
        bp = self.banner.GetTextProperty()
        bp.SetBackgroundColor(0.75, 0.05, 0.05)
        bp.SetBackgroundOpacity(0.85)
        bp.SetFrame(True)
        bp.SetFrameColor(1.0, 1.0, 1.0)
        self.texts = [self.title_text, *self.metric_texts.values(), self.on_target_text, self.reason_text,
                      self.quality_text, self.age_text, self.pulses_text, self.status_text, self.banner]
        for a in self.texts:
            r.AddViewProp(a)

        self.active: Optional[TargetSpec] = None
        self.set_active_target(spec.active_target or (spec.targets[0].name if spec.targets else None))
        self.update(ViewState())

    # -- static changes -------------------------------------------------------------------
    def set_active_target(self, name: Optional[str], reset_camera: bool = True) -> None:
        """Highlight target `name`, place the ghost coil at its planned pose, aim the camera."""
        self.active = self.spec.target(name)
        for tname, (ta, _ea) in self.target_actors.items():
            active = self.active is not None and tname == self.active.name
            ta.GetProperty().SetColor(*(TARGET_RGB if active else OTHER_TARGET_RGB))
            self.xray_actors[tname].SetVisibility(active)
        if self.active is not None:
            set_vtk_matrix(self.ghost_matrix, self.active.T_mri_from_coil)
        self.ghost_actor.SetVisibility(self.active is not None)
        if reset_camera:
            self.reset_camera()

    def reset_camera(self) -> None:
        """Look at the active target from outside the head: 45 deg between the planned coil's
        outward normal and the front of the head (mri +y), head upright (mri +z up); without a
        target, frame the whole scalp."""
        cam = self.renderer.GetActiveCamera()
        if self.active is None:
            self.renderer.ResetCamera(self.scalp_actor.GetBounds())
            return
        T = np.asarray(self.active.T_mri_from_coil, dtype=float)
        z = T[:3, 2]
        front = np.array([0.0, 1.0, 0.0]) - z[1] * z
        if np.linalg.norm(front) < 0.2:           # target at the very front/back: use the handle
            front = -T[:3, 1]
        front /= np.linalg.norm(front)
        view_dir = -z * math.cos(math.radians(CAMERA_ELEVATION_DEG)) + front * math.sin(math.radians(CAMERA_ELEVATION_DEG))
        view_dir /= np.linalg.norm(view_dir)
        focus = 0.6 * np.asarray(self.active.entry_mri_mm, float) + 0.4 * np.asarray(self.active.target_mri_mm, float)
        up = np.array([0.0, 0.0, 1.0]) - view_dir[2] * view_dir
        if np.linalg.norm(up) < 0.2:
            up = T[:3, 1]
        cam.SetFocalPoint(*focus)
        cam.SetPosition(*(focus + CAMERA_DISTANCE_MM * view_dir))
        cam.SetViewUp(*up)
        cam.SetViewAngle(30.0)
        cam.OrthogonalizeViewUp()
        self.renderer.ResetCameraClippingRange()

    def set_font_scale(self, scale: float) -> None:
        """Scale every text (1.0 = sizes for a 720-pixel-high window)."""
        scale_texts(self.texts, scale)

    # -- per update: matrices, visibility, colours, texts only ----------------------------
    def update(self, state: ViewState) -> None:
        """Show one ViewState. Creates nothing; only sets matrices, visibility, colours, texts."""
        if state.active_target is not None and (self.active is None or state.active_target != self.active.name):
            self.set_active_target(state.active_target)     # new target: ghost moves, camera re-aims
        current = state.pose_is_current
        has_pose = state.has_pose
        if has_pose:
            set_vtk_matrix(self.coil_matrix, state.T_mri_from_coil)
        self.live_coil_actor.SetVisibility(current)
        self.axis_actor.SetVisibility(current)
        self.stale_coil_actor.SetVisibility(has_pose and not current)
        self.update_label_visibility()

        name = self.active.name if self.active is not None else "(no target)"
        self.title_text.SetInput(f"Target: {name}")
        grades = metric_grades(state)
        grades["depth"] = "info" if math.isfinite(state.depth_mm) else "unknown"
        rows = {"distance": ("DIST", state.distance_mm, "mm"), "tilt": ("TILT", state.tilt_deg, "\u00b0"),
                "twist": ("TWIST", state.twist_deg, "\u00b0"), "depth": ("DEPTH", state.depth_mm, "mm")}
        for key, (label, value, unit) in rows.items():
            a = self.metric_texts[key]
            if current:
                a.SetInput(f"{label:<6}{_fmt(value, unit)}")
                a.GetTextProperty().SetColor(*GRADE_RGB[grades[key]])
            else:
                a.SetInput(f"{label:<6}--")
                a.GetTextProperty().SetColor(*GREY)
        self.on_target_text.SetVisibility(bool(current and state.on_target))
        why = "\n".join(state.off_target_reasons) if current and not state.on_target else ""
        self.reason_text.SetInput(("OFF TARGET\n" + why) if why else " ")
        self.reason_text.SetVisibility(bool(why))
        self.quality_text.SetInput(f"FRE {_fmt(state.fre_mm, 'mm')}    predicted TRE {_fmt(state.predicted_tre_mm, 'mm')}")
        reg_known = math.isfinite(state.fre_mm) and math.isfinite(state.predicted_tre_mm)
        self.quality_text.GetTextProperty().SetColor(*(WHITE if reg_known else AMBER))
        self.age_text.SetInput(f"pose age {_fmt(state.pose_age_ms, 'ms', 0)}")
        self.age_text.GetTextProperty().SetColor(*(RED if state.stale else WHITE))
        self.pulses_text.SetInput(f"pulses {state.pulses_delivered}")
        self.status_text.SetInput(state.status or "")
        text = banner_text(state)
        self.banner.SetInput(text or " ")
        self.banner.SetVisibility(bool(text))

    def update_label_visibility(self) -> None:
        """Show only the scalp labels on the side of the head facing the camera (labels through a
        translucent scalp would read as the wrong electrodes)."""
        if not self.label_actors:
            return
        cam = np.array(self.renderer.GetActiveCamera().GetPosition())
        centre = self._label_centre
        for dot, txt in self.label_actors.values():
            p = np.array(txt.GetPosition())
            facing = float((p - centre) @ (cam - p)) > 0.0
            dot.SetVisibility(facing)
            txt.SetVisibility(facing)

    @property
    def renderers(self) -> list[vtk.vtkRenderer]:
        """The scene renderer (layer 0) and its X-ray overlay (layer 1, same camera and viewport)."""
        return [self.renderer, self.overlay]

    def set_viewport(self, x0: float, y0: float, x1: float, y1: float) -> None:
        for r in self.renderers:
            r.SetViewport(x0, y0, x1, y1)

    def prop_count(self) -> int:
        """Number of props in the scene's renderers (constant after construction)."""
        return sum(r.GetViewProps().GetNumberOfItems() for r in self.renderers)
