"""Scalp surface from a T1 MRI: head mask -> isosurface -> smooth -> decimate -> outward normals.

Frames and units: vertices and normals are in `mri` (scanner RAS+, mm). The isosurface is
extracted in voxel index coordinates and mapped with the image's `T_mri_from_voxel` exactly
(oblique affines and left-handed voxel grids are fine).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from navcore.errors import GeometryError
from navcore.mri import MRIVolume
from targets.masks import largest_component  # noqa: F401  (re-exported: brain, tests)
from targets.skin_edge import skin_edge_field

#: Grid step (mm) the head mask and isosurface are computed on (finer MRIs are resampled).
WORKING_STEP_MM = 1.5


@dataclass(frozen=True)
class Surface:
    """A triangle mesh.

    vertices: (N, 3) float64, mm, in frame `mri`.
    faces: (M, 3) int64 vertex indices per triangle (counter-clockwise seen from outside).
    normals: (N, 3) float64 unit vertex normals pointing out of the enclosed volume.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray

    @property
    def n_triangles(self) -> int:
        return int(len(self.faces))

    def boundary_edge_count(self) -> int:
        """Number of edges used by exactly one triangle (0 for a closed mesh)."""
        e = np.sort(np.concatenate([self.faces[:, [0, 1]], self.faces[:, [1, 2]], self.faces[:, [2, 0]]]), axis=1)
        _, counts = np.unique(e, axis=0, return_counts=True)
        return int(np.sum(counts == 1))


# ----------------------------------------------------------------------------- mask
def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximum between-class variance) of a 1-D sample of intensities."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    hist, edges = np.histogram(v, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = (w0 * w1 * (mu0 - mu1) ** 2)[:-1]
    best = np.nonzero(between >= between.max() * (1 - 1e-12))[0]  # a plateau when classes are separated
    return float(0.5 * (edges[best[0] + 1] + edges[best[-1] + 1]))


def head_threshold(data: np.ndarray) -> float:
    """Automatic head/background threshold: half the Otsu threshold of the non-zero voxels,
    so that thin, darker skin over the face and ears stays inside the head."""
    sample = data[::2, ::2, ::2]
    sample = sample[sample > 0]
    if sample.size < 100:
        raise GeometryError("the MRI is (almost) empty; no head can be found")
    return 0.5 * otsu_threshold(sample)


def head_mask(mri: MRIVolume, threshold: float | None = None) -> np.ndarray:
    """Boolean (I, J, K) mask of the head: voxels above threshold, the largest connected
    component, closed (to bridge thin skin gaps at the nose and ears) and hole-filled (so no
    air cavities, sinuses or ear canals give inner shells)."""
    data = mri.data
    thr = head_threshold(data) if threshold is None else float(threshold)
    above = data > thr
    if not np.any(above):
        raise GeometryError(f"{mri.path}: no voxel is above the scalp threshold {thr:.3g}")
    # closing with a ~3 mm ball, computed on a padded copy so the border does not erode
    r = max(1, int(round(3.0 / float(np.min(mri.voxel_size_mm)))))
    ball = ndimage.generate_binary_structure(3, 1)
    ball = ndimage.iterate_structure(ball, r)
    padded = np.pad(above, r + 1)
    padded = ndimage.binary_closing(padded, structure=ball)
    closed = padded[r + 1:-(r + 1), r + 1:-(r + 1), r + 1:-(r + 1)]
    # holes are filled before the largest piece is kept: a skin shell around a dark skull is one
    # solid head, not a shell beside a brain
    return largest_component(ndimage.binary_fill_holes(closed))


