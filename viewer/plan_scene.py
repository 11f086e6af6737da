"""The planner's 3D scene: translucent scalp, brain, markers (targets, entries, fiducials) and
ghost coils, in one vtkRenderer. No Qt here: the workbench's SceneView embeds it in a widget,
`navtms bench viewer` renders it offscreen.

Frames and units: everything in `mri` (scanner RAS+) mm; a coil is placed by its 4x4
`T_mri_from_coil` (coil frame: origin on the coil face, +z into the head, +y along the handle).

Speed (software OpenGL): surfaces are drawn from display copies decimated to
`max_display_triangles` (brain) and `scalp_display_triangles` (scalp) (vtkQuadricDecimation; the full meshes stay with the planner for
the maths), no depth peeling and no order-independent translucency (the translucent scalp
culls its back faces so it still reads correctly), multisampling is the render window's
business (the caller turns it off).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import vtk

from viewer.actors import mesh_actor, sphere_actor
from viewer.coil_library import coil_polydata
from viewer.convert import polydata_from_surface, set_vtk_matrix
from viewer.scene import BACKGROUND, BRAIN_RGB, GHOST_RGB, SCALP_RGB

# Display budgets. In llvmpipe the frame is per-triangle setup (~0.2 us a triangle) plus
# per-covered-pixel shading; measured at 1280x720 (`navtms bench viewer`): brain 20k + scalp 20k
# ~24 ms CPU a frame, brain 12k + scalp 6k ~18 ms, same picture to the eye (docs/app.md).
DISPLAY_TRIANGLES = 12_000         # the opaque brain (gyri stay readable)
SCALP_DISPLAY_TRIANGLES = 6_000    # the translucent scalp: smooth, seen through, needs no more


@dataclass(frozen=True)
class Marker:
    """A point to draw: key (unique id), position (3,) mri mm, colour RGB 0..1, label text,
    radius_mm (sphere in 3D, ring in a slice)."""

    key: str
    position_mri_mm: np.ndarray
    rgb: tuple = (1.0, 0.2, 0.75)
    label: str = ""
    radius_mm: float = 3.0


def decimate_for_display(surface, max_triangles: int = DISPLAY_TRIANGLES) -> vtk.vtkPolyData:
    """A display copy of a surface (anything with .vertices/.faces, mm) with at most about
    `max_triangles` triangles (vtkQuadricDecimation) and smooth normals. The input is untouched."""
    pd = polydata_from_surface(surface)
    n = pd.GetNumberOfPolys()
    if n > max_triangles > 0:
        dec = vtk.vtkQuadricDecimation()
        dec.SetInputData(pd)
        dec.SetTargetReduction(1.0 - max_triangles / n)
        dec.VolumePreservationOn()
        dec.Update()
        pd = dec.GetOutput()
    nrm = vtk.vtkPolyDataNormals()
    nrm.SetInputData(pd)
    nrm.SplittingOff()
    nrm.ConsistencyOn()
    nrm.AutoOrientNormalsOn()
    nrm.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(nrm.GetOutput())
    return out


class PlanScene:
    """The head, markers and a ghost coil in `self.renderer`, markers again in the X-ray
    `self.overlay` (attach(render_window) adds both).

    set_surfaces(scalp, brain) once per plan; set_markers / set_coil whenever the plan changes
    (they rebuild only the few small actors); pick(x, y) for clicks on the brain or scalp."""

    def __init__(self, scalp_opacity: float = 0.35, max_display_triangles: int = DISPLAY_TRIANGLES,
                 scalp_display_triangles: int = SCALP_DISPLAY_TRIANGLES):
        self.renderer = vtk.vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND)
        self.renderer.SetUseDepthPeeling(False)
        self.renderer.SetUseOIT(False)
        self.scalp_opacity = scalp_opacity
        self.max_display_triangles = max_display_triangles
        # the scalp's budget never exceeds the per-surface one
        self.scalp_display_triangles = min(int(scalp_display_triangles), int(max_display_triangles))
        # X-ray layer: markers drawn again on top of everything, half transparent, so a target
        # inside the brain is seen through the cortex and the coil (same camera)
        self.overlay = vtk.vtkRenderer()
        self.overlay.SetLayer(1)
        self.overlay.InteractiveOff()
        self.overlay.SetActiveCamera(self.renderer.GetActiveCamera())
        self.overlay.SetUseOIT(False)
        self._xray_actors: list[vtk.vtkActor] = []
        self.scalp_actor: Optional[vtk.vtkActor] = None
        self.brain_actor: Optional[vtk.vtkActor] = None
        self._marker_actors: list[vtk.vtkActor] = []
        self._coil_matrix = vtk.vtkMatrix4x4()
        self.coil_actor = mesh_actor(coil_polydata(None), GHOST_RGB, 0.4)
        self.coil_actor.GetProperty().BackfaceCullingOn()
        self.coil_actor.SetUserMatrix(self._coil_matrix)
        self.coil_actor.SetVisibility(False)
        self.renderer.AddActor(self.coil_actor)
        self._axis_src = vtk.vtkLineSource()
        self._axis_src.SetPoint1(0.0, 0.0, -20.0)
        self._axis_src.SetPoint2(0.0, 0.0, 60.0)
        self.axis_actor = mesh_actor(self._axis_src, (0.65, 0.95, 1.0))
        self.axis_actor.GetProperty().SetLighting(False)
        self.axis_actor.GetProperty().SetLineWidth(2.0)
        self.axis_actor.SetUserMatrix(self._coil_matrix)
        self.axis_actor.SetVisibility(False)
        self.renderer.AddActor(self.axis_actor)
        self._picker = vtk.vtkCellPicker()
        self._picker.SetTolerance(0.0005)
        self._picker.PickFromListOn()

    # -- content ---------------------------------------------------------------------------
    def set_surfaces(self, scalp, brain=None) -> None:
        """Replace the head surfaces (mri mm; decimated copies are drawn). Either may be None."""
        for a in (self.scalp_actor, self.brain_actor):
            if a is not None:
                self.renderer.RemoveActor(a)
        self.scalp_actor = self.brain_actor = None
        if brain is not None:
            self.brain_actor = mesh_actor(decimate_for_display(brain, self.max_display_triangles), BRAIN_RGB, 1.0)
            # a closed surface: its back faces are never seen; not drawing them cut the frame
            # from ~35 to ~26 ms CPU at 1280x720 in software GL (fill-rate bound)
            self.brain_actor.GetProperty().BackfaceCullingOn()
            self.renderer.AddActor(self.brain_actor)
        if scalp is not None:
            self.scalp_actor = mesh_actor(decimate_for_display(scalp, self.scalp_display_triangles), SCALP_RGB,
                                          self.scalp_opacity)
            self.scalp_actor.GetProperty().BackfaceCullingOn()
            self.renderer.AddActor(self.scalp_actor)

    def set_markers(self, markers: Sequence[Marker]) -> None:
        """Draw these markers as spheres (replacing the previous ones)."""
        for a in self._marker_actors:
            self.renderer.RemoveActor(a)
        for a in self._xray_actors:
            self.overlay.RemoveActor(a)
        self._marker_actors = [sphere_actor(m.position_mri_mm, m.radius_mm, m.rgb) for m in markers]
        self._xray_actors = [sphere_actor(m.position_mri_mm, m.radius_mm, m.rgb) for m in markers]
        for a in self._marker_actors:
            self.renderer.AddActor(a)
        for a in self._xray_actors:
            a.GetProperty().SetOpacity(0.45)
            self.overlay.AddActor(a)

    @property
    def renderers(self) -> list:
        """The scene (layer 0) and its X-ray marker overlay (layer 1); add both to a render
        window with SetNumberOfLayers(2) (attach() does)."""
        return [self.renderer, self.overlay]

    def attach(self, render_window) -> None:
        render_window.SetNumberOfLayers(2)
        for r in self.renderers:
            render_window.AddRenderer(r)

    def set_coil(self, T_mri_from_coil: Optional[np.ndarray]) -> None:
        """Show the ghost coil (and its axis) at this planned pose, or hide it (None)."""
        show = T_mri_from_coil is not None
        if show:
            set_vtk_matrix(self._coil_matrix, np.asarray(T_mri_from_coil, dtype=np.float64))
        self.coil_actor.SetVisibility(show)
        self.axis_actor.SetVisibility(show)

    def display_triangles(self) -> dict:
        """Triangles drawn per surface (after decimation), for benches and tests."""
        out = {}
        for name, a in (("scalp", self.scalp_actor), ("brain", self.brain_actor)):
            if a is not None:
                out[name] = a.GetMapper().GetInput().GetNumberOfPolys()
        return out

    # -- camera and picking ----------------------------------------------------------------
    def reset_camera(self, view_dir=(-0.6, 0.8, 0.45), up=(0.0, 0.0, 1.0)) -> None:
        """Frame the head from `view_dir` (mri, from the head towards the camera), +z up."""
        r = self.renderer
        bounds = (self.scalp_actor or self.brain_actor).GetBounds() if (self.scalp_actor or self.brain_actor) else None
        cam = r.GetActiveCamera()
        d = np.asarray(view_dir, float)
        d /= np.linalg.norm(d)
        if bounds is None:
            c, size = np.zeros(3), 200.0
        else:
            b = np.asarray(bounds).reshape(3, 2)
            c, size = b.mean(axis=1), float(np.linalg.norm(b[:, 1] - b[:, 0]))
        cam.SetFocalPoint(*c)
        cam.SetPosition(*(c + 1.7 * size * d))
        cam.SetViewUp(*up)
        cam.SetViewAngle(30.0)
        cam.OrthogonalizeViewUp()
        r.ResetCameraClippingRange()

    def look_at(self, T_mri_from_coil: np.ndarray, distance_mm: float = 600.0, elevation_deg: float = 50.0) -> None:
        """Aim the camera at a planned coil from outside the head: from its outward normal
        tilted `elevation_deg` towards the front of the head (mri +y), head upright (+z up)."""
        T = np.asarray(T_mri_from_coil, dtype=np.float64)
        z = T[:3, 2]
        front = np.array([0.0, 1.0, 0.0]) - z[1] * z
        front = front / np.linalg.norm(front) if np.linalg.norm(front) > 0.2 else -T[:3, 1]
        e = np.deg2rad(elevation_deg)
        d = -z * np.cos(e) + front * np.sin(e)
        focus = T[:3, 3] + 25.0 * z
        cam = self.renderer.GetActiveCamera()
        up = np.array([0.0, 0.0, 1.0]) - d[2] * d / (d @ d)
        cam.SetFocalPoint(*focus)
        cam.SetPosition(*(focus + distance_mm * d / np.linalg.norm(d)))
        cam.SetViewUp(*(up if np.linalg.norm(up) > 0.2 else T[:3, 1]))
        cam.SetViewAngle(30.0)
        cam.OrthogonalizeViewUp()
        self.renderer.ResetCameraClippingRange()

    def pick(self, display_x: float, display_y: float, order=("brain", "scalp")) -> Optional[tuple[np.ndarray, str]]:
        """The surface point under a display position (VTK display pixels, y up), trying the
        surfaces in `order` (default: the brain, seen through the translucent scalp, then the
        scalp): (point (3,) mri mm, "brain" or "scalp"), or None."""
        actors = {"brain": self.brain_actor, "scalp": self.scalp_actor}
        for name in order:
            actor = actors[name]
            if actor is None:
                continue
            self._picker.InitializePickList()
            self._picker.AddPickList(actor)
            if self._picker.Pick(display_x, display_y, 0.0, self.renderer) and self._picker.GetCellId() >= 0:
                return np.array(self._picker.GetPickPosition(), dtype=np.float64), name
        return None
