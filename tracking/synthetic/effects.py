"""What makes synthetic frames realistic: the effect settings, the lens (the ideal pinhole canvas
and its distortion map) and the finishing of each frame (distortion, lens softness, lighting,
sensor noise, quantisation to uint8).

tracking.synthetic.renderer draws the scene's geometry exactly on the ideal canvas (LensCanvas);
FrameFinisher.finish() then turns that canvas into the camera's image. Lens distortion is
applied to the whole ideal image by cv2.remap through the exact inverse distortion map, so a
distorted camera sees the same thing OpenCV's projectPoints predicts. Everything is
deterministic from the seed and the frame index. Images are BGR; gray levels 0-255.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tracking.camera import CameraModel

NOISE_MARGIN = 128    # range of the per-frame offsets into the noise field (px)


@dataclass(frozen=True)
class Occlusion:
    """A moving occluder (a hand and forearm) that slides in from the image edge in direction
    from_deg (0 = from the right, 90 = from the bottom), covers body `body` completely between
    start_s + ramp_s and end_s - ramp_s, and slides out again."""

    body: str
    start_s: float
    end_s: float
    ramp_s: float = 0.25
    size_scale: float = 1.2  # hand radius / projected radius of the body's tags
    from_deg: float = 30.0


@dataclass(frozen=True)
class RenderEffects:
    """What makes frames realistic; RenderEffects.clean() turns everything off but geometry.

    noise_sigma: Gaussian sensor noise (gray levels); exposure_s: shutter time for motion blur
    (0 = none); lighting: per-frame gain/offset and light gradient; gain/offset amplitudes;
    gradient: strength of the moving light gradient (fraction); vignetting: corner darkening
    (fraction); lens_blur_sigma_px: lens softness; background: textured (True) or flat gray;
    plate: draw a light plate behind coplanar bodies; supersample: per-axis supersampling of
    elements; occlusions: scheduled occluders; visibility thresholds for the truth.
    """

    noise_sigma: float = 2.0
    exposure_s: float = 1.0 / 60.0
    lighting: bool = True
    gain_amplitude: float = 0.15
    offset_amplitude: float = 10.0
    gradient: float = 0.25
    vignetting: float = 0.25
    lens_blur_sigma_px: float = 0.5
    background: bool = True
    plate: bool = True
    supersample: int = 2
    occlusions: tuple[Occlusion, ...] = ()
    min_visible_tags: int = 1
    max_view_angle_deg: float = 70.0
    min_tag_px: float = 12.0

    @staticmethod
    def clean(**kw) -> "RenderEffects":
        """Geometry only: no noise, blur, lighting changes or occluders (background still textured)."""
        base = dict(noise_sigma=0.0, exposure_s=0.0, lighting=False, lens_blur_sigma_px=0.0, occlusions=())
        base.update(kw)
        return RenderEffects(**base)


class LensCanvas:
    """The ideal (pinhole) canvas that covers every output pixel's undistorted position, for a
    camera: offset (2,) px of the canvas origin, canvas_size (w, h), and the distortion map
    (maps, OpenCV fixed-point; None for a camera without distortion)."""

    def __init__(self, camera: CameraModel) -> None:
        self.K = np.asarray(camera.K, dtype=np.float64)
        self.dist = np.asarray(camera.dist, dtype=np.float64).reshape(-1)
        w, h = camera.image_size
        self.distorted = bool(np.any(self.dist != 0))
        if not self.distorted:
            self.offset = np.zeros(2)
            self.canvas_size = (w, h)
            self.maps = None
            return
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        pix = np.stack([xx.ravel(), yy.ravel()], axis=1).reshape(-1, 1, 2)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
        ideal = cv2.undistortPoints(pix, self.K, self.dist, None, None, self.K, crit).reshape(h, w, 2)
        lo = np.floor(ideal.reshape(-1, 2).min(axis=0)) - 2
        hi = np.ceil(ideal.reshape(-1, 2).max(axis=0)) + 2
        self.offset = -lo
        self.canvas_size = (int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1)
        m = (ideal + self.offset).astype(np.float32)
        self.maps = cv2.convertMaps(m[..., 0], m[..., 1], cv2.CV_16SC2)


class FrameFinisher:
    """Turns the rendered ideal canvas of frame `index` into the camera's uint8 image (see the
    module docstring); the light's phases and the noise field come from the seed."""

    def __init__(self, camera: CameraModel, effects: RenderEffects, lens: LensCanvas, seed: int) -> None:
        self.camera = camera
        self.effects = effects
        self.lens = lens
        self.seed = int(seed)
        self._light_phases = np.random.default_rng([self.seed, 11]).uniform(0, 2 * math.pi, 12)
        self._noise_field = None

    def finish(self, canvas: np.ndarray, index: int, t: float) -> np.ndarray:
        """Distortion, lens softness, lighting, sensor noise, quantisation."""
        e = self.effects
        w, h = self.camera.image_size
        img = cv2.convertScaleAbs(canvas)  # canvas >= 0: rounds and saturates to uint8
        if self.lens.distorted:
            img = cv2.remap(img, self.lens.maps[0], self.lens.maps[1], cv2.INTER_LINEAR)
        if e.lens_blur_sigma_px > 0:
            img = cv2.GaussianBlur(img, (0, 0), e.lens_blur_sigma_px)
        offset = 0.0
        if e.lighting:
            ph = self._light_phases
            gain = 1.0 + e.gain_amplitude * (0.7 * math.sin(2 * math.pi * 0.17 * t + ph[0])
                                             + 0.3 * math.sin(2 * math.pi * 0.61 * t + ph[1]))
            offset = e.offset_amplitude * math.sin(2 * math.pi * 0.23 * t + ph[2])
            ang = ph[3] + 0.5 * t
            sw, sh = max(w // 8, 2), max(h // 8, 2)  # a smooth field: computed small, resized
            xn = ((np.arange(sw, dtype=np.float32) + 0.5) / sw - 0.5)
            yn = ((np.arange(sh, dtype=np.float32) + 0.5) / sh - 0.5) * (h / w)
            gx = gain * (1.0 + e.gradient * math.cos(ang) * xn - e.vignetting * 2 * xn ** 2)
            gy = gain * (e.gradient * math.sin(ang) * yn - e.vignetting * 2 * yn ** 2)
            g = np.repeat((gx[None, :] + gy[:, None])[..., None], 3, axis=2)
            img = cv2.multiply(img, cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR), dtype=cv2.CV_32F)
        if e.noise_sigma <= 0:  # offset, rounding, saturation to uint8
            return cv2.addWeighted(img, 1.0, img, 0.0, offset, dtype=cv2.CV_8U)
        # Sensor noise: a crop, at a per-frame random offset, of one fixed field of white
        # Gaussian noise. Any pixel's noise is N(0, sigma^2) and, the field being white, the
        # noise of two frames with different offsets is uncorrelated; 5x cheaper than drawing
        # 3 x w x h normal numbers per frame.
        field = self._noise(w, h)
        dx, dy = np.random.default_rng([self.seed, 101, index]).integers(0, NOISE_MARGIN, 2)
        crop = field[dy:dy + h, dx:dx + w]
        return cv2.addWeighted(img, 1.0, crop, float(e.noise_sigma), offset, dtype=cv2.CV_8U)

    def _noise(self, w: int, h: int) -> np.ndarray:
        if self._noise_field is None:
            rng = np.random.default_rng([self.seed, 103])
            self._noise_field = rng.standard_normal((h + NOISE_MARGIN, w + NOISE_MARGIN, 3), dtype=np.float32)
        return self._noise_field
