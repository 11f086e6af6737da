"""Subpixel tag corners from straight-edge fits.

Why not cv2.cornerSubPix (ArUco's CORNER_REFINE_SUBPIX): on the convex corner of a dark square
it is biased towards the inside of the square. Measured on exactly rendered tags of ~70 px it
puts corners 0.12-0.22 px inside the true corner (depending on the window), which makes every
tag look smaller and moves a 500 mm pose ~0.7 mm too far. Fitting a line to each of the tag's
four outer edges and intersecting neighbouring lines has no such bias: each edge point is the
centroid of the dark-to-light intensity step across the edge, sampled away from the corners.

All tags of a frame are refined together with vectorised numpy (no Python loop over pixels
or tags). Coordinates are OpenCV pixel coordinates (pixel centres at integers), px.
"""
from __future__ import annotations

import numpy as np


def _bilinear(gray: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (H, W) image at float pixel coordinates (any shape), float32.
    Coordinates are clamped to the image."""
    h, w = gray.shape
    x = np.clip(x, 0.0, w - 1.001)
    y = np.clip(y, 0.0, h - 1.001)
    x0 = x.astype(np.intp)
    y0 = y.astype(np.intp)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    g = gray
    a = g[y0, x0].astype(np.float32)
    b = g[y0, x0 + 1].astype(np.float32)
    c = g[y0 + 1, x0].astype(np.float32)
    d = g[y0 + 1, x0 + 1].astype(np.float32)
    top = a + (b - a) * fx
    bot = c + (d - c) * fx
    return top + (bot - top) * fy


def refine_corners(gray: np.ndarray, corners: np.ndarray, bits: int = 6, iterations: int = 2,
                   samples_per_edge: int = 12, edge_margin: float = 0.15) -> np.ndarray:
    """Refine tag corners (N, 4, 2) px, ordered around each tag, by fitting its 4 outer edges.

    gray: (H, W) uint8 image; bits: modules across a tag including its black border (marker
    size + 2), which bounds the profile length so that a profile crosses only the outer edge.
    Returns refined (N, 4, 2) float64 corners; a tag whose refinement fails (no contrast,
    degenerate lines, a jump of more than 2 px) keeps its input corners."""
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)
    if len(c) == 0:
        return c.copy()
    out = c.copy()
    for _ in range(iterations):
        out = _refine_once(gray, out, c, bits, samples_per_edge, edge_margin)
    return out


def _refine_once(gray, cur, orig, bits, m, margin):
    n = len(cur)
    p0 = cur
    p1 = np.roll(cur, -1, axis=1)                          # edge k runs from corner k to corner k+1
    d = p1 - p0
    length = np.linalg.norm(d, axis=-1, keepdims=True)    # (N, 4, 1)
    u = d / np.maximum(length, 1e-9)
    nrm = np.stack([u[..., 1], -u[..., 0]], axis=-1)       # a unit normal of each edge
    centre = cur.mean(axis=1, keepdims=True)
    mid = 0.5 * (p0 + p1)
    sign = np.sign(((mid - centre) * nrm).sum(-1, keepdims=True))
    nrm = nrm * np.where(sign == 0, 1.0, sign)             # now pointing out of the tag (dark -> light)
    module = length.mean(axis=1, keepdims=True) / bits     # (N, 1, 1) px per module
    half = np.clip(0.7 * module, 1.5, 6.0)                  # profile half length, px
    k = 15                                                  # samples per profile
    s = np.linspace(-1.0, 1.0, k)[None, None, None, :] * half[..., None]        # (N,1,1,k)
    t = np.linspace(margin, 1.0 - margin, m)[None, None, :, None]                # (1,1,m,1)
    base = p0[:, :, None, None, :] + t[..., None] * d[:, :, None, None, :]       # (N,4,m,1,2)
    pts = base + s[..., None] * nrm[:, :, None, None, :]                         # (N,4,m,k,2)
    prof = _bilinear(gray, pts[..., 0], pts[..., 1])                             # (N,4,m,k)
    dv = np.diff(prof, axis=-1)                                                  # (N,4,m,k-1)
    w = np.maximum(dv, 0.0)
    smid = 0.5 * (s[..., 1:] + s[..., :-1])                                      # (N,1,1,k-1)
    wsum = w.sum(-1)
    off = (w * smid).sum(-1) / np.maximum(wsum, 1e-9)                            # (N,4,m)
    contrast = prof[..., -2:].mean(-1) - prof[..., :2].mean(-1)                  # light minus dark
    good = (wsum > 0) & (contrast > 8.0)                                          # (N,4,m)
    edge_pts = base[..., 0, :] + off[..., None] * nrm[:, :, None, :]             # (N,4,m,2)
    # weighted total-least-squares line per edge
    wt = good.astype(np.float64)
    cnt = wt.sum(-1)                                                             # (N,4)
    mean = (edge_pts * wt[..., None]).sum(2) / np.maximum(cnt, 1)[..., None]      # (N,4,2)
    q = (edge_pts - mean[:, :, None, :]) * np.sqrt(wt)[..., None]
    sxx = (q[..., 0] ** 2).sum(-1)
    syy = (q[..., 1] ** 2).sum(-1)
    sxy = (q[..., 0] * q[..., 1]).sum(-1)
    ang = 0.5 * np.arctan2(2 * sxy, sxx - syy)                                   # principal direction
    ldir = np.stack([np.cos(ang), np.sin(ang)], axis=-1)                         # (N,4,2)
    # corner k = intersection of edge k-1 (into corner k) and edge k (out of corner k)
    a_pt, a_dir = np.roll(mean, 1, axis=1), np.roll(ldir, 1, axis=1)
    b_pt, b_dir = mean, ldir
    cross = a_dir[..., 0] * b_dir[..., 1] - a_dir[..., 1] * b_dir[..., 0]
    diff = b_pt - a_pt
    ta = (diff[..., 0] * b_dir[..., 1] - diff[..., 1] * b_dir[..., 0]) / np.where(np.abs(cross) < 1e-6, np.nan, cross)
    new = a_pt + ta[..., None] * a_dir                                           # (N,4,2)
    ok_edge = cnt >= max(3, m // 2)
    ok = (np.all(ok_edge & np.roll(ok_edge, 1, axis=1), axis=1)
          & np.all(np.isfinite(new), axis=(1, 2))
          & np.all(np.linalg.norm(new - orig, axis=-1) < 2.0, axis=1))
    res = cur.copy()
    res[ok] = new[ok]
    return res
