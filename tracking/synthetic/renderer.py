"""Realistic synthetic camera frames of marker bodies with exact ground truth.

This is how navtms measures tracking accuracy without a patient: bodies move along known
trajectories (T_camera_from_body per frame, mm), frames are rendered from them, the tracker
runs on the frames and its poses are compared with the truth.

Geometry is exact. Every planar element (a tag, its white quiet zone, the body's plate) is a
textured 3D quad; its texture is warped into the image by the homography of its projected
corners (cv2.warpPerspective, bilinear) on a supersampled region and area-averaged back
(cv2.resize INTER_AREA), so edges are anti-aliased and corners land where the camera projects
them to well under 0.1 px. Lens distortion, lens softness, lighting and sensor noise are
applied afterwards to the whole ideal (pinhole) image (tracking.synthetic.effects), so a
distorted camera sees the same thing OpenCV's projectPoints predicts.

Effects (RenderEffects, tracking.synthetic.effects): textured background (gradient, multi-scale
noise, clutter), per-frame gain/offset and a moving light gradient with vignetting, Gaussian
sensor noise, motion blur (each element rendered at several instants of the exposure along the
motion between consecutive frames and averaged), a moving occluder (a "hand") that covers a body
for a while, and lens softness. Everything is deterministic from the seed and the frame index.

Truth per body per frame (BodyTruth): visible when at least `min_visible_tags` tags are
facing the camera (view angle <= max_view_angle_deg), fully inside the image, at least
`min_tag_px` px on a side, and their black squares are not covered by anything (occluder, other
body); the pose is the pose at the middle of the exposure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Mapping, NamedTuple, Optional, Sequence

import cv2
import numpy as np

from navcore.errors import TrackingError
from navcore.transforms import interpolate_pose
from tracking.bodies import MarkerBody, dictionary_by_name
from tracking.camera import CameraModel
from tracking.synthetic.effects import FrameFinisher, LensCanvas, Occlusion, RenderEffects  # noqa: F401 (re-exported)
from tracking.synthetic.scenes import draw_hand, grow_tag, is_coplanar, textured_background  # noqa: F401

PAPER_WHITE = 232.0   # gray level of printed white under unit light
INK_BLACK = 22.0      # gray level of printed black
NEAR_MM = 20.0        # elements closer than this to the camera plane are not drawn
ID_NONE, ID_COVER = -1, -2


class BodyTruth(NamedTuple):
    """Ground truth of one body in one frame. T_camera_from_body: 4x4 mm, the pose at the middle
    of the exposure (given even when not visible); tags_visible: tags that count as visible."""

    visible: bool
    T_camera_from_body: np.ndarray
    tags_visible: int
    tags_total: int


@dataclass
class _Quad:
    """A textured planar quad: texture (n, n) float32 gray (1 = level) spread over the whole
    quad, corners_mm (4, 3) in the body frame (TL, TR, BR, BL of the texture). Tags
    (tag_key = (dictionary, id)) get their texture from the dictionary instead."""

    texture: np.ndarray
    corners_mm: np.ndarray
    level: float          # gray level multiplier (paper white, plate gray)
    uid: int              # value written to the id buffer (tag uid, or ID_COVER)
    tag_key: Optional[tuple[str, int]] = None


def project(camera: CameraModel, T_camera_from_body: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """Body points (N, 3) mm -> image pixels (N, 2) through the camera, distortion included
    (cv2.projectPoints)."""
    T = np.asarray(T_camera_from_body, dtype=np.float64)
    rvec = cv2.Rodrigues(T[:3, :3])[0]
    uv, _ = cv2.projectPoints(np.asarray(points_mm, np.float64).reshape(-1, 1, 3), rvec, T[:3, 3],
                              np.asarray(camera.K, np.float64), np.asarray(camera.dist, np.float64))
    return uv.reshape(-1, 2)


class SequenceRenderer:
    """Renders frames of `bodies` for a fixed camera. Expensive set-up (background, distortion
    map, textures) happens once here; render() is then tens of ms per 720p frame."""

    def __init__(self, camera: CameraModel, bodies: Sequence[MarkerBody],
                 effects: RenderEffects = RenderEffects(), seed: int = 0):
        self.camera = camera
        self.bodies = {b.name: b for b in bodies}
        if len(self.bodies) != len(bodies):
            raise TrackingError("synthetic renderer: body names must be distinct")
        self.effects = effects
        self.seed = int(seed)
        w, h = camera.image_size
        self.K = np.asarray(camera.K, dtype=np.float64)
        self.dist = np.asarray(camera.dist, dtype=np.float64).reshape(-1)
        lens = LensCanvas(camera)
        self.distorted, self.offset, self.canvas_size, self.maps = lens.distorted, lens.offset, lens.canvas_size, lens.maps
        self._finisher = FrameFinisher(camera, effects, lens, self.seed)
        cw, ch = self.canvas_size
        self.background = (textured_background((cw, ch), self.seed) if effects.background
                           else np.full((ch, cw, 3), 128.0, np.float32))
        self.quads: dict[str, list[_Quad]] = {name: self._body_quads(b) for name, b in self.bodies.items()}
        self._tex_cache: dict = {}

    # -- set-up -------------------------------------------------------------------------
    def _body_quads(self, body: MarkerBody) -> list[_Quad]:
        d = dictionary_by_name(body.dictionary)
        bits = d.markerSize + 2
        rng = np.random.default_rng([self.seed, sum(map(ord, body.name))])
        quads: list[_Quad] = []
        white = np.ones((8, 8), np.float32)
        grown = {tid: grow_tag(c, 1.0, bits) for tid, c in body.tags.items()}
        allc = np.concatenate(list(grown.values()))
        if self.effects.plate and is_coplanar(allc):
            c0 = next(iter(body.tags.values()))
            u = c0[1] - c0[0]
            u /= np.linalg.norm(u)
            v = c0[3] - c0[0]
            v -= u * (u @ v)
            v /= np.linalg.norm(v)
            o = allc.mean(axis=0)
            uv = (allc - o) @ np.stack([u, v], axis=1)
            m = 0.4 * body.tag_size_mm(body.ids[0])
            (u0, v0), (u1, v1) = uv.min(axis=0) - m, uv.max(axis=0) + m
            plate = np.array([o + a * u + b * v for a, b in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))])
            tex = (1.0 + cv2.GaussianBlur(rng.normal(0, 0.03, (64, 64)).astype(np.float32), (0, 0), 2.0))
            quads.append(_Quad(tex, plate, float(rng.uniform(0.75, 0.9)) * PAPER_WHITE, ID_COVER))
        for tid in body.ids:   # quiet zones first, so that no quiet zone covers a neighbour's tag
            quads.append(_Quad(white, grown[tid], PAPER_WHITE, ID_COVER))
        for tid in body.ids:
            quads.append(_Quad(white, body.tags[tid], PAPER_WHITE,
                               0, (body.dictionary, tid)))
        return quads

    def _texture(self, q: _Quad, side_px: float) -> tuple[np.ndarray, np.ndarray]:
        """The quad's texture (gray, coverage) at just over side_px texels per side, and its
        corner positions (4, 2) in texture pixel-centre coordinates. One texel ~ one supersampled
        pixel makes the bilinear ramp at every edge one pixel wide, i.e. an exact box filter, so
        edges land where the geometry puts them. Tags: the black square, values ink/paper .. 1."""
        unit = dictionary_by_name(q.tag_key[0]).markerSize + 2 if q.tag_key is not None else 8
        n = unit * int(np.clip(math.ceil(side_px / unit), 1, 4096 // unit))
        ck = (q.tag_key if q.tag_key is not None else id(q.texture), n)
        tex2 = self._tex_cache.get(ck)
        if tex2 is None:
            if q.tag_key is not None:
                d = dictionary_by_name(q.tag_key[0])
                img = cv2.aruco.generateImageMarker(d, q.tag_key[1], n, borderBits=1).astype(np.float32) / 255.0
                tex = INK_BLACK / PAPER_WHITE + img * (1.0 - INK_BLACK / PAPER_WHITE)
            else:
                tex = cv2.resize(q.texture, (n, n), interpolation=cv2.INTER_LINEAR)
            tex2 = np.dstack([tex, np.ones_like(tex)])
            if len(self._tex_cache) > 512:
                self._tex_cache.clear()
            self._tex_cache[ck] = tex2
        return tex2, np.array([[-0.5, -0.5], [n - 0.5, -0.5], [n - 0.5, n - 0.5], [-0.5, n - 0.5]])

    # -- projection ---------------------------------------------------------------------
    def to_canvas(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (N, 3) mm -> ideal canvas pixel coordinates (N, 2)."""
        uvw = points_cam @ self.K.T
        return uvw[:, :2] / uvw[:, 2:3] + self.offset

    def project(self, T_camera_from_body: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
        """Body points (N, 3) mm -> output image pixels (N, 2): where a rendered corner appears."""
        return project(self.camera, T_camera_from_body, points_mm)

    # -- rendering ----------------------------------------------------------------------
    def _sub_poses(self, traj: np.ndarray, index: int, fps: float, corners_mm: np.ndarray) -> list[np.ndarray]:
        """Poses at the instants of the exposure of frame `index` (motion blur), interpolated
        between neighbouring frames; a single pose when there is no exposure blur."""
        T = traj[index]
        e = self.effects.exposure_s * fps  # exposure in frames
        if e <= 0:
            return [T]

        def at(delta: float) -> np.ndarray:  # delta in frames, |delta| <= 0.5
            j = index + (1 if delta > 0 else -1)
            if abs(delta) < 1e-12 or not 0 <= j < len(traj):
                return T
            return interpolate_pose(T, traj[j], abs(delta))

        ends = [at(-e / 2), at(e / 2)]
        p0, p1 = (self.to_canvas(corners_mm @ Te[:3, :3].T + Te[:3, 3]) for Te in ends)
        if np.any(~np.isfinite(p0)) or np.any(~np.isfinite(p1)):
            return [T]
        n = int(np.clip(math.ceil(float(np.max(np.linalg.norm(p1 - p0, axis=1))) / 2.0), 1, 8))
        if n == 1:
            return [T]
        return [at(((k + 0.5) / n - 0.5) * e) for k in range(n)]

    def _draw_quad(self, canvas: np.ndarray, idbuf: np.ndarray, q: _Quad, Ts: list[np.ndarray],
                   tint: np.ndarray, light: np.ndarray) -> Optional[tuple]:
        """Composite one quad (averaged over the sub-poses Ts) into canvas; returns (roi, mask)
        of its coverage, or None when it is not drawn (behind the camera, back-facing, off-canvas)."""
        cams = np.stack([q.corners_mm @ T[:3, :3].T + T[:3, 3] for T in Ts])  # (N, 4, 3)
        if np.any(cams[..., 2] < NEAR_MM):
            return None
        mid = cams[len(cams) // 2]
        dst = np.stack([self.to_canvas(c) for c in cams])                       # (N, 4, 2)
        d = dst[len(dst) // 2]
        area = 0.5 * np.sum(d[:, 0] * np.roll(d[:, 1], -1) - np.roll(d[:, 0], -1) * d[:, 1])
        if area <= 0:  # seen from behind
            return None
        cw, ch = self.canvas_size
        x0, y0 = np.floor(dst.reshape(-1, 2).min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(dst.reshape(-1, 2).max(axis=0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cw), min(y1, ch)
        if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) > cw * ch:
            return None
        s = self.effects.supersample if q.tag_key is not None else 1  # plates, quiet zones: soft outer edges only
        if len(Ts) > 1:  # the sub-poses already spread each edge over >= 2 px
            s = 1
        side = float(np.max(np.linalg.norm(dst - np.roll(dst, -1, axis=1), axis=2))) * s
        tex2, src = self._texture(q, side)
        rw, rh = x1 - x0, y1 - y0
        A_inv = np.array([[s, 0, -s * (x0 - 0.5 + 0.5 / s)], [0, s, -s * (y0 - 0.5 + 0.5 / s)], [0, 0, 1.0]])
        acc = np.zeros((rh, rw, 2), np.float32)
        for dk in dst:
            H = A_inv @ cv2.getPerspectiveTransform(src.astype(np.float32), dk.astype(np.float32))
            big = cv2.warpPerspective(tex2, H, (rw * s, rh * s), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            acc += big if s == 1 else cv2.resize(big, (rw, rh), interpolation=cv2.INTER_AREA)
        acc /= len(dst)
        n = np.cross(mid[1] - mid[0], mid[3] - mid[0])
        n /= np.linalg.norm(n)
        if n @ mid.mean(axis=0) > 0:
            n = -n
        shade = 0.55 + 0.45 * max(0.0, float(n @ light))
        a = acc[..., 1:2]
        roi = canvas[y0:y1, x0:x1]
        roi *= 1.0 - a
        roi += acc[..., 0:1] * (q.level * shade) * tint
        mask = a[..., 0] > 0.5
        idbuf[y0:y1, x0:x1][mask] = q.uid
        return (slice(y0, y1), slice(x0, x1)), mask

    def _occluder(self, canvas: np.ndarray, idbuf: np.ndarray, occ: Occlusion, t: float,
                  T: np.ndarray) -> None:
        """Draw the hand-and-forearm occluder over body occ.body at time t (s)."""
        if not occ.start_s <= t <= occ.end_s:
            return
        ramp = max(occ.ramp_s, 1e-6)
        s = min(1.0, (t - occ.start_s) / ramp, (occ.end_s - t) / ramp)
        s = s * s * (3 - 2 * s)  # smoothstep
        body = self.bodies[occ.body]
        bits = dictionary_by_name(body.dictionary).markerSize + 2
        pts = np.concatenate([grow_tag(c, 1.0, bits) for c in body.tags.values()]) @ T[:3, :3].T + T[:3, 3]
        if np.any(pts[:, 2] < NEAR_MM):
            return
        uv = self.to_canvas(pts)
        c = uv.mean(axis=0)
        r = occ.size_scale * float(np.max(np.linalg.norm(uv - c, axis=1)))
        draw_hand(canvas, idbuf, c, r, occ.from_deg, s, ID_COVER)

    def _tag_geometry_ok(self, body: MarkerBody, tid: int, T: np.ndarray) -> bool:
        """Facing the camera within max_view_angle_deg, fully inside the image, big enough."""
        e = self.effects
        c = body.tags[tid] @ T[:3, :3].T + T[:3, 3]
        if np.any(c[:, 2] < NEAR_MM):
            return False
        n = np.cross(c[3] - c[0], c[1] - c[0])  # printed side's normal (TL, TR, BR, BL read clockwise)
        ctr = c.mean(axis=0)
        cos_view = float(-(n @ ctr) / (np.linalg.norm(n) * np.linalg.norm(ctr)))
        if cos_view < math.cos(math.radians(e.max_view_angle_deg)):
            return False
        bits = dictionary_by_name(body.dictionary).markerSize + 2
        outer = grow_tag(body.tags[tid], 1.0, bits)
        ideal = self.to_canvas(outer @ T[:3, :3].T + T[:3, 3])
        cw, ch = self.canvas_size
        if np.any(ideal < 0) or np.any(ideal[:, 0] > cw - 1) or np.any(ideal[:, 1] > ch - 1):
            return False
        uv = self.project(T, outer)
        w, h = self.camera.image_size
        if np.any(uv < 2) or np.any(uv[:, 0] > w - 3) or np.any(uv[:, 1] > h - 3):
            return False
        tag_uv = self.project(T, body.tags[tid])
        return float(np.min(np.linalg.norm(tag_uv - np.roll(tag_uv, -1, axis=0), axis=1))) >= e.min_tag_px

    def render(self, trajectories: Mapping[str, np.ndarray], index: int, fps: float) -> tuple[np.ndarray, dict]:
        """Frame `index` of a sequence at `fps`: (BGR uint8 image (h, w, 3), {body: BodyTruth}).
        trajectories: body name -> (F, 4, 4) T_camera_from_body per frame (mm)."""
        e = self.effects
        t = index / fps
        canvas = self.background.copy()
        idbuf = np.full(canvas.shape[:2], ID_NONE, np.int32)
        light = np.array([-0.35, -0.5, -0.8])
        light /= np.linalg.norm(light)
        poses = {name: np.asarray(trajectories[name][index], dtype=np.float64) for name in self.bodies}
        order = sorted(self.bodies, key=lambda nm: -float(poses[nm][2, 3]))
        tag_masks: dict[tuple[str, int], tuple] = {}
        uid_of = {}
        for name in order:
            body = self.bodies[name]
            Ts = self._sub_poses(np.asarray(trajectories[name], dtype=np.float64), index, fps, body.corners())
            tint = np.array([1.0, 1.0, 1.0], np.float32) * np.array([0.97, 1.0, 1.03], np.float32)
            for q in self.quads[name]:
                if q.tag_key is not None:
                    uid = len(uid_of)
                    uid_of[(name, q.tag_key[1])] = uid
                    q = _Quad(q.texture, q.corners_mm, q.level, uid, q.tag_key)
                res = self._draw_quad(canvas, idbuf, q, Ts, tint, light)
                if res is not None and q.tag_key is not None:
                    tag_masks[(name, q.tag_key[1])] = res
        for occ in e.occlusions:
            if occ.body in poses:
                self._occluder(canvas, idbuf, occ, t, poses[occ.body])
        truth = {}
        for name, body in self.bodies.items():
            n_vis = 0
            for tid in body.ids:
                m = tag_masks.get((name, tid))
                if m is None or not m[1].any():
                    continue
                own = int(np.count_nonzero(idbuf[m[0]][m[1]] == uid_of[(name, tid)]))
                if own >= 0.995 * int(np.count_nonzero(m[1])) and self._tag_geometry_ok(body, tid, poses[name]):
                    n_vis += 1
            truth[name] = BodyTruth(n_vis >= max(e.min_visible_tags, 1), poses[name], n_vis, len(body.ids))
        return self._finisher.finish(canvas, index, t), truth

def render_sequence(camera: CameraModel, bodies: Sequence[MarkerBody], trajectories: Mapping[str, np.ndarray],
                    seed: int = 0, effects: RenderEffects = RenderEffects(), fps: float = 30.0
                    ) -> Iterator[tuple[np.ndarray, dict]]:
    """Yield (BGR uint8 image, {body: BodyTruth}) for every frame of the trajectories
    (body name -> (F, 4, 4) T_camera_from_body, mm; all the same length F)."""
    lengths = {len(trajectories[b.name]) for b in bodies if b.name in trajectories}
    missing = [b.name for b in bodies if b.name not in trajectories]
    if missing or len(lengths) != 1:
        raise TrackingError(f"synthetic sequence: every body needs a trajectory of the same length (missing {missing})")
    r = SequenceRenderer(camera, bodies, effects, seed)
    for i in range(lengths.pop()):
        yield r.render(trajectories, i, fps)
