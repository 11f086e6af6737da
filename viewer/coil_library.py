"""A small library of TMS coil shapes drawn to scale, and a clinic's own mesh.

Every shape is in the navtms coil frame (mm): origin = the coil's hotspot on its face (the centre
of the figure-8 junction, the double-cone's apex line, the H-coil's nominal stimulation point),
+z into the head, +y along the handle, the body at z <= 0.

Dimensions are the nominal outer dimensions of each coil class (winding outer/inner diameters,
casing thickness), the sizes the coil's name and the manufacturers' and modelling papers' tables
give (Deng, Lisanby & Peterchev 2013, Brain Stimul 6:1-13, doi:10.1016/j.brs.2012.02.005, table of
50 coil geometries; Magstim "70 mm" = mean winding diameter). They are for display (what the
operator sees of the coil relative to the head), not for e-field modelling; a clinic that needs
its coil exactly gives its own mesh (`--coil-model FILE` with `--coil-model-transform`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vtk

from navcore.errors import InputFileError
from viewer.coil_model import figure8_coil, load_coil_mesh, solid_mesh


@dataclass(frozen=True)
class CoilShape:
    """name; kind ("figure8", "double-cone", "h-type"); description; wing_outer_mm and
    wing_inner_mm: winding outer/inner diameters; thickness_mm: casing thickness;
    wing_angle_deg: angle between the two wings' faces (180 = flat); outline_mm: (width x, depth y)
    of an H-type helmet outline."""

    name: str
    kind: str
    description: str
    wing_outer_mm: float = 0.0
    wing_inner_mm: float = 0.0
    thickness_mm: float = 12.0
    wing_angle_deg: float = 180.0
    outline_mm: tuple[float, float] = (0.0, 0.0)
    handle_length_mm: float = 170.0
    handle_radius_mm: float = 14.0

    @property
    def width_mm(self) -> float:
        """Outer extent along x (two wings side by side, or the helmet width)."""
        if self.kind == "h-type":
            return self.outline_mm[0]
        half = np.deg2rad(self.wing_angle_deg) / 2
        return float(2 * self.wing_outer_mm * np.sin(half))


COILS: dict[str, CoilShape] = {c.name: c for c in (
    CoilShape("figure8-70", "figure8", "figure-8, 70 mm class (mean winding diameter 70 mm; each wing 87 mm outside, "
              "56 mm inside; Magstim D70 class)", wing_outer_mm=87.0, wing_inner_mm=56.0, thickness_mm=14.0),
    CoilShape("figure8-cooled", "figure8", "cooled figure-8 (windings 75 mm outside, 35 mm inside, deeper casing for the "
              "coolant; MagVenture Cool-B65 class)", wing_outer_mm=75.0, wing_inner_mm=35.0, thickness_mm=30.0,
              handle_radius_mm=18.0),
    CoilShape("double-cone", "double-cone", "double-cone (two 96 mm mean-diameter windings, 125 mm outside, angled "
              "at about 95 degrees; Magstim 110 mm double-cone class)", wing_outer_mm=125.0, wing_inner_mm=67.0,
              thickness_mm=20.0, wing_angle_deg=95.0, handle_length_mm=120.0),
    CoilShape("h-type", "h-type", "H-type deep-TMS helmet outline (about 180 mm wide, 160 mm deep over the frontal "
              "head; Brainsway H1 class): an outline, the windings inside are not drawn", thickness_mm=25.0,
              outline_mm=(180.0, 160.0), handle_length_mm=0.0),
)}
DEFAULT_COIL = "figure8-70"


def _wing(r_in: float, r_out: float, thickness: float) -> vtk.vtkPolyData:
    """An annulus in the plane z = 0 centred on the origin, extruded to z = -thickness."""
    disk = vtk.vtkDiskSource()
    disk.SetInnerRadius(r_in)
    disk.SetOuterRadius(r_out)
    disk.SetCircumferentialResolution(72)
    disk.SetRadialResolution(2)
    ext = vtk.vtkLinearExtrusionFilter()
    ext.SetInputConnection(disk.GetOutputPort())
    ext.SetExtrusionTypeToVectorExtrusion()
    ext.SetVector(0.0, 0.0, -thickness)
    ext.CappingOn()
    ext.Update()
    return ext.GetOutput()


def _transformed(pd: vtk.vtkPolyData, T: np.ndarray) -> vtk.vtkPolyData:
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(T[r, c]))
    t = vtk.vtkTransform()
    t.SetMatrix(m)
    f = vtk.vtkTransformFilter()
    f.SetInputData(pd)
    f.SetTransform(t)
    f.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(f.GetPolyDataOutput())
    return out


def _handle(shape: CoilShape, y0: float) -> vtk.vtkPolyData | None:
    if shape.handle_length_mm <= 0:
        return None
    cyl = vtk.vtkCylinderSource()  # centred on the origin along +y
    cyl.SetRadius(shape.handle_radius_mm)
    cyl.SetHeight(shape.handle_length_mm)
    cyl.SetResolution(32)
    cyl.SetCenter(0.0, y0 + 0.5 * shape.handle_length_mm, -0.5 * shape.thickness_mm - 0.6 * shape.handle_radius_mm)
    cyl.Update()
    return cyl.GetOutput()


def _finish(parts) -> vtk.vtkPolyData:
    return solid_mesh(parts)


def _rot_y(deg: float, pivot_x: float = 0.0) -> np.ndarray:
    a = np.deg2rad(deg)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    P = np.eye(4)
    P[0, 3] = pivot_x
    return P @ T @ np.linalg.inv(P)


def coil_shape_mesh(shape: CoilShape) -> vtk.vtkPolyData:
    """The shape's mesh in the coil frame (mm)."""
    R, r, th = shape.wing_outer_mm / 2, shape.wing_inner_mm / 2, shape.thickness_mm
    if shape.kind in ("figure8", "double-cone"):
        # the wings meet at x = 0 (their outer rims touch the hotspot line); double-cone wings
        # are folded down (towards +z, around the head's sides) about the junction line by half
        # the supplement of the angle between them
        fold = (180.0 - shape.wing_angle_deg) / 2
        parts = []
        for side in (-1.0, 1.0):
            T = np.eye(4)
            T[0, 3] = side * R
            T = _rot_y(-side * fold) @ T if fold else T
            parts.append(_transformed(_wing(r, R, th), T))
        parts.append(_handle(shape, 0.3 * R))
        return _finish(parts)
    if shape.kind == "h-type":
        # a helmet outline: a spherical shell cap (radius 100 mm, about the head's) spanning the
        # outline, touching z = 0 at the origin
        W, D = shape.outline_mm
        rad = 100.0
        sph = vtk.vtkSphereSource()
        sph.SetRadius(rad)
        sph.SetThetaResolution(96)
        sph.SetPhiResolution(96)
        sph.SetCenter(0.0, 0.0, rad)   # the sphere's nearest point to the head side is the origin
        sph.Update()
        clip = vtk.vtkClipPolyData()   # keep the cap within the outline: |x| <= W/2, |y| <= D/2, z <= rad
        box = vtk.vtkBox()
        box.SetBounds(-W / 2, W / 2, -D / 2, D / 2, -1.0, rad)
        clip.SetClipFunction(box)
        clip.InsideOutOn()
        clip.SetInputConnection(sph.GetOutputPort())
        clip.Update()
        # the cap follows the head: its rims curve towards +z; the shell grows outwards (z < 0 at the origin)
        ext = vtk.vtkLinearExtrusionFilter()
        ext.SetInputData(clip.GetOutput())
        ext.SetExtrusionTypeToNormalExtrusion()
        ext.SetScaleFactor(th)
        ext.CappingOn()
        ext.Update()
        return _finish([ext.GetOutput()])
    raise ValueError(f"unknown coil kind {shape.kind!r}")


