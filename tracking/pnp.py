"""One rigid-body pose from 3D-2D corner correspondences (pure functions over OpenCV's PnP).

Flat bodies: IPPE (cv2.solvePnPGeneric, SOLVEPNP_IPPE) returns both solutions of the planar
mirror ambiguity with their reprojection errors (SQPnP when IPPE fails, which OpenCV's IPPE
does with NaN for some exactly symmetric views); 3D bodies: SQPnP. The chosen solution is
refined by Levenberg-Marquardt (cv2.solvePnPRefineLM). Steady tracking may instead refine the pose predicted
from the last frames (refine_from, Gauss-Newton): the same local minimum the fresh solve's
candidate nearest the previous pose leads to, at about half the cost. Poses are T_camera_from_body, 4x4, mm.
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
                T_start: np.ndarray, steps: int = 2, tol_mm: float = 0.02,
                reach_mm: Optional[float] = None) -> Optional[np.ndarray]:
    """T_camera_from_body (4x4, mm) by `steps` Gauss-Newton steps from T_start (no fresh solve;
    the projection and its Jacobian from cv2.projectPoints, distortion included), or None when
    the last step still moved a body point (obj_mm) by more than tol_mm (the start was too far),
    or shrank it by less than 5 x (not converging fast enough), when the system is singular, or
    when the pose ends behind the camera. Near the solution each step shrinks the error
    quadratically on an oblique plate, but only to a twentieth to a fifth on a near-frontal one
    (its tilt is weakly fixed by the corners); accepted poses are within 0.01 mm of the converged
    one (tests/tracking/test_pnp.py; on the tracking bench's frames within 1e-4 mm).

    For steady tracking, where T_start (the pose predicted from the last frames) lies in the
    basin of the right solution; the caller checks the reprojection error and falls back to
    solve_body_pose when it is not as good as the last frame's. Two steps cost about half the
    fresh IPPE + Levenberg-Marquardt solve. reach_mm: the largest distance of a body point from
    the body origin (computed from obj_mm when None)."""
    obj = np.ascontiguousarray(obj_mm, dtype=np.float64)
    img = np.ascontiguousarray(img_px, dtype=np.float64).reshape(-1)
    rvec = cv2.Rodrigues(np.ascontiguousarray(T_start[:3, :3]))[0].ravel()
    tvec = np.array(T_start[:3, 3], dtype=np.float64)
    reach = reach_mm if reach_mm is not None else float(np.sqrt((obj * obj).sum(axis=1).max()))  # lever arm, mm
    move = prev = math.inf
    for _ in range(steps):
        prev = move
        uv, jac = cv2.projectPoints(obj, rvec, tvec, K, dist)
        A = jac[:, :6]                                                # d(u, v) / d(rvec, tvec)
        ok, d = cv2.solve(A.T @ A, (A.T @ (img - uv.reshape(-1))).reshape(6, 1), flags=cv2.DECOMP_CHOLESKY)
        if not ok:
            return None
        d = d.ravel()
        rvec = rvec + d[:3]
        tvec = tvec + d[3:]
        move = float(np.sqrt(d[:3] @ d[:3])) * reach + float(np.sqrt(d[3:] @ d[3:]))
    # converged: the last step small, and at most a fifth of the one before (the error left is then
    # about a quarter of the last step or less)
    if not (move <= tol_mm and move <= 0.2 * prev) or tvec[2] <= 0:
        return None
    T = np.empty((4, 4))
    T[:3, :3] = cv2.Rodrigues(rvec)[0]
    T[:3, 3] = tvec
    T[3] = (0.0, 0.0, 0.0, 1.0)
    return T
