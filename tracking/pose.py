"""Marker-body pose estimation: detect square tags, solve one rigid pose per body.

MarkerTracker.estimate(frame) -> {body name: BodyPose} for every configured body, visible or
not. A body not found in a frame is reported not visible for that frame (never an old pose).

Per frame: gray conversion (only inside the search regions when they are smaller than the
image); in steady tracking, when every body's tags of the last frame are found again at their
predicted corners with their own codes (tracking.predicted), no detection at all (an ordinary
detection at least every `predict_every_frames` frames); otherwise tag detection
(tracking.detection) in regions predicted from the last poses of all bodies (steady tracking,
threshold windows bracketing the expected module size) or in the whole image (start, a lost
body, optionally every `full_frame_every` frames; OpenCV's default windows); a region where a
tag seen in the last frame is now missing is searched again at full resolution with OpenCV's
default windows; a lost body not found by the reduced-size search is
searched for at full resolution. Corners are refined at full resolution by straight-edge fits
(tracking.edgerefine: unbiased, unlike cornerSubPix; corners whose edges do not fit get
cornerSubPix); tags smeared well beyond the camera's usual edge spread are not used. The bodies'
poses are then solved from their tags' corners by tracking.body_solve (one PnP solve per body,
outlier tags found relative to the body's other tags, a warning (last_warnings) when the camera
model fits no body). Poses are T_camera_from_body, 4x4, mm (OpenCV camera frame).
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Optional, Sequence

import numpy as np

from navcore.errors import TrackingError
from tracking.bodies import MarkerBody
from tracking.camera import CameraModel
from tracking.body_solve import BodySolver
from tracking.detection import DEFAULT_WINDOWS, TagDetector
from tracking.predicted import verify_predicted
from tracking.tracker_settings import TrackerSettings
from tracking.types import BodyPose, Frame
from tracking.roi import Rect, expected_quads, merge_rects, predict_rect


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
        self._all_corners = {b.name: np.ascontiguousarray(b.corners()) for b in self.bodies}
        self._tag_index = {b.name: {t: i for i, t in enumerate(b.ids)} for b in self.bodies}   # tag id -> row
        self._detector = TagDetector([b.dictionary for b in self.bodies])
        self._solver = BodySolver(self._K, self._dist, self.bodies, self._owner, self.settings)
        self._last_uv: dict[str, Optional[np.ndarray]] = {b.name: None for b in self.bodies}
        self._prev_uv: dict[str, Optional[np.ndarray]] = {b.name: None for b in self.bodies}
        self._last_frame_number: Optional[int] = None
        self._since_full = 0
        self._body_rects: dict[str, Rect] = {}
        self._partial: set[tuple[str, int]] = set()
        self._full_raw = None
        self._since_detect = 0
        self.last_predicted = False      # the last frame was tracked from predicted corners (no detection)
        self.retries = 0                 # searches repeated because a predicted tag was missing
        self._last_tags: dict[str, set[int]] = {b.name: set() for b in self.bodies}
        self._coarse: set[tuple[str, int]] = set()     # tags of the current frame too smeared to use
        self._sharpest: deque = deque(maxlen=max(1, self.settings.spread_history))
        # what the last estimate() did, for overlays and benchmarks
        self.last_mode = "none"          # "roi", "full" or "roi+full"
        self.last_rois: list[Rect] = []
        self._predicted_boxes: list[Rect] = []

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
        self._solver.warnings = []
        full = [(0, 0, w, h)]
        # searching the whole image while some body is still tracked = looking for a lost one
        lost_width = (self.settings.lost_search_max_width
                      if any(uv is not None for uv in self._last_uv.values()) else None)
        ffe = self.settings.full_frame_every
        poses = None
        self.last_predicted = False
        if all(uv is not None for uv in self._last_uv.values()) and not (ffe > 0 and self._since_full + 1 >= ffe):
            poses = self._track_predicted(image, frame)          # every body tracked: no detection
        if poses is not None:
            self.last_mode, search = "roi", self._predicted_boxes
            self._since_full += 1
        elif (rects := self._predicted_rects(w, h)) is None:
            self.last_mode, search = "full", full
            self._since_full = 0
            found = self._detect_full(image, lost_width)
            poses = self._retry_expected(self._solve_all(found, frame), found, frame)
        else:
            self.last_mode, search = "roi", rects
            self._since_full += 1
            found = self._detect_regions(image, rects)
            poses = self._solve_all(found, frame)
        expected = [name for name, uv in self._last_uv.items() if uv is not None]
        if (self.last_mode == "roi" and self.settings.fallback_full_frame
                and not all(poses[name].visible for name in expected)):
            self.last_mode = "roi+full"
            found = self._detect_full(image, lost_width)
            poses = self._retry_expected(self._solve_all(found, frame), found, frame)
            self._since_full = 0
        searched = lost_width or self.settings.full_frame_max_width
        if (self.settings.lost_search_full_resolution and self.last_mode != "roi"
                and w > searched and not all(p.visible for p in poses.values())):
            # a steep or small tag the reduced-size search could not decode: full resolution
            self.last_mode += "+fullres"
            found = self._detect_full(image, w)
            poses = self._retry_expected(self._solve_all(found, frame), found, frame)
        self.last_rois = search
        self._last_frame_number = frame.frame_number
        for name, p in poses.items():
            if p.visible:
                self._last_tags[name] = set(self._solver.used_tags.get(name, ()))
                T_proj, uv = self._solver.projections.get(name, (None, None))
                if T_proj is not p.T_camera_from_body or uv is None:
                    uv = self._project(self._all_corners[name], p.T_camera_from_body)
                self._prev_uv[name] = self._last_uv[name]
                self._last_uv[name] = uv
            else:
                self._last_tags[name] = set()
                self._prev_uv[name] = self._last_uv[name] = None
            self._solver.remember(name, p)
        return poses

    # ----------------------------------------------------------------- detection
    def _track_predicted(self, image: np.ndarray, frame: Frame) -> Optional[dict[str, BodyPose]]:
        """Steady tracking without detection (tracking.predicted): every tracked body's tags of the
        last frame, predicted at constant image velocity, refined and verified by their codes.
        None (detect instead) when disabled, due for a periodic detection, or any tag fails.
        The regions examined (around each predicted tag) go to self._predicted_boxes."""
        st = self.settings
        if st.predict_every_frames <= 1 or self._since_detect + 1 >= st.predict_every_frames or not self._sharpest:
            self._since_detect = 0
            return None
        found, spreads = {}, []
        per_dict: dict[str, tuple[list, list]] = {}          # dictionary -> (tag ids, predicted (n, 4, 2) corners)
        # gray only around each body's predicted tags: the edge profiles reach at most max_jump (3 px)
        # + half a profile (<= 6 px) + 1 px beyond a predicted corner (tracking.gray adds 8 px)
        h, w = image.shape[:2]
        boxes = []
        for b in self.bodies:
            ids = sorted(self._last_tags[b.name])
            last = self._last_uv[b.name]
            if not ids or last is None:
                return None
            pred = last.reshape(-1, 4, 2)
            prev = self._prev_uv[b.name]
            if prev is not None:
                pred = 2.0 * pred - prev.reshape(-1, 4, 2)
            if len(ids) < len(b.tags):
                pred = pred[[self._tag_index[b.name][t] for t in ids]]
            tags, quads = per_dict.setdefault(b.dictionary, ([], []))
            tags.extend(ids)
            quads.append(pred)
            (x0, y0), (x1, y1) = pred.reshape(-1, 2).min(axis=0).tolist(), pred.reshape(-1, 2).max(axis=0).tolist()
            if not all(map(math.isfinite, (x0, y0, x1, y1))):
                return None
            box = (max(0, int(x0) - 4), max(0, int(y0) - 4), min(w, int(x1) + 6), min(h, int(y1) + 6))
            if box[2] > box[0] and box[3] > box[1]:
                boxes.append(box)
        quads = {dic: np.concatenate(q) for dic, (_, q) in per_dict.items()}
        self._predicted_boxes = boxes or [(0, 0, w, h)]
        gray = self._detector.gray(image, self._predicted_boxes)
        for dic, (ids, _) in per_dict.items():        # one vectorised pass per dictionary
            ref, ok, spread = verify_predicted(gray, quads[dic], dic, ids, st.refine_iterations,
                                               settle_px=st.refine_settle_px)
            if not ok.all():
                self._since_detect = 0
                return None
            spreads.extend(spread.tolist())
            for t, c in zip(ids, ref):
                found[(dic, t)] = [c]
        limit = max(st.max_edge_spread_px, st.partial_smear_ratio * statistics.median(self._sharpest))
        if max(spreads) > limit:
            self._since_detect = 0
            return None
        self._sharpest.append(min(spreads))
        self._coarse, self._partial = set(), set()
        poses = self._solver.solve_all(found, frame, warm=True)
        if not all(poses[b.name].visible and poses[b.name].tags_seen == len(self._last_tags[b.name]) for b in self.bodies):
            self._since_detect = 0
            return None
        self._since_detect += 1
        self.last_predicted = True
        return poses

    def _detect_full(self, image: np.ndarray, max_width: Optional[int]) -> dict:
        """Whole-image search (tracking.detection windows) on the image scaled to at most max_width
        (default settings.full_frame_max_width); corners refined at full resolution. Keeps the
        gray image and raw detections for _retry_expected."""
        h, w = image.shape[:2]
        full = [(0, 0, w, h)]
        gray = self._detector.gray(image, full)
        scale = min(1.0, (max_width or self.settings.full_frame_max_width) / w)
        found = self._detector.detect(gray, full, self.settings.min_tag_perimeter_px, scale)
        self._full_raw = (gray, {k: list(v) for k, v in found.items()})
        return self._refine(gray, found)

    def _retry_expected(self, poses: dict[str, BodyPose], found: dict, frame: Frame) -> dict[str, BodyPose]:
        """After a whole-image search: the regions of tags that a found body's pose puts in view
        (inside the image, facing the camera, large enough) but the search missed are searched
        again at full resolution with OpenCV's default windows; the bodies are re-solved when
        that finds any."""
        if not self.settings.retry_missing_tags or self._full_raw is None:
            return poses
        gray, raw = self._full_raw
        h, w = gray.shape
        rects = []
        for b in self.bodies:
            p = poses[b.name]
            if not p.visible:
                continue
            missing = [t for t in b.ids if (b.dictionary, t) not in found]
            if not missing:
                continue
            uv = self._project(b.corners(missing), p.T_camera_from_body).reshape(-1, 4, 2)
            seen = [self.last_detections[(b.dictionary, t)] for t in b.ids if (b.dictionary, t) in self.last_detections]
            expect = expected_quads(uv, seen, w, h, self.settings.min_tag_perimeter_px)
            if np.any(expect):
                r = predict_rect(uv[expect].reshape(-1, 2), None, self.settings.roi_pad_px, 0.0, w, h)
                if r is not None:
                    rects.append(r)
        if not rects:
            return poses
        extra = self._detector.detect(gray, merge_rects(rects), self.settings.min_tag_perimeter_px,
                                      windows=DEFAULT_WINDOWS)
        new = {k: v for k, v in extra.items() if k not in raw}
        if not new:
            return poses
        raw.update(new)
        self.retries += 1
        return self._solve_all(self._refine(gray, {k: list(v) for k, v in raw.items()}), frame)

    def _detect_regions(self, image: np.ndarray, rects: list[Rect]) -> dict:
        """Search the predicted regions on crops scaled so the smallest expected module is about
        target_module_px, with windows bracketing it; a body's region where a tag of the last
        frame is missing is searched again at full resolution with OpenCV's default windows."""
        st = self.settings
        side = self._predicted_min_perimeter() / 4.0
        min_perim = max(st.min_tag_perimeter_px, 2.0 * side)
        module = side / self._detector.max_bits
        scale = float(np.clip(st.target_module_px / module, st.min_detect_scale, 1.0)) if module > 0 else 1.0
        gray = self._detector.gray(image, rects)
        found = self._detector.detect(gray, rects, min_perim, scale, side)
        if st.retry_missing_tags:
            retry = [self._body_rects[b.name] for b in self.bodies
                     if b.name in self._body_rects
                     and any((b.dictionary, t) not in found for t in self._last_tags[b.name])]
            if retry:
                self.retries += 1
                extra = self._detector.detect(gray, merge_rects(retry), st.min_tag_perimeter_px,
                                              windows=DEFAULT_WINDOWS)
                for k, cs in extra.items():
                    if k not in found:
                        found[k] = cs
        return self._refine(gray, found)

    def _refine(self, gray: np.ndarray, found: dict) -> dict:
        """Edge-fit corners; tags smeared beyond the usual edge spread go to self._coarse."""
        st = self.settings
        found, spreads, self._partial = self._detector.refine(gray, found, st.refine_iterations)
        self._coarse = set()
        owned = [v for k, v in spreads.items() if k in self._owner]
        if st.refine_iterations > 0 and owned:
            self._sharpest.append(min(owned))
            usual = statistics.median(self._sharpest)
            limit = max(st.max_edge_spread_px, st.smear_ratio * usual)
            self._coarse = {k for k, v in spreads.items()
                            if v > limit or (k in self._partial and v > st.partial_smear_ratio * usual)}
        return found

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
        for name in self._last_uv:
            self._last_uv[name] = self._prev_uv[name] = None
            self._solver.forget(name)
            self._last_tags[name] = set()
        self._since_full = self._since_detect = 0

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
        self._body_rects = {}
        for b in tracked:
            uv = self._last_uv[b.name]
            r = predict_rect(uv, self._prev_uv[b.name], s.roi_pad_px, s.roi_pad_rel, w, h)
            if r is None:
                return None
            rects.append(r)
            self._body_rects[b.name] = r
        rects = merge_rects(rects)
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects)
        if area > s.roi_max_area_frac * w * h:
            return None
        return rects


    def _solve_all(self, found: dict, frame: Frame) -> dict[str, BodyPose]:
        """Body poses from the detections of this frame (tracking.body_solve)."""
        return self._solver.solve_all(found, frame, self._coarse, self._partial)

    def _project(self, pts: np.ndarray, T: np.ndarray) -> np.ndarray:
        return self._solver.project(pts, T)

    # ----------------------------------------------------------------- what the last frame found
    @property
    def last_detections(self) -> dict[tuple[str, int], np.ndarray]:
        """Every owned tag's corners (4, 2) px of the last solve (before outlier rejection)."""
        return self._solver.detections

    @property
    def last_warnings(self) -> list[str]:
        """Warnings of the last frame (a camera model that fits no body's tags)."""
        return self._solver.warnings

    @property
    def misfit_frames(self) -> int:
        """Frames in which some body fitted the camera model badly."""
        return self._solver.misfit_frames