def load_transform(path: str | Path) -> np.ndarray:
    """T_coil_from_mesh: a 4x4 rigid transform (mm) as 4 lines of 4 numbers, or JSON {"T_coil_from_mesh": 4x4}."""
    from navcore.fileio import read_rigid_transform

    return read_rigid_transform(path, "T_coil_from_mesh", "coil model transform", tol=1e-4)


def coil_mesh(model: str | None = None, T_coil_from_mesh: np.ndarray | None = None) -> vtk.vtkPolyData:
    """The coil mesh in the coil frame: a library name (COILS), or an STL/PLY/OBJ file whose
    vertices are mapped by T_coil_from_mesh (identity: the file is already in the coil frame, mm).
    None: the default figure-8."""

    if model is None or model in COILS:
        pd = coil_shape_mesh(COILS[model or DEFAULT_COIL])
        return pd if T_coil_from_mesh is None else _transformed(pd, T_coil_from_mesh)
    path = Path(model)
    if not path.suffix:
        raise InputFileError(path, f"is neither a coil in the library ({', '.join(COILS)}) nor a mesh file")
    pd = load_coil_mesh(path)
    return pd if T_coil_from_mesh is None else _transformed(pd, np.asarray(T_coil_from_mesh, dtype=np.float64))


def coil_polydata(path: str | Path | None = None, T_coil_from_mesh=None) -> vtk.vtkPolyData:
    """The coil mesh: `path` is a coil library name (viewer.coil_library.COILS) or an STL/PLY/OBJ
    file (mapped by T_coil_from_mesh when given); None: the generated figure-8."""
    if not path:
        return figure8_coil()
    return coil_mesh(str(path), T_coil_from_mesh)
