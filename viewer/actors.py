"""Small VTK actor builders shared by the 3D scene, the slice panels and the bullseye.

All geometry is in the renderer's world units (mm); colours are RGB floats in 0..1. Actors are
built once at start-up; per-frame updates only move matrices and set texts.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import vtk


def make_text(size: int, rgb=(1.0, 1.0, 1.0), bold: bool = False, justify: str = "left",
              vjustify: str = "bottom") -> vtk.vtkTextActor:
    """A screen-space text actor positioned in normalized viewport coordinates; `size` is the
    font size for a 720-pixel-high window (see scale_texts)."""
    a = vtk.vtkTextActor()
    p = a.GetTextProperty()
    p.SetFontSize(size)
    p.SetColor(*rgb)
    p.SetBold(bold)
    p.SetFontFamilyToArial()
    {"left": p.SetJustificationToLeft, "center": p.SetJustificationToCentered,
     "right": p.SetJustificationToRight}[justify]()
    {"bottom": p.SetVerticalJustificationToBottom, "center": p.SetVerticalJustificationToCentered,
     "top": p.SetVerticalJustificationToTop}[vjustify]()
    a.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    a._base_size = size  # scaled by scale_texts
    return a


def scale_texts(texts: Iterable[vtk.vtkTextActor], scale: float) -> None:
    """Scale texts made by make_text (1.0 = their sizes for a 720-pixel-high window; 8 pt least)."""
    for a in texts:
        a.GetTextProperty().SetFontSize(max(8, int(round(a._base_size * scale))))


def line_source(p1, p2) -> vtk.vtkLineSource:
    """A line from p1 to p2 (mm)."""
    src = vtk.vtkLineSource()
    src.SetPoint1(*p1)
    src.SetPoint2(*p2)
    return src


def flat_actor(src: vtk.vtkAlgorithm, rgb, width: float = 2.0) -> vtk.vtkActor:
    """Unlit actor of a source's output (lines and flat marks of 2D panels); width in pixels."""
    src.Update()
    m = vtk.vtkPolyDataMapper()
    m.SetInputData(src.GetOutput())
    a = vtk.vtkActor()
    a.SetMapper(m)
    p = a.GetProperty()
    p.SetColor(*rgb)
    p.SetLineWidth(width)
    p.SetLighting(False)
    return a


def sphere_actor(center, radius: float, rgb) -> vtk.vtkActor:
    """A lit sphere at `center` (mm) of `radius` (mm)."""
    src = vtk.vtkSphereSource()
    src.SetCenter(*np.asarray(center, dtype=float))
    src.SetRadius(radius)
    src.SetThetaResolution(24)
    src.SetPhiResolution(16)
    return mesh_actor(src, rgb, ambient=0.0, diffuse=1.0, specular=0.0)


def mesh_actor(pd: vtk.vtkPolyData | vtk.vtkAlgorithm, rgb, opacity: float = 1.0, ambient: float = 0.25,
               diffuse: float = 0.75, specular: float = 0.1) -> vtk.vtkActor:
    """A lit surface actor of a vtkPolyData (or a source's output), scalars ignored."""
    if isinstance(pd, vtk.vtkAlgorithm):
        pd.Update()
        pd = pd.GetOutput()
    m = vtk.vtkPolyDataMapper()
    m.SetInputData(pd)
    m.ScalarVisibilityOff()
    a = vtk.vtkActor()
    a.SetMapper(m)
    p = a.GetProperty()
    p.SetColor(*rgb)
    p.SetOpacity(opacity)
    p.SetAmbient(ambient)
    p.SetDiffuse(diffuse)
    p.SetSpecular(specular)
    return a


def top_down_camera(renderer: vtk.vtkRenderer, half_height_mm: float, distance_mm: float,
                    bounds_mm: tuple[float, ...]) -> None:
    """A parallel-projection camera looking down -z at the origin, +y up, showing
    `half_height_mm` above and below the centre; clipping fitted to `bounds_mm`
    (xmin, xmax, ymin, ymax, zmin, zmax)."""
    cam = renderer.GetActiveCamera()
    cam.ParallelProjectionOn()
    cam.SetPosition(0, 0, distance_mm)
    cam.SetFocalPoint(0, 0, 0)
    cam.SetViewUp(0, 1, 0)
    cam.SetParallelScale(half_height_mm)
    renderer.ResetCameraClippingRange(*bounds_mm)
