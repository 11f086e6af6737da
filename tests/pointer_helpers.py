"""Realistic simulated pivot-calibration poses (shared by the pivot and calibrate-pointer tests).

A ~400 mm pointer (markers at the tool origin, tip ~400 mm along -z) swung by hand about a divot
1.2 m from the camera: the shaft tilts up to ~40 degrees from its mean direction in a wandering
path and spins about itself; each pose carries marker-tracking noise (rotation jitter at the
markers, 0.2 degrees per axis, which moves the tip ~1.4 mm per axis on a 400 mm shaft, plus
0.3 mm translation), so the tip residuals have a median of ~2 mm; a few "wild" poses have the
tip slipped 8-40 mm out of the divot.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

TIP_TOOL = np.array([3.0, -5.0, -400.0])
PIVOT = np.array([50.0, -30.0, 1200.0])


def pointer_poses(rng, n=1151, n_wild=25, rot_noise_deg=0.2, trans_noise_mm=0.3, tilt_deg=40.0,
                  tip=TIP_TOOL, pivot=PIVOT):
    """(poses (n, 4, 4) T_tracker_from_pointer, indices of the wild poses, tip, pivot)."""
    base = Rotation.from_euler("xyz", [170.0, 10.0, 30.0], degrees=True)  # shaft pointing away-down
    # a wandering hand: tilt direction and amount follow smooth random walks
    az = np.cumsum(rng.normal(0, 0.08, n)) + rng.uniform(0, 2 * np.pi)
    amt = np.radians(tilt_deg) * np.abs(np.sin(np.cumsum(rng.normal(0, 0.05, n)) + rng.uniform(0, np.pi)))
    spin = np.radians(60.0) * np.sin(np.cumsum(rng.normal(0, 0.05, n)))
    P = np.zeros((n, 4, 4))
    for i in range(n):
        tilt = Rotation.from_rotvec(amt[i] * np.array([np.cos(az[i]), np.sin(az[i]), 0.0]))
        R = base * tilt * Rotation.from_rotvec([0.0, 0.0, spin[i]])
        jitter = Rotation.from_rotvec(np.radians(rot_noise_deg) * rng.normal(size=3))
        Rm = (R * jitter).as_matrix()  # marker noise: the measured orientation is off
        t = pivot - R.as_matrix() @ tip + rng.normal(0, trans_noise_mm, 3)
        P[i, :3, :3], P[i, :3, 3], P[i, 3, 3] = Rm, t, 1.0
    wild = rng.choice(n, n_wild, replace=False) if n_wild else np.zeros(0, int)
    for i in wild:
        d = rng.normal(size=3)
        P[i, :3, 3] += d / np.linalg.norm(d) * rng.uniform(8.0, 40.0)  # the tip slipped out of the divot
    return P, wild, tip, pivot
