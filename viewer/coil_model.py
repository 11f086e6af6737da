"""The coil mesh, in the coil frame (mm): origin at the coil centre on its face, +z into the
head, +y along the handle, windings side by side along x.

`figure8_coil()` builds a figure-8 coil from VTK sources: two flat annular windings (the
coil body lies at z <= 0, i.e. outside the head, with its face on z = 0), a casing bridge at
the centre and a handle along +y. `load_coil_mesh(path)` reads an STL/PLY already written in
the coil frame in mm.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import vtk

from navcore.errors import InputFileError


def _annulus(cx: float, r_in: float, r_out: float, thickness: float) -> vtk.vtkAlgorithm:
    disk = vtk.vtkDiskSource()
    disk.SetInnerRadius(r_in)
    disk.SetOuterRadius(r_out)
    disk.SetCircumferentialResolution(64)
    disk.SetRadialResolution(2)
    disk.SetCenter(cx, 0.0, 0.0)
    disk.Update()
    ext = vtk.vtkLinearExtrusionFilter()
    ext.SetInputData(disk.GetOutput())
    ext.SetExtrusionTypeToVectorExtrusion()
    ext.SetVector(0.0, 0.0, -thickness)   # body outside the head (z < 0)
    ext.CappingOn()
    return ext


def _box(x0, x1, y0, y1, z0, z1) -> vtk.vtkAlgorithm:
    cube = vtk.vtkCubeSource()
    cube.SetBounds(x0, x1, y0, y1, z0, z1)
    return cube


def figure8_coil(wing_outer_radius_mm: float = 37.0, wing_inner_radius_mm: float = 12.0,
                 thickness_mm: float = 12.0, handle_length_mm: float = 170.0,
                 handle_radius_mm: float = 14.0) -> vtk.vtkPolyData:
    """A figure-8 coil, triangles with normals, coil frame mm (see the module docstring)."""
    R = wing_outer_radius_mm
    # keep every source referenced until Update(): VTK connections do not own their producers
    parts = [_annulus(cx, wing_inner_radius_mm, R, thickness_mm) for cx in (-R, R)]
    # casing bridge over the junction where the two windings meet (the coil centre)
    parts.append(_box(-0.5 * R, 0.5 * R, -0.35 * R, 0.35 * R, -thickness_mm, -0.2 * thickness_mm))
    for part in parts:
        part.Update()
    # handle: vtkCylinderSource is centred on the origin along +y
    cyl = vtk.vtkCylinderSource()
    cyl.SetRadius(handle_radius_mm)
    cyl.SetHeight(handle_length_mm)
    cyl.SetResolution(32)
    cyl.SetCenter(0.0, 0.3 * R + 0.5 * handle_length_mm, -0.5 * thickness_mm - handle_radius_mm * 0.6)
    cyl.Update()
    return solid_mesh([*(part.GetOutput() for part in parts), cyl.GetOutput()])


def solid_mesh(parts) -> vtk.vtkPolyData:
    """Pieces (vtkPolyData, None skipped) joined into one triangle mesh with normals (40 deg
    feature angle), a copy that owns its data; coordinates unchanged (coil frame mm)."""
    append = vtk.vtkAppendPolyData()
    for p in parts:
        if p is not None:
            append.AddInputData(p)
    tri = vtk.vtkTriangleFilter()
    tri.SetInputConnection(append.GetOutputPort())
    normals = vtk.vtkPolyDataNormals()
    normals.SetInputConnection(tri.GetOutputPort())
    normals.SetFeatureAngle(40.0)
    normals.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(normals.GetOutput())
    return out


_READERS = {".stl": ("vtkIOGeometry", "vtkSTLReader"), ".obj": ("vtkIOGeometry", "vtkOBJReader"),
            ".ply": ("vtkIOPLY", "vtkPLYReader")}

_MESH_CHILD = ("import sys, importlib\n"
               "from vtkmodules.vtkFiltersCore import vtkPolyDataNormals\n"
               "from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter\n"
               "r = getattr(importlib.import_module('vtkmodules.' + sys.argv[3]), sys.argv[4])()\n"
               "r.SetFileName(sys.argv[1]); r.Update()\n"
               "if r.GetOutput().GetNumberOfPolys() == 0: sys.exit(3)\n"
               "n = vtkPolyDataNormals(); n.SetInputData(r.GetOutput()); n.Update()\n"
               "w = vtkXMLPolyDataWriter(); w.SetFileName(sys.argv[2]); w.SetInputData(n.GetOutput())\n"
               "sys.exit(0 if w.Write() == 1 else 4)\n")


def _read_mesh_isolated(path: Path, ext: str, timeout_s: float = 60.0):
    """The mesh's polydata with normals, read by VTK's reader for `ext` in a throw-away child
    process and handed back as a VTK XML file we wrote ourselves; None when the child fails or
    finds no polygons. VTK's PLY reader segfaults or aborts on many damaged files (measured: about
    1 in 4 damaged PLYs), and a damaged OBJ gives polydata on which the normals filter segfaults
    (found by the bad-input sweep), which would kill the whole program, so no mesh reader or
    normals filter runs on a user's file in this process (about 0.4 s, once per mesh)."""
    import tempfile

    module, cls = _READERS[ext]
    with tempfile.TemporaryDirectory(prefix="navtms_mesh_") as d:
        vtp = Path(d) / "mesh.vtp"
        try:
            proc = subprocess.run([sys.executable, "-c", _MESH_CHILD, str(path), str(vtp), module, cls],
                                  capture_output=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0 or not vtp.is_file():
            return None
        reader = vtk.vtkXMLPolyDataReader()
        reader.SetFileName(str(vtp))
        reader.Update()
        pd = vtk.vtkPolyData()
        pd.DeepCopy(reader.GetOutput())
        return pd


def load_coil_mesh(path: str | Path) -> vtk.vtkPolyData:
    """Read an STL, PLY or OBJ coil mesh (coil frame, mm) with normals. Raises InputFileError when
    the file is missing, has another extension, is damaged or holds no triangles."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the coil mesh file does not exist")
    ext = path.suffix.lower()
    if ext not in _READERS:
        raise InputFileError(path, "the coil mesh must be an .stl, .ply or .obj file")
    pd = _read_mesh_isolated(path, ext)
    if pd is None or pd.GetNumberOfPolys() == 0:
        raise InputFileError(path, "the coil mesh holds no triangles, or is damaged so the mesh reader fails on it "
                                   "(empty or unreadable file); export it again, or as STL")
    return pd
