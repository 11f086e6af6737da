"""Three orthogonal MRI slices (axial, coronal, sagittal in the `mri` frame) through the focus
point, each in its own small vtkRenderer, with a cross hair at the focus and the live coil
axis projected in.

The volume is a vtkImageData in VOXEL space (spacing 1, origin 0, i fastest); each slice is
cut by vtkImageReslice with ResliceAxes = T_voxel_from_mri @ T_mri_from_slice, so any
oblique or sheared affine is honoured exactly. Slice frame: origin at the focus (mri mm),
u and v in-plane axes (mm), w the normal; displayed with u to the right and v up.

Focus: the point on the live coil's +z axis nearest the active target (the cortex spot the
coil aims at) when the pose is current, else the active target itself.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from navcore.errors import GeometryError
from viewer.convert import set_vtk_matrix
from viewer.actors import flat_actor, line_source, make_text, scale_texts, top_down_camera
from viewer.scene import AMBER, COIL_RGB, WHITE
from viewer.state import SceneSpec, ViewState

# name, u axis, v axis (mri), letters at (left, right, bottom, top)
PLANES = (
    ("axial", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), ("L", "R", "P", "A")),
    ("coronal", (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), ("L", "R", "I", "S")),
    ("sagittal", (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), ("P", "A", "I", "S")),
)
SLICE_HALF_WIDTH_MM = 60.0
SLICE_SPACING_MM = 0.75


def image_from_volume(data: np.ndarray) -> vtk.vtkImageData:
    """(I, J, K) array indexed by voxel -> vtkImageData in voxel space (spacing 1, origin 0)."""
    a = np.asarray(data)
    if a.ndim != 3:
        raise GeometryError(f"the MRI volume must be 3D, got shape {a.shape}")
    img = vtk.vtkImageData()
    img.SetDimensions(*a.shape)
    img.SetSpacing(1.0, 1.0, 1.0)
    img.SetOrigin(0.0, 0.0, 0.0)
    arr = numpy_to_vtk(np.ascontiguousarray(a.astype(np.float32).ravel(order="F")), deep=True)
    arr.SetName("mri")
    img.GetPointData().SetScalars(arr)
    return img


def T_mri_from_slice(u, v, focus_mri_mm) -> np.ndarray:
    """Slice frame -> mri: columns u, v, w = u x v, origin at the focus (mm)."""
    u = np.asarray(u, float)
    v = np.asarray(v, float)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2] = u, v, np.cross(u, v)
    T[:3, 3] = np.asarray(focus_mri_mm, float)
    return T


def focus_point(spec: SceneSpec, state: ViewState) -> Optional[np.ndarray]:
    """The focus (mri mm, (3,)), see the module docstring; None without target or current pose."""
    name = state.active_target or spec.active_target or (spec.targets[0].name if spec.targets else None)
    target = spec.target(name)
    if state.pose_is_current:
        T = np.asarray(state.T_mri_from_coil, float)
        c, z = T[:3, 3], T[:3, 2]
        if target is not None:
            d = max(0.0, float(np.dot(np.asarray(target.target_mri_mm, float) - c, z)))
        else:
            d = state.depth_mm if math.isfinite(state.depth_mm) else 20.0
        return c + d * z
    return None if target is None else np.asarray(target.target_mri_mm, float)


class SlicePanel:
    """Three slice renderers (`self.renderers`); absent (empty list) when the spec has no MRI."""

    def __init__(self, spec: SceneSpec):
        self.spec = spec
        self.renderers: list[vtk.vtkRenderer] = []
        self.reslices: list[vtk.vtkImageReslice] = []
        self.focus_mri_mm: Optional[np.ndarray] = None
        self.texts: list[vtk.vtkTextActor] = []
        if spec.mri_data is None:
            return
        if spec.T_mri_from_voxel is None:
            raise GeometryError("the scene has MRI data but no T_mri_from_voxel")
        self.T_voxel_from_mri = np.linalg.inv(np.asarray(spec.T_mri_from_voxel, float))
        self.image = image_from_volume(spec.mri_data)
        data = np.asarray(spec.mri_data, dtype=np.float32)
        nz = data[data > 0]
        lo, hi = (np.percentile(nz, [1.0, 99.5]) if nz.size else (0.0, 1.0))
        hi = hi if hi > lo else lo + 1.0
        n = int(round(2 * SLICE_HALF_WIDTH_MM / SLICE_SPACING_MM)) + 1
        h = SLICE_HALF_WIDTH_MM
        self.axes_matrices: list[vtk.vtkMatrix4x4] = []
        self.coil_axis_matrices: list[vtk.vtkMatrix4x4] = []
        self.coil_axis_actors: list[vtk.vtkActor] = []
        for name, u, v, letters in PLANES:
            r = vtk.vtkRenderer()
            r.SetBackground(0.0, 0.0, 0.0)
            m = vtk.vtkMatrix4x4()
            rs = vtk.vtkImageReslice()
            rs.SetInputData(self.image)
            rs.SetResliceAxes(m)
            rs.SetOutputDimensionality(2)
            rs.SetOutputSpacing(SLICE_SPACING_MM, SLICE_SPACING_MM, 1.0)
            rs.SetOutputOrigin(-h, -h, 0.0)
            rs.SetOutputExtent(0, n - 1, 0, n - 1, 0, 0)
            rs.SetInterpolationModeToLinear()
            rs.SetBackgroundLevel(0.0)
            ia = vtk.vtkImageActor()
            ia.GetMapper().SetInputConnection(rs.GetOutputPort())
            ia.GetProperty().SetColorWindow(float(hi - lo))
            ia.GetProperty().SetColorLevel(float(0.5 * (hi + lo)))
            ia.GetProperty().SetInterpolationTypeToLinear()
            r.AddActor(ia)
            r.AddActor(flat_actor(line_source((-h, 0, 1), (h, 0, 1)), AMBER, 1.0))     # cross hair at the focus
            r.AddActor(flat_actor(line_source((0, -h, 1), (0, h, 1)), AMBER, 1.0))
            cm = vtk.vtkMatrix4x4()
            ca = flat_actor(line_source((0, 0, 0), (1, 0, 0)), COIL_RGB, 2.5)          # coil centre -> focus
            ca.SetUserMatrix(cm)
            r.AddActor(ca)
            label = make_text(13, WHITE, bold=True, vjustify="top")
            label.SetPosition(0.03, 0.97)
            label.SetInput(name)
            r.AddViewProp(label)
            self.texts.append(label)
            for text, (x, y, hj, vj) in zip(letters, ((0.02, 0.5, "left", "center"), (0.98, 0.5, "right", "center"),
                                                      (0.5, 0.02, "center", "bottom"), (0.5, 0.98, "center", "top"))):
                t = make_text(12, (0.9, 0.9, 0.3), justify=hj, vjustify=vj)
                t.SetPosition(x, y)
                t.SetInput(text)
                r.AddViewProp(t)
                self.texts.append(t)
            top_down_camera(r, h, 500.0, (-h, h, -h, h, -2, 2))
            self.renderers.append(r)
            self.reslices.append(rs)
            self.axes_matrices.append(m)
            self.coil_axis_matrices.append(cm)
            self.coil_axis_actors.append(ca)
        self.update(ViewState())

    def set_font_scale(self, scale: float) -> None:
        scale_texts(self.texts, scale)

    def fit(self, width_px: int, height_px: int) -> None:
        """Keep the whole slice field visible in a viewport of this pixel size."""
        aspect = width_px / max(1, height_px)
        for r in self.renderers:
            r.GetActiveCamera().SetParallelScale(SLICE_HALF_WIDTH_MM / min(1.0, aspect))

    def update(self, state: ViewState) -> None:
        """Move the three slices to the focus of this state (sets reslice matrices only)."""
        if not self.renderers:
            return
        focus = focus_point(self.spec, state)
        if focus is None:   # no target and no pose: the volume centre
            focus = (np.asarray(self.spec.T_mri_from_voxel, float) @ np.r_[(np.array(self.spec.mri_data.shape) - 1) / 2.0, 1.0])[:3]
        self.focus_mri_mm = focus
        for (name, u, v, _), m, cm, ca in zip(PLANES, self.axes_matrices, self.coil_axis_matrices, self.coil_axis_actors):
            T_ms = T_mri_from_slice(u, v, focus)
            set_vtk_matrix(m, self.T_voxel_from_mri @ T_ms)
            if state.pose_is_current:
                c = np.linalg.inv(T_ms) @ np.r_[np.asarray(state.T_mri_from_coil, float)[:3, 3], 1.0]
                dx, dy = -c[0], -c[1]         # from the coil centre to the focus (slice origin)
                M = np.array([[dx, -dy, 0, c[0]], [dy, dx, 0, c[1]], [0, 0, 1, 0.5], [0, 0, 0, 1]])
                set_vtk_matrix(cm, M)
            ca.SetVisibility(bool(state.pose_is_current))

    def slice_arrays(self) -> list[np.ndarray]:
        """The current resliced images as (rows=v, cols=u) float arrays, for tests and reports."""
        out = []
        for rs in self.reslices:
            rs.Update()
            img = rs.GetOutput()
            nx, ny, _ = img.GetDimensions()
            out.append(vtk_to_numpy(img.GetPointData().GetScalars()).reshape(ny, nx).astype(np.float64))
        return out
