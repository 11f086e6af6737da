"""Steady tracking without detection: refine predicted tag corners and verify each tag's code.

While every body is tracked, each tag's corners in the next frame are predicted from the last
two frames (constant image velocity). The edge fits (tracking.edgerefine) then find the true
corners within a few pixels, and the tag's cells, sampled through the homography of the refined
corners, must read the tag's own code (its black border and its id's bit pattern in the
orientation the corners imply, at most `max_bit_errors` cells wrong) with enough contrast. A tag
that fails any check (moved too far, smeared, covered by a hand, out of the image) makes the
tracker fall back to its ordinary detection for that frame. ArUco candidate search and decoding
are the main cost of a frame; this skips them when nothing has changed.

Pixels: OpenCV image pixels (centres at integers), px.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import cv2
import numpy as np

from tracking.bodies import dictionary_by_name
from tracking.edgerefine import _bilinear, refine_corners


@lru_cache(maxsize=4096)
def tag_cells(dictionary: str, tag_id: int) -> np.ndarray:
    """(bits, bits) bool, True = white cell, of a tag including its black border, rotation 0
    (the cell at [row, col]; corner 0 of the detection is the top-left of cell [0, 0])."""
    d = dictionary_by_name(dictionary)
    bits = d.markerSize + 2
    img = cv2.aruco.generateImageMarker(d, int(tag_id), bits, borderBits=1)
    return img > 127


def _cell_centres(bits: int) -> np.ndarray:
    """(bits*bits, 2) cell centres in tag units (0..1), row-major, and 4 sub-samples per cell."""
    g = (np.arange(bits) + 0.5) / bits
    off = np.array([[-0.18, -0.18], [0.18, -0.18], [-0.18, 0.18], [0.18, 0.18]]) / bits
    cy, cx = np.meshgrid(g, g, indexing="ij")
    centres = np.stack([cx.ravel(), cy.ravel()], axis=1)          # (b*b, 2) x, y
    return (centres[:, None, :] + off[None]).reshape(-1, 2)        # (b*b*4, 2)


def square_homographies(corners: np.ndarray) -> np.ndarray:
    """(N, 3, 3) homographies mapping the unit square (0,0), (1,0), (1,1), (0,1) to each quad of
    corners (N, 4, 2) px, in closed form (Heckbert 1989, "Fundamentals of texture mapping and
    image warping", square-to-quadrilateral), all tags at once. Degenerate quads give non-finite
    entries."""
    p = np.asarray(corners, np.float64)
    x, y = p[..., 0], p[..., 1]
    sx, sy = x[:, 0] - x[:, 1] + x[:, 2] - x[:, 3], y[:, 0] - y[:, 1] + y[:, 2] - y[:, 3]
    dx1, dx2, dy1, dy2 = x[:, 1] - x[:, 2], x[:, 3] - x[:, 2], y[:, 1] - y[:, 2], y[:, 3] - y[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        den = dx1 * dy2 - dx2 * dy1
        g = (sx * dy2 - dx2 * sy) / den
        h = (dx1 * sy - sx * dy1) / den
    H = np.empty((len(p), 3, 3))
    H[:, 0, 0], H[:, 0, 1], H[:, 0, 2] = x[:, 1] - x[:, 0] + g * x[:, 1], x[:, 3] - x[:, 0] + h * x[:, 3], x[:, 0]
    H[:, 1, 0], H[:, 1, 1], H[:, 1, 2] = y[:, 1] - y[:, 0] + g * y[:, 1], y[:, 3] - y[:, 0] + h * y[:, 3], y[:, 0]
    H[:, 2, 0], H[:, 2, 1], H[:, 2, 2] = g, h, 1.0
    return H


@lru_cache(maxsize=8)
def _cell_samples_h(bits: int) -> np.ndarray:
    """(3, bits*bits*4) homogeneous sample points of _cell_centres."""
    uv = _cell_centres(bits)
    return np.vstack([uv.T, np.ones(len(uv))])


def read_cells(gray: np.ndarray, corners: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean gray level of each cell of each tag: corners (N, 4, 2) px ordered as detected.
    Returns (N, bits, bits) float32 cell means and (N,) the tag's contrast (white minus black
    cell level, from the brightest and darkest quarter of the cells)."""
    vals, contrast, _ = _cell_levels(gray, corners, bits)
    return vals, contrast


def _cell_points(corners: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) (N, bits*bits*4) float32 px: the cell sub-samples of each tag through the homography
    of its corners (N, 4, 2); degenerate quads give clamped samples."""
    pts = square_homographies(corners) @ _cell_samples_h(bits)         # (N, 3, P)
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = pts[:, :2] / pts[:, 2:]
    if not np.isfinite(xy).all():
        xy = np.nan_to_num(xy, nan=-1.0, posinf=-1.0, neginf=-1.0)
    xy = xy.astype(np.float32)
    return xy[:, 0], xy[:, 1]


def _cell_levels(gray: np.ndarray, corners: np.ndarray, bits: int, samples: Optional[np.ndarray] = None):
    """(cell means (N, bits, bits), contrast (N,), threshold (N,): halfway between the mean of the
    `bits` darkest and the `bits` brightest cells); samples: the _cell_points samples when taken
    already."""
    n = len(corners)
    if samples is None:
        samples = _bilinear(gray, *_cell_points(corners, bits))
    vals = samples.reshape(n * bits * bits, 4).sum(-1).reshape(n, bits * bits) * 0.25
    s = np.sort(vals, axis=1)
    q = max(1, (bits * bits) // 4)
    contrast = (s[:, -q:].sum(1) - s[:, :q].sum(1)) * (1.0 / q)
    thr = (s[:, :bits].sum(1) + s[:, -bits:].sum(1)) * (0.5 / bits)
    return vals.reshape(n, bits, bits), contrast, thr


@lru_cache(maxsize=1024)
def _codes(dictionary: str, ids: tuple[int, ...]) -> np.ndarray:
    """(N, bits, bits) bool: tag_cells of the given ids, stacked."""
    return np.stack([tag_cells(dictionary, i) for i in ids])


def verify_predicted(gray: np.ndarray, predicted: np.ndarray, dictionary: str, ids: list[int], iterations: int = 2,
                     max_jump_px: float = 3.0, min_contrast: float = 30.0, max_bit_errors: int = 1,
                     settle_px: float = 0.0):
    """Refine predicted corners (N, 4, 2) px of the given tag ids and check each tag.

    Returns (corners (N, 4, 2) px, ok (N,) bool, spread (N,) px: the edge spread of
    tracking.edgerefine). ok: every corner came from its edge fit, the tag's contrast is at
    least min_contrast gray levels, and its cells (thresholded halfway between its dark and
    bright cells) read the tag's code with at most max_bit_errors wrong cells. settle_px: as
    for tracking.edgerefine.refine_corners."""
    bits = dictionary_by_name(dictionary).markerSize + 2
    pred = np.asarray(predicted, np.float64).reshape(-1, 4, 2)
    h, w = gray.shape
    inside = ((pred > 2) & (pred < (w - 3, h - 3))).all(axis=(1, 2))     # every corner 2 px inside the image
    # the cells are sampled in the same image read as a second edge-fit pass (tracking.edgerefine)
    ref, spread, status, samples = refine_corners(gray, pred, bits, iterations, max_jump_px=max_jump_px,
                                                  settle_px=settle_px, sample_at=lambda c: _cell_points(c, bits))
    ok = inside & status.all(axis=1)
    if ok.any():
        idx = np.flatnonzero(ok)
        cells, contrast, thr = _cell_levels(gray, ref[idx], bits, samples[idx])
        want = _codes(dictionary, tuple(int(ids[i]) for i in idx))
        errors = ((cells > thr[:, None, None]) != want).reshape(len(idx), -1).sum(1)
        ok[idx[(contrast < min_contrast) | (errors > max_bit_errors)]] = False
    return ref, ok, spread
