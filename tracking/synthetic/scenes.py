"""Scene pieces for tracking.synthetic.renderer: tag geometry helpers, the textured background and the
hand-shaped occluder. Pixel coordinates are OpenCV's (pixel centres at integers); images are
float32 BGR (h, w, 3) with gray levels 0..255."""
from __future__ import annotations

import math

import cv2
import numpy as np


def grow_tag(corners: np.ndarray, modules: float, bits: int) -> np.ndarray:
    """Corners (4, 3) of a square tag grown outward by `modules` modules (tag = bits modules)."""
    c = corners.mean(axis=0)
    return c + (corners - c) * (bits + 2.0 * modules) / bits


def is_coplanar(points: np.ndarray, tol_mm: float = 0.5) -> bool:
    centred = points - points.mean(axis=0)
    return bool(np.linalg.svd(centred, compute_uv=False)[-1] / math.sqrt(len(points)) < tol_mm)


def textured_background(size: tuple[int, int], seed: int) -> np.ndarray:
    """(h, w, 3) float32 BGR background: colour gradient, multi-scale noise and clutter
    (rectangles, discs, lines, text), slightly softened. size = (width, height) px."""
    w, h = size
    rng = np.random.default_rng([seed, 7])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(70, 150, 3).astype(np.float32)
    slope = rng.uniform(-40, 40, (2, 3)).astype(np.float32)
    img = base + (xx / w)[..., None] * slope[0] + (yy / h)[..., None] * slope[1]
    for cells, amp in ((4, 30.0), (16, 18.0), (64, 8.0)):
        small = rng.normal(0, amp, (max(2, h * cells // w), cells, 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    scale = max(w, h) / 640.0
    text = np.zeros((h, w), np.uint8)
    for _ in range(40):
        colour = tuple(float(v) for v in rng.uniform(10, 245, 3))
        kind = rng.integers(0, 4)
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            x1, y1 = x0 + int(rng.integers(10, w // 5)), y0 + int(rng.integers(10, h // 5))
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, int(rng.choice([-1, 2, 4])), cv2.LINE_AA)
        elif kind == 1:
            cv2.circle(img, (x0, y0), int(rng.integers(5, 60 * scale)), colour, int(rng.choice([-1, 3])), cv2.LINE_AA)
        elif kind == 2:
            x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (x0, y0), (x1, y1), colour, int(rng.integers(1, 6)), cv2.LINE_AA)
        else:
            cv2.putText(text, "".join(rng.choice(list("ABCDEFGHKMNPRSTUVXZ0123456789"), 5)), (x0, y0),
                        cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.5, 2.0) * scale), 255, 2, cv2.LINE_AA)
    a = (text.astype(np.float32) / 255.0)[..., None]
    img = img * (1.0 - a) + a * rng.uniform(10, 60, 3).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    return np.clip(img, 0, 255)



def draw_hand(canvas: np.ndarray, idbuf: np.ndarray, c: np.ndarray, r: float, from_deg: float, s: float,
              cover_id: int) -> None:
    """Draw a hand (ellipse of radius r px around canvas point c when s = 1) and its forearm,
    slid out along direction from_deg by (1 - s) of the canvas size; writes cover_id into idbuf."""
    ch, cw = canvas.shape[:2]
    u = np.array([math.cos(math.radians(from_deg)), math.sin(math.radians(from_deg))])
    c = c + (1 - s) * (cw + ch) * u                       # slides in along -u
    far = c + (cw + ch) * u                               # the forearm reaches off the image
    perp = np.array([-u[1], u[0]])
    arm = np.array([c + 0.6 * r * perp, c - 0.55 * r * perp, far - 0.75 * r * perp, far + 0.8 * r * perp])
    lo = np.maximum(np.floor(np.minimum(arm.min(axis=0), c - 1.3 * r)), 0).astype(int)
    hi = np.minimum(np.ceil(np.maximum(arm.max(axis=0), c + 1.3 * r)) + 1, [cw, ch]).astype(int)
    (x0, y0), (x1, y1) = lo, hi
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cc = (c - [x0, y0]) * 16
    cv2.ellipse(mask, (int(cc[0]), int(cc[1])), (int(r * 16), int(1.15 * r * 16)),
                from_deg - 90.0, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    cv2.fillConvexPoly(mask, np.round((arm - [x0, y0]) * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
    small = cv2.resize(mask, (max((x1 - x0) // 8, 1), max((y1 - y0) // 8, 1)), interpolation=cv2.INTER_AREA)
    soft = cv2.resize(cv2.GaussianBlur(small, (0, 0), max(r / 48, 0.5)), (x1 - x0, y1 - y0))
    colour = np.array([105.0, 135.0, 185.0], np.float32) * (0.75 + 0.3 * soft[..., None])
    a = mask[..., None]
    roi = canvas[y0:y1, x0:x1]
    roi *= 1.0 - a
    roi += colour * a
    idbuf[y0:y1, x0:x1][mask > 0.5] = cover_id
