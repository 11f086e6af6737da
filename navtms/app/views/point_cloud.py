"""PointCloud: many points in one VTK actor (head points, residual maps), each with its colour,
drawn as round points (one draw call; a sphere actor per point would cost a draw call each).
Positions mri mm; colours RGB 0..1; `residual_colours` maps signed residuals (mm) to colours."""
from __future__ import annotations

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk


class PointCloud:
    def __init__(self, renderer: vtk.vtkRenderer, point_px: float = 9.0) -> None:
        self.poly = vtk.vtkPolyData()
        m = vtk.vtkPolyDataMapper()
        m.SetInputData(self.poly)
        m.SetScalarModeToUsePointData()
        m.SetColorModeToDirectScalars()
        self.actor = vtk.vtkActor()
        self.actor.SetMapper(m)
        p = self.actor.GetProperty()
        p.SetPointSize(point_px)
        p.SetRenderPointsAsSpheres(True)
        p.LightingOff()
        renderer.AddActor(self.actor)
        self.n = 0

    def set_points(self, points_mri_mm: np.ndarray, rgb: np.ndarray) -> None:
        """points (N, 3) mri mm; rgb (N, 3) in 0..1 (or one (3,) colour for all)."""
        pts = np.asarray(points_mri_mm, float).reshape(-1, 3)
        col = np.broadcast_to(np.asarray(rgb, float), pts.shape)
        vp = vtk.vtkPoints()
        vp.SetData(numpy_to_vtk(np.ascontiguousarray(pts), deep=True))
        verts = vtk.vtkCellArray()
        for i in range(len(pts)):
            verts.InsertNextCell(1)
            verts.InsertCellPoint(i)
        self.poly.SetPoints(vp)
        self.poly.SetVerts(verts)
        c = numpy_to_vtk(np.ascontiguousarray((np.clip(col, 0, 1) * 255).astype(np.uint8)), deep=True)
        c.SetName("rgb")
        self.poly.GetPointData().SetScalars(c)
        self.poly.Modified()
        self.n = len(pts)


def residual_colours(residuals_mm: np.ndarray, outliers: np.ndarray, scale_mm: float = 3.0) -> np.ndarray:
    """(N, 3) RGB: blue inside the scalp (negative), white on it, red outside (positive), full
    colour at |r| >= scale_mm; outliers magenta."""
    r = np.clip(np.asarray(residuals_mm, float) / scale_mm, -1.0, 1.0)
    out = np.ones((len(r), 3))
    pos, neg = r > 0, r < 0
    out[pos, 1] = out[pos, 2] = 1.0 - r[pos]
    out[neg, 0] = out[neg, 1] = 1.0 + r[neg]
    out[np.asarray(outliers, bool)] = (1.0, 0.0, 1.0)
    return out
