"""Body poses from refined tag corners: which tags to trust, one rigid PnP solve per body.

BodySolver.solve_all(found, frame, ...) -> {body name: BodyPose} for the tracker (tracking.pose),
given every detected tag's corners (px) of one frame. Per body, all its trusted tags' corners
go into one PnP solve (tracking.pnp: IPPE for flat bodies with the planar flip resolved by
error and, when both fit, by the previous pose; SQPnP otherwise; then Levenberg-Marquardt; in
steady tracking of predicted tags, Gauss-Newton from the constant-velocity pose when it fits
as well as the last frame did). Outlier tags are found RELATIVE to the body's other tags (a tag
that stands out from the median and still disagrees with the pose of the others, leave-one-out,
tracking.tag_consistency), never by a fixed pixel limit: with a poorly fitting camera model
every tag fits at 1.5-2.5 px, and deleting one of them moved a real pose by 5.6 mm. When all of
a body's tags fit badly the camera model is wrong: the solver warns (warnings) instead of
deleting tags. Tags smeared beyond the camera's usual edge spread are not used; tags whose edge
fit failed in places are used only when their quad is still a perspective square.

The solver keeps each body's last two poses (remember/forget) for the flip choice and warm
starts. Poses are T_camera_from_body, 4x4, mm (OpenCV camera frame); pixels are image pixels.
"""
from __future__ import annotations

import math
import statistics
from typing import Optional, Sequence

import cv2
import numpy as np

from tracking.bodies import MarkerBody
from tracking.detection import dedupe
from tracking.pnp import is_planar, refine_from, solve_body_pose
from tracking.tag_consistency import inconsistent_tag, outlier_tag, square_fit_rms
from tracking.tracker_settings import TrackerSettings
from tracking.types import BodyPose, Frame


