"""Small synthetic scenes for the viewer tests (ellipsoid head, smooth patterned volume)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import vtk

from viewer.convert import arrays_from_polydata
from viewer.state import SceneSpec, TargetSpec, ViewState

AXES_MM = np.array([75.0, 95.0, 85.0])


def ellipsoid_surface(axes_mm=AXES_MM, res: int = 32) -> SimpleNamespace:
    """An ellipsoid 'scalp' (mri mm) as plain arrays, like targets.surfaces.Surface."""
    s = vtk.vtkSphereSource()
    s.SetRadius(1.0)
    s.SetThetaResolution(res)
    s.SetPhiResolution(res)
    s.Update()
    v, f = arrays_from_polydata(s.GetOutput())
    return SimpleNamespace(vertices=v * np.asarray(axes_mm), faces=f)


def plan_pose(entry_mri_mm, inward) -> np.ndarray:
    """T_mri_from_coil with the origin at the entry, +z along `inward`, +y towards mri +y."""
    z = np.asarray(inward, float) / np.linalg.norm(inward)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, entry_mri_mm
    return T


def oblique_affine() -> np.ndarray:
    """A sheared-free but rotated 2 mm voxel affine (T_mri_from_voxel)."""
    c, s = np.cos(0.3), np.sin(0.3)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    A = np.eye(4)
    A[:3, :3] = R * 2.0
    A[:3, 3] = -R @ (np.array([40.0, 48.0, 44.0]) * 2.0)
    return A


def synthetic_spec(with_mri: bool = True) -> SceneSpec:
    d = np.array([-0.5, 0.5, 0.7])
    d /= np.linalg.norm(d)
    entry = d / np.sqrt(np.sum((d / AXES_MM) ** 2))
    target = entry - 20.0 * d
    vol = A = None
    if with_mri:
        A = oblique_affine()
        ijk = np.stack(np.meshgrid(np.arange(80), np.arange(96), np.arange(88), indexing="ij"), -1)
        xyz = ijk.reshape(-1, 3) @ A[:3, :3].T + A[:3, 3]
        r = np.sqrt(np.sum((xyz / AXES_MM) ** 2, axis=1))
        vol = np.where(r < 1.0, 100 + 50 * np.sin(xyz[:, 0] / 7) * np.cos(xyz[:, 1] / 9) + 0.3 * xyz[:, 2], 0)
        vol = vol.reshape(80, 96, 88).astype(np.float32)
    return SceneSpec(scalp=ellipsoid_surface(), mri_data=vol, T_mri_from_voxel=A,
                     targets=[TargetSpec("L-DLPFC", target, entry, plan_pose(entry, -d)),
                              TargetSpec("R-DLPFC", target * [-1, 1, 1], entry * [-1, 1, 1],
                                         plan_pose(entry * [-1, 1, 1], -d * [-1, 1, 1]))],
                     active_target="L-DLPFC")


def live_state(spec: SceneSpec, dx_mm: float = 0.0, dy_mm: float = 0.0, **kw) -> ViewState:
    """A current state with the coil offset by (dx, dy) mm in the planned coil x/y plane."""
    T = np.array(spec.target(spec.active_target).T_mri_from_coil, float)
    T[:3, 3] += T[:3, 0] * dx_mm + T[:3, 1] * dy_mm
    base = dict(T_mri_from_coil=T, coil_visible=True, head_visible=True,
                distance_mm=float(np.hypot(dx_mm, dy_mm)), tilt_deg=0.0, twist_deg=0.0, depth_mm=20.0,
                fre_mm=1.1, predicted_tre_mm=2.0, pose_age_ms=30.0, active_target=spec.active_target,
                pulses_delivered=3, status="tracking")
    base.update(kw)
    return ViewState(**base)


def coil_blue_mask(img: np.ndarray) -> np.ndarray:
    """Pixels of the live coil colour (viewer.scene.COIL_RGB under lighting): strongly blue."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return (b > 150) & (b - r > 60) & (b - g > 40)
