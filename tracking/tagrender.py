"""Exact renderer of marker bodies: each tag image is warped with cv2.warpPerspective onto the
image at the projection of its body-frame corners through a pinhole camera (no distortion).

Small and deterministic, for tests and the tracking benchmark: the ground-truth pose is known
exactly, so pose estimation error can be measured. Tags are drawn on a white plate (the convex
hull of the body's tags grown by one tag-module), supersampled then area-averaged for
anti-aliased edges. Images are (H, W) uint8 gray.
"""
from __future__ import annotations

from typing import Iterable, Optional

import cv2
import numpy as np

from tracking.bodies import MarkerBody, dictionary_by_name
from tracking.camera import CameraModel

_TAG_CACHE: dict[tuple[str, int, int], np.ndarray] = {}


def _tag_image(dictionary: str, tag_id: int, px_per_bit: int) -> np.ndarray:
    """The tag (black border included) with a one-module white quiet zone, uint8, px_per_bit
    pixels per module; the tag's outer corners sit px_per_bit pixels in from the image edge."""
    key = (dictionary, tag_id, px_per_bit)
    if key not in _TAG_CACHE:
        d = dictionary_by_name(dictionary)
        bits = d.markerSize + 2
        tag = cv2.aruco.generateImageMarker(d, tag_id, bits * px_per_bit, borderBits=1)
        _TAG_CACHE[key] = cv2.copyMakeBorder(tag, px_per_bit, px_per_bit, px_per_bit, px_per_bit,
                                             cv2.BORDER_CONSTANT, value=255)
    return _TAG_CACHE[key]


def textured_background(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth random gray background of (width, height) with some clutter, uint8."""
    w, h = size
    rng = np.random.default_rng(seed)
    small = rng.uniform(60, 190, size=(max(h // 40, 2), max(w // 40, 2))).astype(np.float32)
    bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):  # a few dark/light rectangles and lines as clutter
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 6)), y0 + int(rng.integers(10, h // 6))
        cv2.rectangle(bg, (x0, y0), (x1, y1), float(rng.uniform(20, 235)), int(rng.choice([-1, 2, 5])))
    return np.clip(bg, 0, 255).astype(np.uint8)


def project(camera: CameraModel, T_camera_from_body: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """Pinhole projection (no distortion) of (N, 3) body points (mm) to (N, 2) pixels."""
    p = points_mm @ T_camera_from_body[:3, :3].T + T_camera_from_body[:3, 3]
    uvw = p @ camera.K.T
    return uvw[:, :2] / uvw[:, 2:3]


def render(camera: CameraModel, scene: Iterable[tuple[MarkerBody, np.ndarray]],
           background: Optional[np.ndarray] = None, supersample: int = 3,
           noise_sigma: float = 0.0, blur_sigma: float = 0.0, seed: int = 0) -> np.ndarray:
    """Render bodies at poses T_camera_from_body (4x4, mm) into a gray image of camera.image_size.

    Bodies with any corner behind the camera (z <= 1 mm) are skipped. `noise_sigma` adds
    Gaussian gray-level noise, `blur_sigma` a Gaussian blur (px) for a defocused look."""
    w, h = camera.image_size
    img = (np.full((h, w), 128, np.uint8) if background is None else background.copy()).astype(np.float32)
    ss = int(supersample)
    for body, T in scene:
        tag_ids = body.ids
        pts3 = body.corners()
        z = pts3 @ T[2, :3] + T[2, 3]
        if np.any(z <= 1.0):
            continue
        # plate: each tag grown by one module (its quiet zone), convex hull of all
        module = body.tag_size_mm(tag_ids[0]) / (dictionary_by_name(body.dictionary).markerSize + 2)
        grown = []
        for c in body.tags.values():
            cc = c.mean(axis=0)
            grown.append(cc + (c - cc) * (1 + 2 * module / np.linalg.norm(c[1] - c[0])))
        plate_uv = project(camera, T, np.concatenate(grown))
        x0, y0 = np.floor(plate_uv.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(plate_uv.max(axis=0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        cw, ch = (x1 - x0) * ss, (y1 - y0) * ss
        canvas = np.zeros((ch, cw), np.float32)
        mask = np.zeros((ch, cw), np.float32)

        def to_canvas(uv: np.ndarray) -> np.ndarray:
            # pixel centre u maps to canvas centre (u - x0 + 0.5) * ss - 0.5
            return ((uv - [x0, y0]) + 0.5) * ss - 0.5

        hull = cv2.convexHull(to_canvas(plate_uv).astype(np.float32))
        cv2.fillConvexPoly(canvas, np.round(hull * 16).astype(np.int32), 255.0, lineType=cv2.LINE_AA, shift=4)
        cv2.fillConvexPoly(mask, np.round(hull * 16).astype(np.int32), 1.0, lineType=cv2.LINE_AA, shift=4)
        for tid in tag_ids:
            dst = to_canvas(project(camera, T, body.tags[tid])).astype(np.float32)
            edge = float(np.linalg.norm(dst[1] - dst[0]))
            bits = dictionary_by_name(body.dictionary).markerSize + 2
            ppb = int(np.clip(round(edge / bits), 2, 64))
            tag = _tag_image(body.dictionary, tid, ppb)
            a, b = ppb - 0.5, tag.shape[0] - ppb - 0.5
            src = np.array([[a, a], [b, a], [b, b], [a, b]], np.float32)
            H = cv2.getPerspectiveTransform(src, dst)
            tw = cv2.warpPerspective(tag.astype(np.float32), H, (cw, ch), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)
            inside = tw >= 0
            canvas[inside] = tw[inside]
        small = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        msmall = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        roi = img[y0:y1, x0:x1]
        img[y0:y1, x0:x1] = roi * (1 - msmall) + small * msmall
    if blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    if noise_sigma > 0:
        img += np.random.default_rng(seed).normal(0, noise_sigma, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
