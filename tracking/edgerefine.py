"""Subpixel tag corners from straight-edge fits.

Why not cv2.cornerSubPix (ArUco's CORNER_REFINE_SUBPIX): on the convex corner of a dark square
it is biased towards the inside of the square. Measured on exactly rendered tags of ~70 px it
puts corners 0.12-0.22 px inside the true corner (depending on the window), which makes every
tag look smaller and moves a 500 mm pose ~0.7 mm too far. Fitting a line to each of the tag's
four outer edges and intersecting neighbouring lines has no such bias: each edge point is the
centroid of the dark-to-light intensity step across the edge, sampled away from the corners (the
main step only: not a second edge nearby, nor rises from noise; on the tracking bench's rendered
frames the coil's error went from 0.047 to 0.033 mm RMS).

All tags of a frame are refined together with vectorised numpy (no Python loop over pixels
or tags). Coordinates are OpenCV pixel coordinates (pixel centres at integers), px.
"""
from __future__ import annotations

import numpy as np


def _bilinear(gray: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (H, W) image at float pixel coordinates (any shape), float32.
    Coordinates are clamped to the image."""
    h, w = gray.shape
    # (np.clip with the same bounds, without its Python wrapper: a few microseconds per call)
    x = np.minimum(np.maximum(x, 0.0, dtype=np.float32), w - 1.001, dtype=np.float32)
    y = np.minimum(np.maximum(y, 0.0, dtype=np.float32), h - 1.001, dtype=np.float32)
    x0 = x.astype(np.int32)
    y0 = y.astype(np.int32)
    fx = x - x0.astype(np.float32)
    fy = y - y0.astype(np.float32)
    if gray.flags.c_contiguous and gray.size < 2 ** 31:
        flat = gray.reshape(-1)
        idx = (y0 * w + x0).astype(np.intp)            # (numpy gathers fastest with intp indices)
        a = flat[idx].astype(np.float32)
        b = flat[idx + 1].astype(np.float32)
        idx += w
        c = flat[idx].astype(np.float32)
        d = flat[idx + 1].astype(np.float32)
    else:
        a, b = gray[y0, x0].astype(np.float32), gray[y0, x0 + 1].astype(np.float32)
        c, d = gray[y0 + 1, x0].astype(np.float32), gray[y0 + 1, x0 + 1].astype(np.float32)
    b -= a
    b *= fx
    a += b                    # top row
    d -= c
    d *= fx
    c += d                    # bottom row
    c -= a
    c *= fy
    a += c
    return a


_NEXT = np.array([1, 2, 3, 0])
_PREV = np.array([3, 0, 1, 2])
_LIN: dict = {}
_STARTS: dict = {}
_K = 15                                                     # samples per profile across an edge
_CUMSUM = np.triu(np.ones((_K - 1, _K - 1), np.float32))   # x @ _CUMSUM = cumulative sum along x's last axis
MAIN_STEP_FRACTION = 0.02   # the main step of an edge profile ends where the rise drops to this fraction of its largest
_CONTRAST = np.zeros(_K, np.float32)
_CONTRAST[:2], _CONTRAST[-2:] = -0.5, 0.5                   # mean of the light end minus the dark end


def _starts(size: int) -> np.ndarray:
    """np.arange(0, size, _K - 1): the flat index of each profile's first step (cached by size)."""
    a = _STARTS.get(size)
    if a is None:
        a = _STARTS[size] = np.arange(0, size, _K - 1)
        a.setflags(write=False)
    return a


def _lin(k: int, lo: float, hi: float) -> np.ndarray:
    key = (k, lo, hi)
    if key not in _LIN:
        _LIN[key] = np.linspace(lo, hi, k, dtype=np.float32)
    return _LIN[key]


def refine_corners(gray: np.ndarray, corners: np.ndarray, bits: int = 6, iterations: int = 2,
                   samples_per_edge: int = 12, edge_margin: float = 0.15, max_jump_px: float = 3.0,
                   return_spread: bool = False, return_status: bool = False, settle_px: float = 0.0,
                   sample_at=None):
    """Refine tag corners (N, 4, 2) px, ordered around each tag, by fitting its 4 outer edges.

    gray: (H, W) uint8 image; bits: modules across a tag including its black border (marker
    size + 2), which bounds the profile length so that a profile crosses only the outer edge.
    Returns refined (N, 4, 2) float64 corners. Each corner is the intersection of its two edges
    when both fit; a corner whose edges do not fit (no contrast, a degenerate line, a move of
    more than max_jump_px) keeps its input position, and the tag's other corners still use the
    edges that did fit (a strongly foreshortened tag with a thin white margin often has one
    unfittable edge; dropping the whole tag lost every tag of a real photo).
    iterations: passes, each sampling the edges where the previous pass put them; settle_px: a tag
    whose corners all came from edge fits and moved less than this (px) in a pass has settled
    and gets no further pass (the next pass would move it by about a tenth of that: measured on
    the rendered bench frames, a pass-1 move of 0.1 px median was followed by 0.012 px).
    return_spread: also return (N,) the width (px, weighted standard deviation of the
    dark-to-light step across the edge) of each tag's blurriest edge in its last pass: about
    1 px for a sharp tag, 2.5-3.5 px for a motion-smeared one whose corners are off by pixels.
    return_status: also return (N, 4) bool, True where the corner came from the edge fit of the
    tag's last pass (implies return_spread: the result is then (corners, spread, status)).
    sample_at: a function of corners (N, 4, 2) -> (x, y) float32 pixel coordinates of extra
    points to sample (bilinear, float32, shape of x), appended as a 4th result. They are sampled
    in the same image read as a second pass's profiles when one runs (at the corners that pass
    starts from: a tag refined again is then at most a few hundredths of a pixel from its final
    corners), else at the final corners: one sampling call fewer per frame for the caller's cells."""
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)
    out, spread, status = c, np.zeros(len(c)), np.zeros((len(c), 4), bool)
    active = None                                           # indices of the tags still refined; None = all
    extra = None
    for k in range(iterations if len(c) else 0):
        xy = sample_at(out) if sample_at is not None and k > 0 else None
        if active is None:
            cur = out
            out, spread, status, ex = _refine_once(gray, cur, c, bits, samples_per_edge, edge_margin, max_jump_px, xy)
            new, st = out, status
        else:
            cur = out[active]
            new, sp, st, ex = _refine_once(gray, cur, c[active], bits, samples_per_edge, edge_margin, max_jump_px, xy)
            out[active], spread[active], status[active] = new, sp, st
        extra = ex if xy is not None else extra
        if settle_px > 0:
            keep = (np.abs(new - cur).max(axis=(1, 2)) >= settle_px) | ~st.all(axis=1)
            active = np.flatnonzero(keep) if active is None else active[keep]
            if not active.size:
                break
    out = out.copy() if out is c else out
    if sample_at is not None:
        if extra is None:
            extra = _bilinear(gray, *sample_at(out)) if len(c) else np.zeros(0, np.float32)
        return out, spread, status, extra
    if return_status:
        return out, spread, status
    return (out, spread) if return_spread else out


