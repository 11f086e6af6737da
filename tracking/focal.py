"""Focal length from the marker bodies' own geometry, for a camera with no calibration.

Model: pinhole, square pixels, principal point at the image centre, no distortion; one unknown,
the focal length f (px). Each view of a body (a frame in which >= 2 of its tags, or a 3D body's
tags, were detected) is solved for its pose at a given f (tracking.pnp: IPPE/SQPnP then
Levenberg-Marquardt), and f minimises the sum of squared corner reprojection errors over all
views (a grid over log f, then Brent's method). A tilted flat body fixes f through its
perspective foreshortening (Zhang, "A flexible new technique for camera calibration",
IEEE TPAMI 22(11), 2000, with the principal point known); a body seen face-on does not, and
the estimate then says so (sigma, or a minimum at the end of the searched range).

Measured on ../shared/data/real/webcam-aruco-sksurgery/multipattern.avi: f = 435 px (0.68 x
the width), corner RMS 1.5 px at f = 1.3 x width -> 0.3 px at the estimate. The guess navtms
used before (1.3 x width) is far from every real camera measured (0.3-1.0 x width).

Pixels are image pixels (px); bodies in mm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import cv2
import numpy as np
from scipy.optimize import minimize_scalar

from navcore.errors import TrackingError
from tracking.bodies import MarkerBody
from tracking.camera import CameraModel
from tracking.pnp import is_planar, solve_body_pose

MIN_VIEWS_POINTS = 8          # a view needs at least this many corners (2 tags)
NOISE_FLOOR_PX = 0.05         # corner noise is never taken lower than this for the uncertainty


@dataclass(frozen=True)
class FocalEstimate:
    """f_px: focal length (px); sigma_px: its 1-sigma uncertainty from the curvature of the
    squared error (px); rms_px: corner reprojection RMS at f_px; views: body views used;
    corners: corners used; frames: frames that had a usable view."""

    f_px: float
    sigma_px: float
    rms_px: float
    views: int
    corners: int
    frames: int

    def camera(self, width: int, height: int) -> CameraModel:
        """The pinhole CameraModel of this estimate (centre principal point, no distortion)."""
        return centred_camera(self.f_px, width, height)


def centred_camera(f_px: float, width: int, height: int) -> CameraModel:
    """Square-pixel pinhole camera of focal f_px (px) with the principal point at the image centre."""
    K = np.array([[f_px, 0.0, (width - 1) / 2.0], [0.0, f_px, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    return CameraModel((int(width), int(height)), K, np.zeros(5), None)


def _views(bodies: Sequence[MarkerBody], detections: Iterable[Mapping]) -> tuple[list, int]:
    """[(object points (N, 3) mm, image points (N, 2) px, planar)] from per-frame detections
    {(dictionary, tag id): (4, 2) px}; and the number of frames with a view."""
    views, frames = [], 0
    for det in detections:
        n0 = len(views)
        for b in bodies:
            ids = [t for t in b.ids if (b.dictionary, t) in det]
            if 4 * len(ids) < MIN_VIEWS_POINTS:
                continue
            obj = np.ascontiguousarray(b.corners(ids), np.float64)
            img = np.ascontiguousarray(np.concatenate([np.asarray(det[(b.dictionary, t)], np.float64).reshape(4, 2)
                                                       for t in ids]), np.float64)
            views.append((obj, img, is_planar(obj)))
        frames += len(views) > n0
    return views, frames


def _sse(f: float, views: list, cx: float, cy: float) -> float:
    K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    dist = np.zeros(5)
    total = 0.0
    for obj, img, planar in views:
        T = solve_body_pose(obj, img, K, dist, planar)
        if T is None:
            return math.inf
        uv, _ = cv2.projectPoints(obj, cv2.Rodrigues(T[:3, :3])[0], T[:3, 3].copy(), K, dist)
        total += float(((uv.reshape(-1, 2) - img) ** 2).sum())
    return total


def estimate_focal(bodies: Sequence[MarkerBody], detections: Iterable[Mapping], image_size: tuple[int, int],
                   lo_factor: float = 0.2, hi_factor: float = 4.0, max_rel_sigma: float = 0.05) -> FocalEstimate:
    """Focal length (px) that best fits the detected corners of the known bodies.

    detections: per frame, {(dictionary, tag id): (4, 2) corners px}, e.g. MarkerTracker's
    last_detections; image_size (width, height) px; the search runs over [lo_factor, hi_factor]
    x the width. Raises TrackingError when no body was seen with 2 tags, or when f is not
    determined (minimum at the end of the range, or relative sigma above max_rel_sigma: the
    bodies were seen face-on or too small)."""
    w, h = int(image_size[0]), int(image_size[1])
    views, frames = _views(bodies, detections)
    if not views:
        raise TrackingError("the focal length cannot be estimated: no marker body was seen with 2 or more tags")
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    grid = np.exp(np.linspace(math.log(lo_factor * w), math.log(hi_factor * w), 33))
    cost = np.array([_sse(f, views, cx, cy) for f in grid])
    k = int(np.argmin(cost))
    if k in (0, len(grid) - 1) or not math.isfinite(cost[k]):
        raise TrackingError(
            f"the focal length cannot be estimated from {len(views)} view(s) of the bodies: the best fit lies at "
            f"the end of the searched range ({grid[k]:.0f} px); the bodies are seen too face-on or too small")
    res = minimize_scalar(lambda lf: _sse(math.exp(lf), views, cx, cy),
                          bounds=(math.log(grid[k - 1]), math.log(grid[k + 1])), method="bounded",
                          options={"xatol": 1e-5})
    f = float(math.exp(res.x))
    sse = float(res.fun)
    n_corners = sum(len(v[1]) for v in views)
    dof = max(2 * n_corners - 6 * len(views) - 1, 1)
    # 1 sigma from the curvature of the squared error: var(f) = 2 s^2 / SSE''(f)
    step = 0.01 * f
    curv = (_sse(f + step, views, cx, cy) - 2 * sse + _sse(f - step, views, cx, cy)) / step ** 2
    s2 = max(sse / dof, NOISE_FLOOR_PX ** 2)       # exact (synthetic) corners still have noise in a camera
    sigma = math.sqrt(2 * s2 / curv) if curv > 0 else math.inf
    est = FocalEstimate(f, sigma, math.sqrt(sse / n_corners), len(views), n_corners, frames)
    if not sigma <= max_rel_sigma * f:
        raise TrackingError(
            f"the focal length is poorly determined by {len(views)} view(s) of the bodies "
            f"({f:.0f} +- {sigma:.0f} px): tilt the bodies towards the camera or calibrate it")
    return est


def estimate_camera(images: Sequence[np.ndarray], bodies: Sequence[MarkerBody], **kwargs) -> tuple[CameraModel, FocalEstimate]:
    """CameraModel estimated from the bodies' geometry in some frames (BGR or gray, one size):
    the tags are detected with navtms's tracker under a provisional camera (detection does not
    depend on the focal length), then estimate_focal. kwargs go to estimate_focal."""
    from tracking.pose import MarkerTracker
    from tracking.types import Frame

    if not len(images):
        raise TrackingError("the focal length cannot be estimated: no frames")
    h, w = images[0].shape[:2]
    tracker = MarkerTracker(centred_camera(float(w), w, h), list(bodies))
    dets = []
    for i, img in enumerate(images):
        tracker.estimate(Frame(i, i, img))
        dets.append(dict(tracker.last_detections))
    est = estimate_focal(bodies, dets, (w, h), **kwargs)
    return est.camera(w, h), est
