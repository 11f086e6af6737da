"""Search regions (ROIs) for steady tracking: where a body will appear in the next frame.

A Rect is (x0, y0, x1, y1) in whole image pixels, half-open (x1, y1 excluded), clipped to the
image. Pure functions, no state.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

Rect = tuple[int, int, int, int]


def predict_rect(uv: np.ndarray, uv_prev: Optional[np.ndarray], pad_px: float, pad_rel: float,
                 width: int, height: int) -> Optional[Rect]:
    """Box around a body's projected corners uv (N, 2) px in the next frame.

    Constant image velocity: the box covers both the last projection and the last projection
    moved by (uv - uv_prev), padded by pad_px + pad_rel * box size. None when the prediction
    leaves the image entirely or is not finite."""
    pts = uv
    if uv_prev is not None and uv_prev.shape == uv.shape:
        pts = np.concatenate([uv, 2 * uv - uv_prev])
    if not np.all(np.isfinite(pts)):
        return None
    lo = pts.min(axis=0)
    hi = pts.max(axis=0)
    pad = pad_px + pad_rel * float((hi - lo).max())
    x0 = int(max(0, np.floor(lo[0] - pad)))
    y0 = int(max(0, np.floor(lo[1] - pad)))
    x1 = int(min(width, np.ceil(hi[0] + pad) + 1))
    y1 = int(min(height, np.ceil(hi[1] + pad) + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return (x0, y0, x1, y1)


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _area(r: Rect) -> int:
    return (r[2] - r[0]) * (r[3] - r[1])


def merge_rects(rects: list[Rect]) -> list[Rect]:
    """Merge overlapping rectangles into their bounding box whenever that box has no more pixels
    than the two rectangles searched apart (then merging saves time); other overlapping pairs
    stay apart, and a tag found in both is de-duplicated by the caller."""
    out = list(rects)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                if _overlap(a, b) and _area(u) <= _area(a) + _area(b):
                    out[i] = u
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


def _signed_area(q: np.ndarray) -> np.ndarray:
    """Shoelace signed area (px^2) of (..., 4, 2) quads; its sign is the corner order's orientation."""
    x, y = q[..., 0], q[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(-1)


def expected_quads(uv: np.ndarray, seen: list, width: int, height: int, min_perimeter_px: float) -> np.ndarray:
    """Which of the projected tags uv (N, 4, 2) px a detector should find: inside the image (2 px
    margin), perimeter at least min_perimeter_px, and facing the camera, i.e. with the corner
    orientation of the body's detected quads `seen` (list of (4, 2) px; a tag seen from behind is
    mirrored). (N,) bool."""
    if not seen or not len(uv):
        return np.zeros(len(uv), bool)
    sign = np.sign(_signed_area(np.asarray(seen, np.float64)).sum())
    inside = np.all((uv[..., 0] >= 2) & (uv[..., 0] <= width - 3) & (uv[..., 1] >= 2) & (uv[..., 1] <= height - 3), axis=1)
    perimeter = np.linalg.norm(np.roll(uv, -1, axis=1) - uv, axis=-1).sum(1)
    return inside & (perimeter >= min_perimeter_px) & (np.sign(_signed_area(uv)) == sign)