def _open_edges(faces: np.ndarray) -> int:
    """Edges not shared by exactly two triangles (0 for a closed manifold mesh)."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return int(np.sum(counts != 2))


# ----------------------------------------------------------------------------- vtk helpers
def _polydata_arrays(poly):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    pts = vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float64)
    polys = vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).astype(np.int64).reshape(-1, 3)
    return pts, polys


def _to_polydata(vertices: np.ndarray, faces: np.ndarray):
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    pts = vtkPoints()
    pts.SetData(numpy_to_vtk(np.ascontiguousarray(vertices, dtype=np.float64), deep=True))
    cells = vtkCellArray()
    offsets = np.arange(0, 3 * len(faces) + 1, 3, dtype=np.int64)
    cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True),
                  numpy_to_vtkIdTypeArray(np.ascontiguousarray(faces.ravel(), dtype=np.int64), deep=True))
    poly = vtkPolyData()
    poly.SetPoints(pts)
    poly.SetPolys(cells)
    return poly


def isosurface_from_mask(mask: np.ndarray, T_mri_from_voxel: np.ndarray, target_triangles: int = 100_000,
                         smoothing_iterations: int = 15, presmooth_voxels: float = 0.8) -> Surface:
    """Closed smooth surface of a boolean mask (I, J, K), in mri mm: the mask is blurred
    (Gaussian, `presmooth_voxels` sigma) and contoured at 0.5 (see `isosurface`)."""
    if not np.any(mask):
        raise GeometryError("the mask is empty; no surface can be made")
    field = mask.astype(np.float32)
    if presmooth_voxels > 0:
        field = ndimage.gaussian_filter(field, presmooth_voxels)
    return isosurface(field, 0.5, T_mri_from_voxel, target_triangles, smoothing_iterations)


def isosurface(field: np.ndarray, level: float, T_mri_from_voxel: np.ndarray, target_triangles: int = 100_000,
               smoothing_iterations: int = 15) -> Surface:
    """Closed surface {field == level} of a scalar volume (I, J, K), in mri mm.

    Contoured with vtkFlyingEdges3D in voxel index coordinates (the volume is padded with
    values below `level`, so the surface is closed), smoothed with vtkWindowedSincPolyDataFilter,
    decimated with vtkQuadricDecimation to about `target_triangles`, mapped into mri with
    `T_mri_from_voxel` exactly, and given outward unit normals."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkFiltersCore import (vtkFlyingEdges3D, vtkPolyDataNormals, vtkQuadricDecimation,
                                           vtkWindowedSincPolyDataFilter)

    pad = 2
    low = min(float(np.min(field)), level - 1.0)
    vol = np.pad(np.asarray(field, dtype=np.float32), pad, constant_values=low)
    img = vtkImageData()
    img.SetDimensions(*vol.shape)
    img.SetSpacing(1.0, 1.0, 1.0)
    img.SetOrigin(-pad, -pad, -pad)  # so point coordinates are the original voxel indices
    # VTK image scalars run x (i) fastest: Fortran order
    img.GetPointData().SetScalars(numpy_to_vtk(vol.ravel(order="F"), deep=True))
    fe = vtkFlyingEdges3D()
    fe.SetInputData(img)
    fe.SetValue(0, float(level))
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    fe.ComputeScalarsOff()
    fe.Update()
    poly = fe.GetOutput()
    if poly.GetNumberOfPolys() == 0:
        raise GeometryError("the isosurface is empty")
    if smoothing_iterations > 0:
        sm = vtkWindowedSincPolyDataFilter()
        sm.SetInputData(poly)
        sm.SetNumberOfIterations(smoothing_iterations)
        sm.SetPassBand(0.1)
        sm.NormalizeCoordinatesOn()
        sm.BoundarySmoothingOff()
        sm.FeatureEdgeSmoothingOff()
        sm.NonManifoldSmoothingOn()
        sm.Update()
        poly = sm.GetOutput()
    n = poly.GetNumberOfPolys()
    if target_triangles and n > target_triangles:
        dec = vtkQuadricDecimation()
        dec.SetInputData(poly)
        dec.SetTargetReduction(1.0 - target_triangles / n)
        dec.VolumePreservationOn()
        dec.Update()
        if _open_edges(_polydata_arrays(dec.GetOutput())[1]) == 0:
            poly = dec.GetOutput()
        else:  # quadric decimation folded a thin feature (rare): decimate keeping the topology
            from vtkmodules.vtkFiltersCore import vtkDecimatePro

            pro = vtkDecimatePro()
            pro.SetInputData(poly)
            pro.SetTargetReduction(1.0 - target_triangles / n)
            pro.PreserveTopologyOn()
            pro.SplittingOff()
            pro.BoundaryVertexDeletionOff()
            pro.Update()
            poly = pro.GetOutput()
    vox, faces = _polydata_arrays(poly)
    A = np.asarray(T_mri_from_voxel, dtype=np.float64)
    verts = vox @ A[:3, :3].T + A[:3, 3]
    if np.linalg.det(A[:3, :3]) < 0:  # a left-handed voxel grid flips triangle winding
        faces = faces[:, ::-1].copy()
    nrm = vtkPolyDataNormals()
    nrm.SetInputData(_to_polydata(verts, faces))
    nrm.SplittingOff()
    nrm.ConsistencyOn()
    nrm.AutoOrientNormalsOn()
    nrm.ComputePointNormalsOn()
    nrm.ComputeCellNormalsOff()
    nrm.Update()
    out = nrm.GetOutput()
    from vtkmodules.util.numpy_support import vtk_to_numpy

    verts, faces = _polydata_arrays(out)
    normals = vtk_to_numpy(out.GetPointData().GetNormals()).astype(np.float64)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    # guard: outward means mostly pointing away from the centroid
    if np.mean(np.sum((verts - verts.mean(0)) * normals, axis=1) > 0) < 0.5:
        normals = -normals
        faces = faces[:, ::-1].copy()
    return Surface(vertices=verts, faces=faces, normals=normals)


