"""Smooth trajectories of marker bodies for synthetic sequences, deterministic from a seed.

A trajectory is a (F, 4, 4) float64 array of T_camera_from_body (mm), one pose per frame.
Key poses are joined by a clamped cubic spline on the translation (zero velocity at the
ends) and a rotation spline (scipy RotationSpline, continuous angular velocity) on the
rotation. Body frames follow tracking.bodies: a body with identity rotation faces the camera
(its z axis points away from the camera, into the plate).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation, RotationSpline

from navcore.errors import GeometryError
from navcore.transforms import make_transform
from tracking.synthetic.renderer import Occlusion


def spline_trajectory(key_times_s: np.ndarray, key_poses: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """(n_frames, 4, 4) poses at t = i / fps through key poses (K, 4, 4) at increasing
    key_times_s (K,); times outside the keys hold the first/last pose."""
    kt = np.asarray(key_times_s, dtype=np.float64)
    kp = np.asarray(key_poses, dtype=np.float64)
    if kt.ndim != 1 or len(kt) < 2 or kp.shape != (len(kt), 4, 4) or np.any(np.diff(kt) <= 0):
        raise GeometryError("a trajectory needs at least 2 key poses (K, 4, 4) at strictly increasing times")
    t = np.clip(np.arange(n_frames) / float(fps), kt[0], kt[-1])
    pos = CubicSpline(kt, kp[:, :3, 3], axis=0, bc_type="clamped")(t)
    rot = RotationSpline(kt, Rotation.from_matrix(kp[:, :3, :3]))(t).as_matrix()
    out = np.tile(np.eye(4), (n_frames, 1, 1))
    out[:, :3, :3] = rot
    out[:, :3, 3] = pos
    return out


def _tilt(rng: np.random.Generator, max_deg: float, max_roll_deg: float) -> np.ndarray:
    """A rotation (3x3) tilting a camera-facing body by up to max_deg about x and y and
    max_roll_deg about its normal."""
    ax, ay = rng.uniform(-max_deg, max_deg, 2)
    az = rng.uniform(-max_roll_deg, max_roll_deg)
    return Rotation.from_euler("xyz", [ax, ay, az], degrees=True).as_matrix()


@dataclass(frozen=True)
class Scenario:
    """Trajectories (body name -> (F, 4, 4) T_camera_from_body, mm) with the events planned
    in them: occluders (RenderEffects.occlusions) and when a body leaves the image."""

    trajectories: dict
    fps: float
    occlusions: tuple[Occlusion, ...] = ()
    out_of_view_s: dict = field(default_factory=dict)  # body -> (start_s, end_s)
    description: str = ""


def coil_approach(seed: int, seconds: float = 4.0, fps: float = 30.0, coil: str = "coil",
                  head: str = "head") -> Scenario:
    """A coil body approaching a head body at 400-650 mm from the camera, the head moving a
    little; the coil is covered by a hand around 35-55 % of the time and leaves the image to
    the right around 65-80 %, then comes back next to the head. Deterministic from `seed`."""
    if not seconds >= 1.0 or not fps > 0:
        raise GeometryError("a coil-approach sequence needs at least 1 s and a positive frame rate")
    rng = np.random.default_rng([int(seed), 5])
    n = int(round(seconds * fps))
    D = float(seconds)
    # head: near the image centre, a little off-axis, small drifts
    head_pos = np.array([rng.uniform(-70, -30), rng.uniform(-20, 30), rng.uniform(530, 580)])
    head_R = _tilt(rng, 15, 10)
    hk = np.arange(0.0, D + 0.6, 0.6)
    head_keys = np.stack([make_transform(head_R @ _tilt(rng, 2.0, 1.5), head_pos + rng.normal(0, 3.0, 3))
                          for _ in hk])
    # coil: from the far right, to beside the head, out of view to the right, back
    target = head_pos + np.array([rng.uniform(165, 190), rng.uniform(-40, -10), rng.uniform(-90, -60)])
    start = np.array([head_pos[0] + rng.uniform(250, 270), head_pos[1] + rng.uniform(-70, -40), rng.uniform(620, 650)])
    mid = 0.5 * (start + target) + rng.normal(0, 10, 3)
    out = np.array([target[0] + 380.0, target[1] - 20.0, target[2] + 20.0])  # beyond the right edge
    ck = np.array([0.0, 0.22, 0.42, 0.58, 0.70, 0.78, 0.90, 1.0]) * D
    cpos = [start, mid, target, target + rng.normal(0, 8, 3), out, out + [10, 0, 0],
            target + rng.normal(0, 15, 3), target + rng.normal(0, 5, 3)]
    coil_keys = np.stack([make_transform(_tilt(rng, 25, 30), p) for p in cpos])
    traj = {head: spline_trajectory(hk, head_keys, fps, n), coil: spline_trajectory(ck, coil_keys, fps, n)}
    occ = (Occlusion(coil, 0.36 * D, 0.54 * D, ramp_s=min(0.25, 0.05 * D)),)
    desc = (f"{coil} approaching {head} at 400-650 mm, {head} drifting; a hand covers {coil} "
            f"{occ[0].start_s:.2f}-{occ[0].end_s:.2f} s; {coil} leaves the image to the right about "
            f"{0.65 * D:.2f}-{0.82 * D:.2f} s (see truth.csv visible column)")
    return Scenario(traj, float(fps), occ, {coil: (0.65 * D, 0.82 * D)}, desc)


def fov_half_width_mm(K: np.ndarray, width_px: int, depth_mm: float) -> float:
    """Half the width (mm) that a camera with intrinsics K sees at a depth (mm)."""
    return float(max(K[0, 2], width_px - 1 - K[0, 2]) / K[0, 0] * depth_mm)


__all__ = ["spline_trajectory", "Scenario", "coil_approach", "fov_half_width_mm"]
