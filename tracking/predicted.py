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


def read_cells(gray: np.ndarray, corners: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean gray level of each cell of each tag: corners (N, 4, 2) px ordered as detected.
    Returns (N, bits, bits) float32 cell means and (N,) the tag's contrast (white minus black
    cell level, from the brightest and darkest quarter of the cells)."""
    n = len(corners)
    uv = _cell_centres(bits)
    src = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    pts = np.empty((n, len(uv), 2), np.float32)
    for i in range(n):
        H = cv2.getPerspectiveTransform(src, corners[i].astype(np.float32))
        pts[i] = cv2.perspectiveTransform(uv[None].astype(np.float32), H)[0]
    vals = _bilinear(gray, pts[..., 0], pts[..., 1]).reshape(n, bits * bits, 4).mean(-1)
    s = np.sort(vals, axis=1)
    q = max(1, (bits * bits) // 4)
    contrast = s[:, -q:].mean(1) - s[:, :q].mean(1)
    return vals.reshape(n, bits, bits), contrast


def verify_predicted(gray: np.ndarray, predicted: np.ndarray, dictionary: str, ids: list[int], iterations: int = 2,
                     max_jump_px: float = 3.0, min_contrast: float = 30.0, max_bit_errors: int = 1):
    """Refine predicted corners (N, 4, 2) px of the given tag ids and check each tag.

    Returns (corners (N, 4, 2) px, ok (N,) bool, spread (N,) px: the edge spread of
    tracking.edgerefine). ok: every corner came from its edge fit, the tag's contrast is at
    least min_contrast gray levels, and its cells (thresholded halfway between its dark and
    bright cells) read the tag's code with at most max_bit_errors wrong cells."""
    bits = dictionary_by_name(dictionary).markerSize + 2
    pred = np.asarray(predicted, np.float64).reshape(-1, 4, 2)
    h, w = gray.shape
    inside = np.all((pred[..., 0] > 2) & (pred[..., 0] < w - 3) & (pred[..., 1] > 2) & (pred[..., 1] < h - 3), axis=1)
    ref, spread, status = refine_corners(gray, pred, bits, iterations, max_jump_px=max_jump_px, return_status=True)
    ok = inside & status.all(axis=1)
    if np.any(ok):
        cells, contrast = read_cells(gray, ref[ok], bits)
        lo = np.sort(cells.reshape(len(cells), -1), axis=1)
        thr = 0.5 * (lo[:, : max(1, bits)].mean(1) + lo[:, -max(1, bits):].mean(1))
        white = cells > thr[:, None, None]
        want = np.stack([tag_cells(dictionary, ids[i]) for i in np.flatnonzero(ok)])
        errors = (white != want).reshape(len(want), -1).sum(1)
        good = (contrast >= min_contrast) & (errors <= max_bit_errors)
        idx = np.flatnonzero(ok)
        ok[idx[~good]] = False
    return ref, ok, spread
