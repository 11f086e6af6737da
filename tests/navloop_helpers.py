"""Shared helpers for the navigation-loop tests: a known scene and pose-delivering frames."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.transforms import invert, make_transform
from tracking.types import BodyPose, Frame


def rot(axis, angle_rad):
    a = np.asarray(axis, float)
    return Rotation.from_rotvec(a / np.linalg.norm(a) * angle_rad).as_matrix()


@dataclass(frozen=True)
class Target:
    name: str
    target_mri_mm: np.ndarray
    T_mri_from_coil: np.ndarray


@dataclass
class Scene:
    """Registration, coil calibration, a planned target 25 mm below the planned coil centre."""

    T_mri_from_head: np.ndarray
    T_coilbody_from_coil: np.ndarray
    target: Target

    @staticmethod
    def make(seed: int = 0) -> "Scene":
        rng = np.random.default_rng(seed)
        T_reg = make_transform(Rotation.random(random_state=rng).as_matrix(), rng.uniform(-50, 50, 3))
        T_cal = make_transform(rot([1, 0, 0], 0.3), [5.0, -40.0, 12.0])
        T_plan = make_transform(rot([0.3, 1, 0.2], 0.8), [40.0, 20.0, 60.0])
        tgt = T_plan[:3, :3] @ np.array([0, 0, 25.0]) + T_plan[:3, 3]
        return Scene(T_reg, T_cal, Target("M1", tgt, T_plan))

    def poses(self, T_mri_from_coil, T_camera_from_head, frame, t_ns, coil_visible=True, head_visible=True):
        """Body poses (camera frame) that make the navigator see T_mri_from_coil."""
        T_cam_coilbody = (T_camera_from_head @ invert(self.T_mri_from_head) @ T_mri_from_coil
                          @ invert(self.T_coilbody_from_coil))
        out = {}
        out["coil"] = (BodyPose("coil", frame, t_ns, True, T_cam_coilbody, 8, 8, 0.2) if coil_visible
                       else BodyPose.not_visible("coil", frame, t_ns, 8))
        out["head"] = (BodyPose("head", frame, t_ns, True, T_camera_from_head, 8, 8, 0.2) if head_visible
                       else BodyPose.not_visible("head", frame, t_ns, 8))
        return out


def head_pose(i: int) -> np.ndarray:
    """A head that moves (rotates a few degrees and slides) over the sequence."""
    return make_transform(rot([0, 1, 0.2], 0.002 * i), [10.0 + 0.1 * i, -5.0, 600.0 - 0.2 * i])


def approach(scene: Scene, n: int, hidden=(), head_hidden=(), fps: float = 120.0, t0_ns: int = 10**9):
    """Frames of a coil approaching its planned pose from 30 mm / 20 deg away; truth per frame."""
    frames, truth = [], []
    for i in range(n):
        s = 1.0 - i / max(n - 1, 1)
        off = make_transform(rot([1, 0.5, 0], math.radians(20) * s) @ rot([0, 0, 1], math.radians(15) * s),
                             [30.0 * s, -12.0 * s, -8.0 * s])
        T_live = scene.target.T_mri_from_coil @ off
        t_ns = t0_ns + int(round(i * 1e9 / fps))
        poses = scene.poses(T_live, head_pose(i), i, t_ns, i not in hidden, i not in head_hidden)
        frames.append(Frame(i, t_ns, None, poses))
        truth.append(T_live)
    return frames, truth


class ListSource:
    """A FrameSource over a list of frames (pose-delivering, like a pose-log replay)."""

    def __init__(self, frames, fail_at=None):
        self.frames = list(frames)
        self.i = 0
        self.fail_at = fail_at
        self.closed = False

    def read(self):
        from navcore.errors import TrackingError

        if self.fail_at is not None and self.i == self.fail_at:
            raise TrackingError("camera 0 stopped delivering frames (unplugged?)")
        if self.i >= len(self.frames):
            return None
        f = self.frames[self.i]
        self.i += 1
        return f

    def close(self):
        self.closed = True


def sphere_surface(radius=90.0):
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    from targets.surfaces import Surface

    src = vtk.vtkSphereSource()
    src.SetRadius(radius)
    src.SetThetaResolution(32)
    src.SetPhiResolution(24)
    src.Update()
    pd = src.GetOutput()
    v = vtk_to_numpy(pd.GetPoints().GetData()).astype(np.float64)
    f = vtk_to_numpy(pd.GetPolys().GetConnectivityArray()).reshape(-1, 3).astype(np.int64)
    return Surface(v, f, v / np.linalg.norm(v, axis=1, keepdims=True))


# ---- a session folder of the workflow tests (pointer calibrated, bodies named) -------------
POINTER_TIP_MM = np.array([0.0, -120.0, 5.0])   # pointer tip in the pointer body frame, mm


def fiducials_mri():
    """nasion, LPA, RPA and a vertex point on the 90 mm test head, mm in `mri`."""
    from navcore.points import NamedPoints

    return NamedPoints.from_dict({"nasion": [0, 95, 10], "lpa": [-75, 10, -20], "rpa": [75, 10, -20],
                                  "vertex": [0, 0, 95]}, "mri")


def make_test_session(tmp_path, scene=None, **kw):
    """A new session folder tmp_path/s1 for the scene's target (tolerances 2 mm / 2.5 deg)."""
    from navigation.navigator import Tolerances
    from navtms.session import create_session

    scene = scene or Scene.make()
    return create_session(tmp_path / "s1", [scene.target], camera="cam.json",
                          bodies={"coil": "coil.json", "head": "head.json", "pointer": "pointer.json"},
                          pointer_tip_mm=POINTER_TIP_MM, T_coilbody_from_coil=scene.T_coilbody_from_coil,
                          tolerances=Tolerances(2.0, 2.5), **kw)