class BodySolver:
    """Pose solver of a set of marker bodies for one camera (K (3, 3) px, dist OpenCV (k, 1));
    owner: (dictionary, tag id) -> name of the body that carries the tag."""

    def __init__(self, K: np.ndarray, dist: np.ndarray, bodies: Sequence[MarkerBody],
                 owner: dict[tuple[str, int], str], settings: TrackerSettings) -> None:
        self._K, self._dist = K, dist
        self.bodies = list(bodies)
        self.settings = settings
        self._owner = owner
        self._by_name = {b.name: b for b in self.bodies}
        self._planar = {b.name: is_planar(b.corners()) for b in self.bodies}
        self._reach = {b.name: float(np.sqrt((b.corners() ** 2).sum(axis=1).max())) for b in self.bodies}   # mm
        self._obj: dict[tuple[str, tuple], np.ndarray] = {}      # _corners: (body, tag ids) -> (4N, 3) mm
        # pose history per body: the last pose, the one before, the last RMS (px)
        self.last_T: dict[str, Optional[np.ndarray]] = {b.name: None for b in self.bodies}
        self.before_T: dict[str, Optional[np.ndarray]] = {b.name: None for b in self.bodies}
        self.last_rms: dict[str, float] = {b.name: math.nan for b in self.bodies}
        # what the last solve_all found
        self.detections: dict[tuple[str, int], np.ndarray] = {}   # every owned tag's corners (4, 2) px
        self.used_tags: dict[str, list[int]] = {}                 # body -> tags its pose uses
        # body -> (pose, projection (4N, 2) px of all its corners in `ids` order, or None)
        self.projections: dict[str, tuple] = {}
        self.warnings: list[str] = []                             # reset by the caller per frame
        self.misfit_frames = 0           # frames in which some body fitted the camera model badly

    def remember(self, name: str, pose: BodyPose) -> None:
        """The body's pose of the frame just solved becomes its last pose (visible or not)."""
        if pose.visible:
            self.before_T[name], self.last_T[name] = self.last_T[name], pose.T_camera_from_body
            self.last_rms[name] = pose.rms_px
        else:
            self.forget(name)

    def forget(self, name: str) -> None:
        self.last_T[name] = self.before_T[name] = None
        self.last_rms[name] = math.nan

    def project(self, pts: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Body points (N, 3) mm -> image pixels (N, 2) under the pose T (4x4 mm)."""
        rvec, _ = cv2.Rodrigues(T[:3, :3])
        uv, _ = cv2.projectPoints(pts, rvec, T[:3, 3].copy(), self._K, self._dist)
        return uv.reshape(-1, 2)

    def solve_all(self, found: dict, frame: Frame, coarse: set = frozenset(), partial: set = frozenset(),
                  warm: bool = False) -> dict[str, BodyPose]:
        """One BodyPose per body from found: (dictionary, id) -> list of (4, 2) corner arrays px.
        coarse: tags too smeared to use; partial: tags with some cornerSubPix corner; warm: the
        tags were predicted and verified (steady tracking): start from the predicted poses."""
        per_body: dict[str, list[tuple[int, np.ndarray]]] = {b.name: [] for b in self.bodies}
        self.detections, self.used_tags, self.projections = {}, {}, {}
        for (dic, tid), cs in found.items():
            owner = self._owner.get((dic, tid))
            if owner is None:
                continue
            c = dedupe(cs)
            if c is None:        # the same id seen in two different places: trust neither
                continue
            self.detections[(dic, tid)] = c
            if (dic, tid) in coarse:
                # smeared well beyond the camera's usual edge spread: measured on motion-blurred
                # rendered frames, poses from such tags were off by up to 29 mm / 14 deg
                continue
            if (dic, tid) in partial and self._bad_partial_tag(owner, tid, c):
                continue
            per_body[owner].append((tid, c))
        return {b.name: self._solve_body(b, per_body[b.name], frame, warm) for b in self.bodies}

    def _bad_partial_tag(self, owner: str, tid: int, corners: np.ndarray) -> bool:
        """True when a tag with cornerSubPix corners (its edge fit failed in places) does not fit a
        perspective view of its square within partial_square_px: such a corner was dragged by motion
        blur or an occluder (measured 3-3.5 px off on rendered motion-blurred frames)."""
        body = self._by_name[owner]
        return square_fit_rms(body.tags[tid], corners, self._K, self._dist) > self.settings.partial_square_px

    def _outlier(self, obj_tags: list, img_tags: list, T: np.ndarray, per_tag: np.ndarray) -> Optional[int]:
        """Index of a tag that stands out from the body's other tags (module docstring), or None."""
        s = self.settings
        return outlier_tag(obj_tags, img_tags, T, self._K, self._dist, per_tag,
                           s.outlier_ratio, s.outlier_floor_px, s.max_tag_error_px, s.consistency)

    def _corners(self, body: MarkerBody, ids: tuple) -> np.ndarray:
        """body.corners(ids) (4N, 3) mm, kept per body and tag set (read-only): the same few tag
        sets come back every frame."""
        key = (body.name, ids)
        obj = self._obj.get(key)
        if obj is None:
            obj = body.corners(ids)
            obj.setflags(write=False)
            if len(self._obj) < 256:
                self._obj[key] = obj
        return obj

    def _solve_body(self, body: MarkerBody, tags: list[tuple[int, np.ndarray]], frame: Frame,
                    warm: bool) -> BodyPose:
        s = self.settings
        total = len(body.tags)
        tags = sorted(tags, key=lambda t: t[0])
        need = min(s.min_tags, total)
        # steady tracking of predicted tags: Gauss-Newton from the predicted pose, kept when it fits
        # about as well as the last frame did (else, e.g. a pose in the wrong basin, the fresh solve)
        warm = (warm and s.warm_start and self.last_T[body.name] is not None
                and math.isfinite(self.last_rms[body.name]))
        while len(tags) >= need and tags:
            n = len(tags)
            ids = tuple(t for t, _ in tags)
            obj = self._corners(body, ids)
            img_tags = [c for _, c in tags]
            img = np.concatenate(img_tags, axis=0)
            if warm:
                T = refine_from(obj, img, self._K, self._dist, self._warm_start_pose(body.name),
                                s.warm_start_iterations, reach_mm=self._reach[body.name])
            else:
                T = self.solve_pnp(body.name, obj, img)
            if T is None:
                if warm:
                    warm = False
                    continue
                break
            proj = self.project(obj, T)
            res = (proj - img).reshape(n, 4, 2)
            sq = (res * res).sum(-1)                                  # (n, 4) px^2 per corner
            if warm:
                warm = False
                if not float(sq.sum()) <= (4 * n) * (s.warm_start_ratio * self.last_rms[body.name] + 0.1) ** 2:
                    continue
            per_tag = np.sqrt(sq.sum(-1) * 0.25)                      # RMS px per tag
            obj_tags = [body.tags[t] for t in ids]
            bad = self._outlier(obj_tags, img_tags, T, per_tag) if n > 1 else None
            if bad is None:
                # a partly covered tag disagrees with the others by less (tracking.tag_consistency)
                bad = inconsistent_tag(obj_tags, img_tags, T, self._K, self._dist, s.consistency, per_tag)
            if bad is not None:
                del tags[bad]
                continue
            rms = math.sqrt(float(sq.sum()) / (4 * n))
            median = statistics.median(per_tag.tolist())
            if n >= 3 and median > s.misfit_px:
                self.warnings.append(
                    f"the camera model does not fit body {body.name!r}: its {n} tags reproject at "
                    f"{median:.2f} px (median); calibrate the camera (poses are biased)")
                self.misfit_frames += 1
            if rms > s.max_body_rms_px or T[2, 3] <= 0:
                break
            used = list(ids)
            self.used_tags[body.name] = used
            if n == total:                       # all corners projected already (the tracker keeps them)
                self.projections[body.name] = (T, proj if used == body.ids else None)
            return BodyPose(body.name, frame.frame_number, frame.capture_ns, True, T, n, total, rms)
        return BodyPose.not_visible(body.name, frame.frame_number, frame.capture_ns, total)

    def _warm_start_pose(self, name: str) -> np.ndarray:
        """The body's pose in this frame at constant velocity from its last two poses
        (T_last @ inv(T_before) @ T_last, camera frame), or its last pose."""
        T, T0 = self.last_T[name], self.before_T[name]
        if T0 is None:
            return T
        D = T[:3, :3] @ T0[:3, :3].T                         # the last frame's rotation step
        out = np.empty((4, 4))
        out[:3, :3] = D @ T[:3, :3]
        out[:3, 3] = D @ (T[:3, 3] - T0[:3, 3]) + T[:3, 3]
        out[3] = (0.0, 0.0, 0.0, 1.0)
        return out

    def solve_pnp(self, name: str, obj: np.ndarray, img: np.ndarray) -> Optional[np.ndarray]:
        """T_camera_from_body (4x4, mm) of one body from its corners (fresh solve), or None."""
        return solve_body_pose(obj, img, self._K, self._dist, self._planar[name], self.last_T.get(name),
                               self.settings.ambiguity_ratio)