def working_volume(mri: MRIVolume, step_mm: float = WORKING_STEP_MM) -> MRIVolume:
    """The MRI itself when its voxels are already >= ~0.8 step_mm, else a trilinear resampling
    (SimpleITK) on a coarser grid of the same orientation, about `step_mm` per voxel, whose
    `T_mri_from_voxel` is exact: work index j is original index j * f per axis."""
    vox = mri.voxel_size_mm
    if float(np.min(vox)) >= 0.8 * step_mm:
        return mri
    import SimpleITK as sitk

    shape = np.array(mri.shape)
    factor = np.maximum(step_mm / vox, 1.0)
    out = np.maximum(2, np.round((shape - 1) / factor).astype(int) + 1)
    f = (shape - 1) / (out - 1)  # original index per work index, per axis
    img = sitk.GetImageFromArray(np.ascontiguousarray(mri.data))  # array (i,j,k) -> sitk (x=k, y=j, z=i)
    rs = sitk.ResampleImageFilter()
    rs.SetSize([int(v) for v in out[::-1]])
    rs.SetOutputSpacing([float(v) for v in f[::-1]])
    rs.SetOutputOrigin([0.0, 0.0, 0.0])
    rs.SetInterpolator(sitk.sitkLinear)
    data = sitk.GetArrayFromImage(rs.Execute(img)).astype(np.float32)
    S = np.eye(4)
    S[:3, :3] = np.diag(f)
    return MRIVolume(data=data, T_mri_from_voxel=np.asarray(mri.T_mri_from_voxel) @ S, path=mri.path)


def scalp_surface(mri: MRIVolume, threshold: float | None = None, target_triangles: int = 100_000,
                  step_mm: float = WORKING_STEP_MM) -> Surface:
    """The outer skin surface of the head (face and ears included) in mri mm, at the
    half-maximum of the local skin/air intensity edge (see targets.skin_edge.skin_edge_field).

    threshold: head/background intensity of the head mask that fixes the topology (automatic,
        half Otsu, when None); it does not place the surface.
    target_triangles: decimation goal (about; 0 keeps every triangle).
    step_mm: volumes finer than ~0.8 step_mm are first resampled to about it (`working_volume`)."""
    work = working_volume(mri, step_mm)
    thr = head_threshold(work.data) if threshold is None else float(threshold)
    mask = head_mask(work, thr)
    field = skin_edge_field(work.data, mask, work.voxel_size_mm)
    return isosurface(field, 0.0, work.T_mri_from_voxel, target_triangles, SCALP_SMOOTHING_ITERATIONS)


#: Windowed-sinc iterations for the scalp: the intensity edge carries sub-millimetre ripples of
#: image noise that tilt the local normals; 40 removes them (the surface stays on the edge, see
#: tests/targets/test_surfaces.py) and halves the tail of ICP errors with noisy head points.
SCALP_SMOOTHING_ITERATIONS = 40
