"""numpy <-> VTK conversions for the viewer (no rendering here).

Surfaces: anything with `.vertices` (N, 3) float mm and `.faces` (M, 3) int (e.g.
targets.surfaces.Surface) becomes a triangle vtkPolyData in the same frame and unit.
Matrices: a 4x4 float64 numpy `T_a_from_b` becomes a vtkMatrix4x4 (same meaning).
"""
from __future__ import annotations

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy

from navcore.errors import GeometryError


def polydata_from_arrays(vertices: np.ndarray, faces: np.ndarray,
                         normals: np.ndarray | None = None) -> vtk.vtkPolyData:
    """Triangle mesh -> vtkPolyData. vertices (N, 3) mm, faces (M, 3) vertex indices,
    normals (N, 3) optional unit vectors (computed by VTK when absent)."""
    v = np.ascontiguousarray(np.asarray(vertices, dtype=np.float64))
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise GeometryError(f"surface vertices must be a non-empty (N, 3) array, got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise GeometryError(f"surface faces must be an (M, 3) array, got shape {f.shape}")
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise GeometryError("surface faces index vertices that do not exist")
    pts = vtk.vtkPoints()
    pts.SetData(numpy_to_vtk(v, deep=True))
    conn = np.ascontiguousarray(f.astype(np.int64).ravel())
    offsets = np.arange(0, 3 * len(f) + 1, 3, dtype=np.int64)
    cells = vtk.vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True), numpy_to_vtkIdTypeArray(conn, deep=True))
    pd = vtk.vtkPolyData()
    pd.SetPoints(pts)
    pd.SetPolys(cells)
    if normals is not None:
        n = np.ascontiguousarray(np.asarray(normals, dtype=np.float64))
        if n.shape == v.shape:
            arr = numpy_to_vtk(n, deep=True)
            arr.SetName("Normals")
            pd.GetPointData().SetNormals(arr)
            return pd
    nf = vtk.vtkPolyDataNormals()
    nf.SetInputData(pd)
    nf.SplittingOff()
    nf.ConsistencyOn()
    nf.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(nf.GetOutput())
    return out


def polydata_from_surface(surface) -> vtk.vtkPolyData:
    """Any object with `.vertices`/`.faces` (and optional `.normals`), or a vtkPolyData as is."""
    if isinstance(surface, vtk.vtkPolyData):
        return surface
    if not (hasattr(surface, "vertices") and hasattr(surface, "faces")):
        raise GeometryError(f"a surface needs .vertices and .faces arrays, got {type(surface).__name__}")
    return polydata_from_arrays(surface.vertices, surface.faces, getattr(surface, "normals", None))


def arrays_from_polydata(pd: vtk.vtkPolyData) -> tuple[np.ndarray, np.ndarray]:
    """Triangulated vtkPolyData -> (vertices (N, 3) float64, faces (M, 3) int64)."""
    tri = vtk.vtkTriangleFilter()
    tri.SetInputData(pd)
    tri.PassLinesOff()
    tri.PassVertsOff()
    tri.Update()
    out = tri.GetOutput()
    v = vtk_to_numpy(out.GetPoints().GetData()).astype(np.float64)
    conn = vtk_to_numpy(out.GetPolys().GetConnectivityArray()).astype(np.int64)
    return v, conn.reshape(-1, 3)


def vtk_matrix(T: np.ndarray) -> vtk.vtkMatrix4x4:
    """4x4 numpy -> a new vtkMatrix4x4."""
    m = vtk.vtkMatrix4x4()
    set_vtk_matrix(m, T)
    return m


def set_vtk_matrix(m: vtk.vtkMatrix4x4, T: np.ndarray) -> None:
    """Copy a 4x4 numpy into an existing vtkMatrix4x4 (in place, so actors holding it see it)."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise GeometryError(f"a transform must be 4x4, got shape {T.shape}")
    m.DeepCopy(T.ravel().tolist())
    m.Modified()


def numpy_matrix(m: vtk.vtkMatrix4x4) -> np.ndarray:
    """vtkMatrix4x4 -> 4x4 float64 numpy."""
    return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)], dtype=np.float64)
