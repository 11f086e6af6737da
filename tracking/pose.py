"""Marker-body pose estimation: detect square tags, solve one rigid pose per body.

MarkerTracker.estimate(frame) -> {body name: BodyPose} for every configured body, visible or
not. A body not found in a frame is reported not visible for that frame (never an old pose).

Per frame: gray conversion (only inside the search regions when they are smaller than the
image); tag detection with one cv2.aruco.ArucoDetector per dictionary, in regions predicted
from the last poses of all bodies (steady tracking) or in the whole image (start, a lost body,
optionally every `full_frame_every` frames), on crops scaled so a tag module is ~5 px; corners
refined at full resolution by straight-edge fits (tracking.edgerefine: unbiased, unlike
cornerSubPix; tags too smeared to fit are dropped); per body, all its corners go into one PnP
solve (tracking.pnp: IPPE for flat bodies with the planar flip resolved by error and, when
both fit, by the previous pose; SQPnP otherwise; then Levenberg-Marquardt); outlier tags are
dropped and the pose re-solved. Poses are T_camera_from_body, 4x4, mm (OpenCV camera frame).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np

from navcore.errors import TrackingError
from tracking.bodies import MarkerBody, dictionary_by_name
from tracking.camera import CameraModel
from tracking.edgerefine import refine_corners
from tracking.pnp import is_planar, solve_body_pose
from tracking.tag_consistency import ConsistencySettings, inconsistent_tag
from tracking.types import BodyPose, Frame
from tracking.roi import Rect, merge_rects, predict_rect


@dataclass(frozen=True)
class TrackerSettings:
    """Tuning of MarkerTracker. Pixels are image pixels; angles in degrees only where named *_deg."""

    # Whole-image search also every this many frames while all bodies are tracked (0 = never:
    # every configured body is then inside its region, so there is nothing else to find; a lost
    # body always triggers a whole-image search on every frame until it is found again)
    full_frame_every: int = 0
    roi_pad_px: float = 24.0          # padding around a body's predicted projection
    roi_pad_rel: float = 0.25         # ... plus this fraction of the projection's size
    roi_max_area_frac: float = 0.5    # if the regions cover more of the image than this, search the whole image
    # While some bodies are tracked and others lost, the whole image is searched for the lost ones
    # every this many frames (1 = every frame: fastest re-acquisition; N > 1 keeps the other
    # frames at steady-tracking cost, e.g. when a pointer is laid aside)
    lost_search_every: int = 1
    max_frame_gap: int = 3            # frames may be dropped between two estimates up to this gap
    fallback_full_frame: bool = True  # a body lost in its region is searched in the whole image in the same frame
    max_tag_error_px: float = 2.5     # a tag whose corners reproject worse than this (RMS) is an outlier
    max_body_rms_px: float = 3.0      # a body whose final RMS is worse than this is reported not visible
    # A body of several tags seen through fewer than this many (after outlier rejection) is not
    # visible: one 35 mm tag fixes the rotation only to ~1-7 deg (measured on blurred frames)
    min_tags: int = 2
    ambiguity_ratio: float = 2.0      # flip solutions whose RMS is within this factor (+0.3 px) count as ambiguous
    min_tag_perimeter_px: float = 32.0
    target_module_px: float = 5.0     # steady tracking detects on crops scaled so a tag module is about this big
    min_detect_scale: float = 0.5     # ... but never smaller than this
    full_frame_max_width: int = 1280  # whole-image searches run on the image scaled to at most this width
    # ... except the search for a lost body while another is tracked (every frame the coil is out of
    # view; the same-frame fallback): at most this width. 720p: half size, 2.7 -> 1.6 ms p50,
    # same pose accuracy (corners are refined at full resolution); a re-entering coil measured
    # found one frame later on 1 of 2 re-entries (docs/navigation.md "Latency budget")
    lost_search_max_width: int = 640
    # A tag whose blurriest edge is wider than this (px, see edgerefine) is smeared by motion:
    # its corners were measured 1-5 px off, so it is not used (sharp tags: ~1 px)
    max_edge_spread_px: float = 2.5
    refine_iterations: int = 2        # edge-fit corner refinement passes (0 = integer-pixel contour corners)
    # tags that disagree with the body's other tags (partly covered) are dropped: tracking.tag_consistency
    consistency: ConsistencySettings = ConsistencySettings()


class MarkerTracker:
    """Pose estimator for a set of marker bodies seen by one calibrated camera.

    camera: CameraModel (intrinsics in px, OpenCV distortion); bodies: MarkerBody list with
    distinct names and tag ids that are unique per dictionary."""

    def __init__(self, camera: CameraModel, bodies: Sequence[MarkerBody],
                 settings: Optional[TrackerSettings] = None) -> None:
        if not bodies:
            raise TrackingError("the tracker needs at least one marker body")
        self.camera = camera
        self.settings = settings or TrackerSettings()
        self.bodies = list(bodies)
        names = [b.name for b in self.bodies]
        if len(set(names)) != len(names):
            raise TrackingError(f"two marker bodies share a name: {names}")
        self._K = np.ascontiguousarray(camera.K, dtype=np.float64)
        self._dist = np.ascontiguousarray(camera.dist, dtype=np.float64).reshape(-1, 1)
        # (dictionary, tag id) -> name of the body that carries the tag
        self._owner: dict[tuple[str, int], str] = {}
        for b in self.bodies:
            for tid in b.ids:
                key = (b.dictionary, tid)
                if key in self._owner:
                    raise TrackingError(
                        f"tag {tid} of {b.dictionary} is on both body {self._owner[key]!r} and body {b.name!r}; "
                        "each tag id may belong to one body only")
                self._owner[key] = b.name
        self._planar = {b.name: is_planar(b.corners()) for b in self.bodies}
        self._all_corners = {b.name: np.ascontiguousarray(b.corners()) for b in self.bodies}
        self._detectors = {d: self._make_detector(d) for d in sorted({b.dictionary for b in self.bodies})}
        self._last_T: dict[str, Optional[np.ndarray]] = {b.name: None for b in self.bodies}
        self._last_uv: dict[str, Optional[np.ndarray]] = {b.name: None for b in self.bodies}
        self._prev_uv: dict[str, Optional[np.ndarray]] = {b.name: None for b in self.bodies}
        self._last_frame_number: Optional[int] = None
        self._since_full = 0
        self._gray_buf: Optional[np.ndarray] = None
        self._coarse: set[tuple[str, int]] = set()     # tags of the current frame whose corners could not be refined
        # what the last estimate() did, for overlays and benchmarks
        self.last_mode = "none"          # "roi", "full" or "roi+full"
        self.last_rois: list[Rect] = []
        self.last_detections: dict[tuple[str, int], np.ndarray] = {}

    # ----------------------------------------------------------------- detection
    def _make_detector(self, dictionary: str) -> "cv2.aruco.ArucoDetector":
        p = cv2.aruco.DetectorParameters()
        # corners are refined by edge fits afterwards (tracking.edgerefine): cornerSubPix is biased
        p.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
        # two threshold scales instead of three: the main cost of detection
        p.adaptiveThreshWinSizeMin = 5
        p.adaptiveThreshWinSizeMax = 21
        p.adaptiveThreshWinSizeStep = 16
        p.perspectiveRemovePixelPerCell = 4
        return cv2.aruco.ArucoDetector(dictionary_by_name(dictionary), p)

    def _gray(self, image: np.ndarray, rects: list[Rect]) -> np.ndarray:
        """Gray image, converted only inside the search regions (plus a margin for corner refinement)
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

    def _detect(self, image: np.ndarray, rects: list[Rect], min_perimeter_px: float,
                predicted_perimeter_px: Optional[float] = None,
                max_width: Optional[int] = None) -> dict[tuple[str, int], list[np.ndarray]]:
        """Detect tags of every dictionary in the given regions of a BGR or gray image;
        returns (dictionary, id) -> [4x2 corners (px)]. max_width: a whole-image search runs on
        the image scaled to at most this width (default settings.full_frame_max_width)."""
        found: dict[tuple[str, int], list[np.ndarray]] = {}
        self._coarse = set()
        gray = self._gray(image, rects)
        st = self.settings
        w_img = gray.shape[1]
        max_bits = max(dictionary_by_name(d).markerSize + 2 for d in self._detectors)
        if predicted_perimeter_px:
            # detect at a scale where the smallest expected tag module is still target_module_px;
            # corners are refined at full resolution afterwards
            module = predicted_perimeter_px / 4.0 / max_bits
            scale = float(np.clip(st.target_module_px / module, st.min_detect_scale, 1.0))
        else:
            scale = min(1.0, (max_width or st.full_frame_max_width) / w_img)
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
                if predicted_perimeter_px:
                    # one adaptive-threshold scale matched to the expected tag module size
                    module = sx * predicted_perimeter_px / 4.0 / (dictionary_by_name(dic).markerSize + 2)
                    win = int(np.clip(round(1.2 * module), 5, 31)) | 1
                    p.adaptiveThreshWinSizeMin = p.adaptiveThreshWinSizeMax = win
                else:
                    p.adaptiveThreshWinSizeMin, p.adaptiveThreshWinSizeMax = 5, 21
                p.adaptiveThreshWinSizeStep = 16
                det.setDetectorParameters(p)
                corners, ids, _ = det.detectMarkers(crop)
                if ids is None:
                    continue
                for c, i in zip(corners, ids.ravel()):
                    c = c.reshape(4, 2).astype(np.float64)
                    # pixel centres: x_full = (x_small + 0.5) / scale - 0.5
                    c = (c + 0.5) / (sx, sy) - 0.5 + (x0, y0)
                    found.setdefault((dic, int(i)), []).append(c)
        if self.settings.refine_iterations > 0:
            for dic in self._detectors:
                keys = [k for k in found if k[0] == dic]
                if not keys:
                    continue
                flat = [c for k in keys for c in found[k]]
                bits = dictionary_by_name(dic).markerSize + 2
                raw = np.array(flat)
                ref, spread = refine_corners(gray, raw, bits, self.settings.refine_iterations, return_spread=True)
                unrefined = np.all(ref == raw, axis=(1, 2)) | (spread > self.settings.max_edge_spread_px)
                i = 0
                for k in keys:
                    nk = len(found[k])
                    good = [c for c, bad in zip(ref[i:i + nk], unrefined[i:i + nk]) if not bad]
                    found[k] = good or list(ref[i:i + nk])
                    if not good:
                        self._coarse.add(k)
                    i += nk
        return found

    # ----------------------------------------------------------------- main entry
    def estimate(self, frame: Frame) -> dict[str, BodyPose]:
        """One BodyPose per configured body for this frame (see module docstring)."""
        if frame.image is None:
            return self._passthrough(frame)
        image = frame.image
        self.camera.check_image(image, f"frame {frame.frame_number}")
        h, w = image.shape[:2]
        # a few dropped frames keep the history (the regions are padded, a miss falls back to a
        # whole-image search); a jump back or a long gap starts afresh
        gap = None if self._last_frame_number is None else frame.frame_number - self._last_frame_number
        if gap is None or not 0 < gap <= self.settings.max_frame_gap:
            self.reset()
        rects = self._predicted_rects(w, h)
        full = [(0, 0, w, h)]
        # searching the whole image while some body is still tracked = looking for a lost one
        lost_width = (self.settings.lost_search_max_width
                      if any(uv is not None for uv in self._last_uv.values()) else None)
        if rects is None:
            self.last_mode, search = "full", full
            self._since_full = 0
        else:
            self.last_mode, search = "roi", rects
            self._since_full += 1
        min_perim = self.settings.min_tag_perimeter_px
        predicted = None
        if search is not full:
            predicted = self._predicted_min_perimeter()
            min_perim = max(min_perim, 0.5 * predicted)
        found = self._detect(image, search, min_perim, predicted, lost_width)
        poses = self._solve_all(found, frame)
        expected = [name for name, uv in self._last_uv.items() if uv is not None]
        if (self.last_mode == "roi" and self.settings.fallback_full_frame
                and not all(poses[name].visible for name in expected)):
            self.last_mode = "roi+full"
            found = self._detect(image, full, self.settings.min_tag_perimeter_px, max_width=lost_width)
            poses = self._solve_all(found, frame)
            self._since_full = 0
        self.last_rois = search
        self._last_frame_number = frame.frame_number
        for name, p in poses.items():
            if p.visible:
                uv = self._project(self._all_corners[name], p.T_camera_from_body)
                self._prev_uv[name] = self._last_uv[name]
                self._last_uv[name] = uv
                self._last_T[name] = p.T_camera_from_body
            else:
                self._prev_uv[name] = self._last_uv[name] = self._last_T[name] = None
        return poses

    def _predicted_min_perimeter(self) -> float:
        """Smallest tag perimeter (px) in the last projections of the bodies."""
        best = math.inf
        for uv in self._last_uv.values():
            if uv is not None:
                q = uv.reshape(-1, 4, 2)
                per = np.linalg.norm(np.roll(q, -1, axis=1) - q, axis=-1).sum(-1)
                best = min(best, float(per.min()))
        return best if math.isfinite(best) else 0.0

    def reset(self) -> None:
        """Forget all history (next frame is searched in full, with no previous pose)."""
        for name in self._last_T:
            self._last_T[name] = self._last_uv[name] = self._prev_uv[name] = None
        self._since_full = 0

    # ----------------------------------------------------------------- helpers
    def _passthrough(self, frame: Frame) -> dict[str, BodyPose]:
        given = frame.poses or {}
        out = {}
        for b in self.bodies:
            p = given.get(b.name)
            out[b.name] = p if p is not None else BodyPose.not_visible(b.name, frame.frame_number, frame.capture_ns, len(b.tags))
        return out

    def _predicted_rects(self, w: int, h: int) -> Optional[list[Rect]]:
        """Search regions from the last poses, or None when the whole image must be searched."""
        s = self.settings
        if s.full_frame_every > 0 and self._since_full + 1 >= s.full_frame_every:
            return None
        tracked = [b for b in self.bodies if self._last_uv[b.name] is not None]
        if not tracked:
            return None
        if len(tracked) < len(self.bodies) and (s.lost_search_every <= 1 or self._since_full + 1 >= s.lost_search_every):
            return None
        rects = []
        for b in tracked:
            uv = self._last_uv[b.name]
            r = predict_rect(uv, self._prev_uv[b.name], s.roi_pad_px, s.roi_pad_rel, w, h)
            if r is None:
                return None
            rects.append(r)
        rects = merge_rects(rects)
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects)
        if area > s.roi_max_area_frac * w * h:
            return None
        return rects

    def _project(self, pts: np.ndarray, T: np.ndarray) -> np.ndarray:
        rvec, _ = cv2.Rodrigues(T[:3, :3])
        uv, _ = cv2.projectPoints(pts, rvec, T[:3, 3].copy(), self._K, self._dist)
        return uv.reshape(-1, 2)

    def _solve_all(self, found: dict, frame: Frame) -> dict[str, BodyPose]:
        per_body: dict[str, list[tuple[int, np.ndarray]]] = {b.name: [] for b in self.bodies}
        self.last_detections = {}
        for (dic, tid), cs in found.items():
            owner = self._owner.get((dic, tid))
            if owner is None:
                continue
            c = _dedupe(cs)
            if c is None:        # the same id seen in two different places: trust neither
                continue
            self.last_detections[(dic, tid)] = c
            per_body[owner].append((tid, c))
        for b in self.bodies:
            # a tag whose corners could not be refined (strong motion blur, poor contrast, a cut
            # edge) has corners off by pixels: measured on motion-blurred synthetic frames, poses
            # from such tags were off by up to 29 mm / 14 deg, so they are never used
            per_body[b.name] = [t for t in per_body[b.name] if (b.dictionary, t[0]) not in self._coarse]
        out = {}
        for b in self.bodies:
            out[b.name] = self._solve_body(b, per_body[b.name], frame)
        return out

    def _solve_body(self, body: MarkerBody, tags: list[tuple[int, np.ndarray]], frame: Frame) -> BodyPose:
        s = self.settings
        total = len(body.tags)
        tags = sorted(tags, key=lambda t: t[0])
        need = min(s.min_tags, total)
        while len(tags) >= need and tags:
            obj = body.corners([t for t, _ in tags])
            img = np.concatenate([c for _, c in tags], axis=0)
            T = self._solve_pnp(body.name, obj, img)
            if T is None:
                break
            res = (self._project(obj, T) - img).reshape(len(tags), 4, 2)
            per_tag = np.sqrt((res ** 2).sum(-1).mean(-1))
            worst = int(np.argmax(per_tag))
            if per_tag[worst] > s.max_tag_error_px and len(tags) > 1:
                del tags[worst]
                continue
            # a partly covered tag disagrees with the others by less than max_tag_error_px (tracking.tag_consistency)
            bad = inconsistent_tag([body.tags[t] for t, _ in tags], [c for _, c in tags], T, self._K, self._dist,
                                   s.consistency, per_tag)
            if bad is not None:
                del tags[bad]
                continue
            rms = float(np.sqrt((res ** 2).sum(-1).mean()))
            if rms > s.max_body_rms_px or T[2, 3] <= 0:
                break
            return BodyPose(body.name, frame.frame_number, frame.capture_ns, True, T, len(tags), total, rms)
        return BodyPose.not_visible(body.name, frame.frame_number, frame.capture_ns, total)

    def _solve_pnp(self, name: str, obj: np.ndarray, img: np.ndarray) -> Optional[np.ndarray]:
        """T_camera_from_body (4x4, mm) of one body from its corners, or None."""
        return solve_body_pose(obj, img, self._K, self._dist, self._planar[name], self._last_T.get(name),
                               self.settings.ambiguity_ratio)


def _dedupe(cs: list[np.ndarray], tol_px: float = 2.0) -> Optional[np.ndarray]:
    """One detection per id: duplicates within tol_px (overlapping search regions) are averaged."""
    if len(cs) == 1:
        return cs[0]
    ref = cs[0]
    if all(np.abs(c - ref).max() <= tol_px for c in cs[1:]):
        return np.mean(cs, axis=0)
    return None
