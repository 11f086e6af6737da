"""One rigid-body pose from 3D-2D corner correspondences (pure functions over OpenCV's PnP).

Flat bodies: IPPE (cv2.solvePnPGeneric, SOLVEPNP_IPPE) returns both solutions of the planar
mirror ambiguity with their reprojection errors (SQPnP when IPPE fails, which OpenCV's IPPE
does with NaN for some exactly symmetric views); 3D bodies: SQPnP. The chosen solution is
refined by Levenberg-Marquardt (cv2.solvePnPRefineLM). Steady tracking may instead refine the previous
frame's pose (refine_from): the same local minimum the fresh solve's candidate nearest the
previous pose leads to, at a third of the cost. Poses are T_camera_from_body, 4x4, mm.
"""
from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np


def is_planar(points_mm: np.ndarray, tol_mm: float = 1e-3) -> bool:
    """True when the (N, 3) points (mm) lie in one plane within tol_mm (RMS)."""
    c = points_mm - points_mm.mean(axis=0)
    return bool(np.linalg.svd(c, compute_uv=False)[-1] <= tol_mm * math.sqrt(len(points_mm)))


def angle_to(rvec: np.ndarray, T_prev: np.ndarray) -> float:
    """Rotation angle (rad) between a Rodrigues vector and the rotation of a 4x4 pose."""
    R, _ = cv2.Rodrigues(rvec)
    c = (np.trace(R.T @ T_prev[:3, :3]) - 1.0) / 2.0
    return math.acos(max(-1.0, min(1.0, c)))


def solve_body_pose(obj_mm: np.ndarray, img_px: np.ndarray, K: np.ndarray, dist: np.ndarray, planar: bool,
                    T_prev: Optional[np.ndarray] = None, ambiguity_ratio: float = 2.0) -> Optional[np.ndarray]:
    """T_camera_from_body (4x4, mm) from body points obj_mm (N, 3) and their pixels img_px (N, 2),
    or None when no solution lies in front of the camera.

    Among the candidate solutions whose reprojection error is within ambiguity_ratio (+0.3 px)
    of the best, the one nearest T_prev (the body's pose in the previous frame) is taken: this
    keeps a planar body from flipping to its mirror pose when the two fit about as well."""
    obj = np.ascontiguousarray(obj_mm, dtype=np.float64)
    img = np.ascontiguousarray(img_px, dtype=np.float64)
    flags = (cv2.SOLVEPNP_IPPE, cv2.SOLVEPNP_SQPNP) if planar else (cv2.SOLVEPNP_SQPNP,)
    cands = []
    for flag in flags:      # IPPE can return NaN in exactly symmetric views: SQPnP then
        try:
            n, rvecs, tvecs, errs = cv2.solvePnPGeneric(obj, img, K, dist, flags=flag)
        except cv2.error:
            continue
        errs = np.ravel(errs).tolist() if errs is not None else [0.0] * n
        for i in range(n):
            r, t = rvecs[i].reshape(3, 1), tvecs[i].reshape(3, 1)
            # (a NaN or inf anywhere makes the sum non-finite)
            if t[2, 0] > 0 and math.isfinite(errs[i] + float(r.sum()) + float(t.sum())):
                cands.append((errs[i], r, t))
        if cands:
            break
    if not cands and T_prev is not None:
        cands.append((0.0, cv2.Rodrigues(T_prev[:3, :3])[0], T_prev[:3, 3].reshape(3, 1).copy()))
    if not cands:
        return None
    best = min(cands, key=lambda c: c[0])
    if T_prev is not None and len(cands) > 1:
        ok = [c for c in cands if c[0] <= best[0] * ambiguity_ratio + 0.3]
        if len(ok) > 1:
            best = min(ok, key=lambda c: angle_to(c[1], T_prev))
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, dist, best[1].copy(), best[2].copy())
    if not math.isfinite(float(rvec.sum()) + float(tvec.sum())) or tvec[2, 0] <= 0:
        return None
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvec)[0]
    T[:3, 3] = tvec.ravel()
    return T


def refine_from(obj_mm: np.ndarray, img_px: np.ndarray, K: np.ndarray, dist: np.ndarray,
                T_start: np.ndarray, iterations: int = 2) -> Optional[np.ndarray]:
    """T_camera_from_body (4x4, mm) by `iterations` Levenberg-Marquardt steps from T_start (no fresh
    solve), or None when it fails or ends behind the camera. For steady tracking, where T_start
    (the last frame's pose) lies in the basin of the right solution; the caller checks the
    reprojection error and falls back to solve_body_pose when it is not as good as the last
    frame's. Two steps from the last frame's pose of the bench's moving coil: 3e-6 mm from the
    converged pose (one step: 5e-3 mm); OpenCV's default criteria take a third step to see that."""
    rvec0 = cv2.Rodrigues(T_start[:3, :3])[0]
    rvec, tvec = cv2.solvePnPRefineLM(np.ascontiguousarray(obj_mm, dtype=np.float64),
                                      np.ascontiguousarray(img_px, dtype=np.float64), K, dist, rvec0,
                                      T_start[:3, 3].reshape(3, 1).copy(),
                                      (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, iterations, 1.1920929e-07))
    if not math.isfinite(float(rvec.sum()) + float(tvec.sum())) or tvec[2, 0] <= 0:
        return None
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvec)[0]
    T[:3, 3] = tvec.ravel()
    return T