def _refine_once(gray, cur, orig, bits, m, margin, max_jump_px, extra=None):
    """One pass over all tags (vectorised: per-call numpy overhead, not pixels, is most of the
    cost of a few tags, so the pass is written in few, whole-array operations). extra: (x, y)
    more points to sample in the same call (their samples are the 4th result, else None)."""
    n = len(cur)
    p0 = cur.astype(np.float32)
    d = p0[:, _NEXT] - p0                                   # (N, 4, 2) edge k runs from corner k to corner k+1
    length = np.sqrt(np.einsum("nkc,nkc->nk", d, d))        # (N, 4)
    nrm = d[..., ::-1] / np.maximum(length, 1e-6)[..., None]
    nrm[..., 1] *= -1.0                                     # a unit normal of each edge: (dy, -dx) / length
    # pointing out of the tag (dark -> light): away from the centre, seen from the edge's midpoint
    mid_out = p0 + 0.5 * d - p0.sum(axis=1, keepdims=True) * 0.25
    nrm[np.einsum("nkc,nkc->nk", mid_out, nrm) < 0] *= -1.0
    # profile half length 0.7 module (1.5-6 px), _K samples across the edge, m along it
    half = np.minimum(np.maximum(length.sum(axis=1) * (0.7 / (4 * bits)), 1.5), 6.0)   # (N,) px
    s = _lin(_K, -1.0, 1.0) * half[:, None]                 # (N, k) offsets along the normal, px
    t = _lin(m, margin, 1.0 - margin)                       # (m,)
    base = p0[:, :, None, :] + t[:, None] * d[:, :, None, :]                # (N, 4, m, 2) points on the edge
    sn = s[:, None, None, :]                                # (N, 1, 1, k)
    px = base[..., 0, None] + sn * nrm[:, :, None, 0, None]
    py = base[..., 1, None] + sn * nrm[:, :, None, 1, None]
    ex = None
    if extra is None:
        prof = _bilinear(gray, px, py).reshape(n, 4 * m, _K)
    else:
        both = _bilinear(gray, np.concatenate([px.reshape(-1), extra[0].reshape(-1)]),
                         np.concatenate([py.reshape(-1), extra[1].reshape(-1)]))
        prof, ex = both[: px.size].reshape(n, 4 * m, _K), both[px.size:].reshape(extra[0].shape)
    w = prof[..., 1:] - prof[..., :-1]
    np.maximum(w, 0.0, out=w)                               # dark-to-light steps only
    # per profile: sum of the steps, their first and second moment along the normal (one batched
    # product with [1, s, s^2] at the step midpoints) and the contrast (light end minus dark end)
    mom = _moments(0.5 * (s[:, 1:] + s[:, :-1]))            # (N, k-1, 3)
    wm = (w @ mom).reshape(n, 4, m, 3)
    wsum = wm[..., 0]
    iw = 1.0 / np.maximum(wsum, 1e-9)
    # the edge point: centroid of the main step only - the run of rising samples around the
    # largest rise, up to the first sample on either side that rises by no more than
    # MAIN_STEP_FRACTION of it - not of every rise in the profile: a second edge nearby (the seam
    # between two tags' quiet zones, 1 module out) pulled the centroid 0.56 px and cost a tag of
    # a 4-tag body, and rises from noise pulled it towards the profile's centre
    # (reductions along a 14-long last axis are slow in numpy: the largest rise is gathered at its
    # flat index, the cumulative count is a product with a triangular matrix)
    top = _starts(w.size) + w.reshape(-1, _K - 1).argmax(axis=-1)   # flat index of each largest rise
    col = w.shape[:-1] + (1,)
    low = w <= MAIN_STEP_FRACTION * w.reshape(-1)[top].reshape(col)
    runs = low.astype(np.float32) @ _CUMSUM                 # running count of low samples: a run shares one
    main = (runs == runs.reshape(-1)[top].reshape(col)) & ~low
    mm = ((w * main) @ mom[..., :2]).reshape(n, 4, m, 2)
    off = mm[..., 1] / np.maximum(mm[..., 0], 1e-9)         # centroid of the main step along the normal
    var = wm[..., 2] * iw - (wm[..., 1] * iw) ** 2          # spread (second moment) of all the rise
    # (N,) blurriest edge: the largest of the edges' mean spreads (the sum's largest / m: the
    # same float32 as the largest mean, division by m > 0 being monotonic; without mean's wrapper)
    spread = (np.sqrt(np.maximum(var, 0.0)).sum(-1).max(-1) / np.float32(m)).astype(np.float64)
    good = (wsum > 0) & ((prof @ _CONTRAST).reshape(n, 4, m) > 16.0)          # (N, 4, m)
    e = (base + off[..., None] * nrm[:, :, None, :]).astype(np.float64)       # (N, 4, m, 2) edge points
    # weighted total-least-squares line per edge: centroid and 2x2 scatter of the good points
    wt = good.astype(np.float64)
    cnt = wt.sum(-1)                                        # (N, 4)
    mean = (wt[..., None, :] @ e)[..., 0, :] / np.maximum(cnt, 1)[..., None]  # (N, 4, 2)
    q = (e - mean[:, :, None, :]) * wt[..., None]
    S = q.swapaxes(-1, -2) @ q                              # (N, 4, 2, 2)
    ang = 0.5 * np.arctan2(2 * S[..., 0, 1], S[..., 0, 0] - S[..., 1, 1])   # principal direction
    dirs = np.empty(ang.shape + (2,))                       # (N, 4, 2)
    np.cos(ang, out=dirs[..., 0])
    np.sin(ang, out=dirs[..., 1])
    # corner k = intersection of edge k-1 (into corner k) and edge k (out of corner k)
    a, ad = mean[:, _PREV], dirs[:, _PREV]
    cross = ad[..., 0] * dirs[..., 1] - ad[..., 1] * dirs[..., 0]
    delta = mean - a
    ok = (np.abs(cross) >= 1e-6) & (cnt >= max(3, m // 2))
    ok &= ok[:, _PREV]                                      # both edges of the corner fitted
    ta = (delta[..., 0] * dirs[..., 1] - delta[..., 1] * dirs[..., 0]) / np.where(ok, cross, 1.0)
    new = a + ta[..., None] * ad                            # (N, 4, 2)
    ok &= ((new - orig) ** 2).sum(-1) < max_jump_px * max_jump_px
    return np.where(ok[..., None], new, cur), spread, ok, ex


def _moments(smid: np.ndarray) -> np.ndarray:
    """(N, k-1, 3): [1, s, s^2] at the N profiles' step midpoints s (N, k-1)."""
    mom = np.empty(smid.shape + (3,), np.float32)
    mom[..., 0] = 1.0
    mom[..., 1] = smid
    np.multiply(smid, smid, out=mom[..., 2])
    return mom
