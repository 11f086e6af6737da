"""Square-tag detection for the tracker: OpenCV ArUco candidates, then unbiased corners.

TagDetector.detect() finds the tags of every dictionary in some regions of a gray image
(cv2.aruco.ArucoDetector, one per dictionary) and returns their corners (4, 2) px in full
image pixel coordinates (OpenCV: pixel centres at integers). TagDetector.refine() refines
them by straight-edge fits (tracking.edgerefine) and measures each tag's edge spread.

Detection parameters (why, measured on ../shared/data/real/webcam-aruco-sksurgery):
- adaptive-threshold windows: a whole-image search of an image up to SMALL_IMAGE_PX wide uses
  OpenCV's default windows (3, 13, 23 px), which decode the small tags of a 640x480 webcam frame
  (module 3.5-4 px); a wider image gets two windows (5, 21 px: at 720p the three default windows
  cost ~40 % more) and the tracker retries, with the default windows, the region of every tag a
  found body's pose predicts but the search missed; a region search uses one window of 1.5 x the
  module size expected there, and a region where a tag seen in the last frame is missing is
  searched again with the default windows (navtms before: one window of 1.2 x the module and no
  retry lost a reference tag in 3 of 10 frames).
- bit sampling: perspectiveRemovePixelPerCell 8 (OpenCV default 4) when modules are small (and in
  whole-image searches, where the module size is unknown): with 4 px per cell OpenCV's own
  default detector misses one small tag in 2 of the 10 frames; with 8 it decodes all 12.
  Measured cost at 720p: within the noise (~3.4 vs 3.5 ms per whole-image search).
- no OpenCV corner refinement (cornerSubPix is biased inward; the edge fits are not), except for
  the corners whose edges cannot be fitted, which get cornerSubPix rather than losing the tag.
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

from tracking.bodies import dictionary_by_name
from tracking.edgerefine import refine_corners
from tracking.roi import Rect

Found = dict  # (dictionary, tag id) -> list of (4, 2) float64 corner arrays, px

DEFAULT_WINDOWS = (3, 23, 10)      # OpenCV's DetectorParameters defaults: windows 3, 13, 23 px
SMALL_MODULE_PX = 6.0              # modules smaller than this are sampled with 8 px per cell


def _odd(v: float, lo: int, hi: int) -> int:
    return int(np.clip(round(v), lo, hi)) | 1


# region search: one window of 1.5 x the expected module (two, 1x and 3x, cost 12 % more per frame
# at 720p and decoded no more tags on the real footage: a tag they miss is caught by the retry
# with OpenCV's default windows)
REGION_WINDOW_FACTORS = (1.5, 1.5)
# whole-image search of an image wider than this: two windows (5, 21 px), then the caller retries
# the regions of tags that a found body's pose predicts but the search missed
SMALL_IMAGE_PX = 800
WIDE_WINDOWS = (5, 21, 16)


def region_windows(module_px: float) -> tuple[int, int, int]:
    """(min, max, step) adaptive-threshold windows (px) bracketing a module of module_px px:
    about 1x and 3x the module, never smaller than OpenCV's smallest default window (3 px)."""
    a, b = REGION_WINDOW_FACTORS
    lo = _odd(a * module_px, 3, 31)
    hi = max(_odd(b * module_px, 3, 61), lo)
    return lo, hi, max(hi - lo, 1)


class TagDetector:
    """OpenCV ArUco detection of the given dictionaries (names such as "DICT_4X4_50")."""

    def __init__(self, dictionaries: Sequence[str]) -> None:
        self._detectors = {}
        for d in sorted(set(dictionaries)):
            p = cv2.aruco.DetectorParameters()
            p.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
            self._detectors[d] = cv2.aruco.ArucoDetector(dictionary_by_name(d), p)
        self.bits = {d: dictionary_by_name(d).markerSize + 2 for d in self._detectors}
        self._gray_buf: Optional[np.ndarray] = None

    @property
    def max_bits(self) -> int:
        return max(self.bits.values())

    def gray(self, image: np.ndarray, rects: list[Rect]) -> np.ndarray:
        """Gray image, converted only inside the regions (plus a margin for corner refinement)
        when they are smaller than the image; other pixels of the returned buffer are undefined."""
        if image.ndim == 2:
            return image
        if image.shape[2] == 1:
            return image[:, :, 0]
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        h, w = image.shape[:2]
        if len(rects) == 1 and rects[0] == (0, 0, w, h):
            return cv2.cvtColor(image, code)
        if self._gray_buf is None or self._gray_buf.shape != (h, w):
            self._gray_buf = np.empty((h, w), np.uint8)
        m = 8
        for (x0, y0, x1, y1) in rects:
            x0, y0, x1, y1 = max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w), min(y1 + m, h)
            cv2.cvtColor(image[y0:y1, x0:x1], code, dst=self._gray_buf[y0:y1, x0:x1])
        return self._gray_buf

    def detect(self, gray: np.ndarray, rects: list[Rect], min_perimeter_px: float, scale: float = 1.0,
               tag_side_px: Optional[float] = None, found: Optional[Found] = None,
               windows: Optional[tuple[int, int, int]] = None) -> Found:
        """Tags in the regions of a gray image, corners (4, 2) px in full-image coordinates.

        scale: the regions are searched on crops resized by this factor (<= 1; 0.5 uses OpenCV's
        fast 2x2 area average); tag_side_px: the smallest tag side (px, full resolution) expected
        in the regions, or None for OpenCV's default windows and fine bit sampling (a search
        that does not know what it will find; windows (min, max, step) px then overrides the choice
        by image width). Detections are appended to `found` when given."""
        found = {} if found is None else found
        for (x0, y0, x1, y1) in rects:
            crop = gray[y0:y1, x0:x1]
            sx = sy = 1.0
            if scale <= 0.55:
                # exactly half size: OpenCV's fast 2x2 area average (non-integer INTER_AREA is ~25x slower)
                crop = cv2.resize(crop, ((x1 - x0) // 2, (y1 - y0) // 2), interpolation=cv2.INTER_AREA)
                sx = sy = 0.5
            elif scale < 0.95:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
                sx, sy = crop.shape[1] / (x1 - x0), crop.shape[0] / (y1 - y0)
            # perimeter limits are relative to the larger crop side: keep them meaningful in small crops
            side = max(crop.shape[:2])
            for dic, det in self._detectors.items():
                p = det.getDetectorParameters()
                p.minMarkerPerimeterRate = min(0.9, min_perimeter_px * sx / side)
                p.maxMarkerPerimeterRate = 4.0
                if tag_side_px:
                    module = sx * tag_side_px / self.bits[dic]
                    (p.adaptiveThreshWinSizeMin, p.adaptiveThreshWinSizeMax,
                     p.adaptiveThreshWinSizeStep) = region_windows(module)
                    p.perspectiveRemovePixelPerCell = 8 if module < SMALL_MODULE_PX else 4
                else:
                    (p.adaptiveThreshWinSizeMin, p.adaptiveThreshWinSizeMax, p.adaptiveThreshWinSizeStep) = (
                        windows or (DEFAULT_WINDOWS if crop.shape[1] <= SMALL_IMAGE_PX else WIDE_WINDOWS))
                    p.perspectiveRemovePixelPerCell = 8
                det.setDetectorParameters(p)
                corners, ids, _ = det.detectMarkers(crop)
                if ids is None:
                    continue
                for c, i in zip(corners, ids.ravel()):
                    c = c.reshape(4, 2).astype(np.float64)
                    # pixel centres: x_full = (x_small + 0.5) / scale - 0.5
                    c = (c + 0.5) / (sx, sy) - 0.5 + (x0, y0)
                    found.setdefault((dic, int(i)), []).append(c)
        return found

    def refine(self, gray: np.ndarray, found: Found, iterations: int) -> tuple[Found, dict, set]:
        """Edge-fit corners of every detection (tracking.edgerefine); corners whose edges do not
        fit get cv2.cornerSubPix instead. Returns (refined found, {(dictionary, id): edge spread
        px of the tag's blurriest edge, the largest over its detections}, the set of keys with
        some cornerSubPix corner: the caller should check those tags' shape)."""
        spreads: dict = {}
        partial: set = set()
        if iterations <= 0:
            return found, {k: 0.0 for k in found}, partial
        out: Found = {}
        for dic in self._detectors:
            keys = [k for k in found if k[0] == dic]
            if not keys:
                continue
            raw = np.array([c for k in keys for c in found[k]])
            ref, spread, ok = refine_corners(gray, raw, self.bits[dic], iterations, return_status=True)
            if not ok.all():
                ref = _subpix_fallback(gray, raw, ref, ok, self.bits[dic])
            i = 0
            for k in keys:
                nk = len(found[k])
                out[k] = list(ref[i:i + nk])
                spreads[k] = float(spread[i:i + nk].max())
                if not ok[i:i + nk].all():
                    partial.add(k)
                i += nk
        return out, spreads, partial


def _subpix_fallback(gray: np.ndarray, raw: np.ndarray, ref: np.ndarray, ok: np.ndarray, bits: int) -> np.ndarray:
    """cv2.cornerSubPix (OpenCV's SUBPIX corners, a window of about a quarter module) for the
    corners (N, 4) whose edge fit failed; the others keep their edge-fit positions."""
    out = ref.copy()
    bad = np.argwhere(~ok)
    module = np.linalg.norm(np.roll(raw, -1, axis=1) - raw, axis=-1).mean(-1) / bits     # (N,) px
    h, w = gray.shape
    for n, k in bad:
        half = int(np.clip(round(0.25 * module[n]), 2, 6))
        x, y = raw[n, k]
        if not (half + 1 <= x < w - half - 1 and half + 1 <= y < h - half - 1):
            continue
        pt = np.array([[[x, y]]], np.float32)
        cv2.cornerSubPix(gray, pt, (half, half), (-1, -1),
                         (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.01))
        if np.all(np.isfinite(pt)) and np.hypot(*(pt[0, 0] - raw[n, k])) < 3.0:
            out[n, k] = pt[0, 0]
    return out


def dedupe(cs: list[np.ndarray], tol_px: float = 2.0) -> Optional[np.ndarray]:
    """One detection per id: duplicates within tol_px (overlapping search regions) are averaged;
    None when the same id was seen in two different places (trust neither)."""
    if len(cs) == 1:
        return cs[0]
    ref = cs[0]
    if all(np.abs(c - ref).max() <= tol_px for c in cs[1:]):
        return np.mean(cs, axis=0)
    return None
