"""Pinhole camera model with OpenCV distortion, saved as JSON.

File: {"format_version": 1, "image_size": [w, h], "K": 3x3, "dist": [k1, k2, p1, p2, k3, ...],
"rms_px": float|null}. K is in pixels; the camera frame is OpenCV's (x right, y down, z forward).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import InputFileError, TrackingError
from navcore.fileio import read_json, require_matrix, write_json

VALID_DIST_LENGTHS = (4, 5, 8, 12, 14)


@dataclass(frozen=True)
class CameraModel:
    """image_size: (width, height) px; K: 3x3 intrinsics (px); dist: OpenCV distortion coefficients;
    rms_px: calibration reprojection RMS (px) or None when unknown (e.g. a guessed model)."""

    image_size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray
    rms_px: Optional[float] = None

    @staticmethod
    def guess(width: int, height: int, focal_factor: float = 1.3) -> "CameraModel":
        """An uncalibrated model: focal = focal_factor * width, principal point at the centre, no distortion."""
        f = focal_factor * width
        K = np.array([[f, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1.0]])
        return CameraModel((int(width), int(height)), K, np.zeros(5), None)

    def check_image(self, image: np.ndarray, source: str = "frame") -> None:
        """Raise TrackingError when an image's size differs from the calibrated size."""
        h, w = image.shape[:2]
        if (w, h) != tuple(self.image_size):
            raise TrackingError(
                f"{source} is {w}x{h} but the camera calibration is for {self.image_size[0]}x{self.image_size[1]}; "
                "calibrate at this resolution or set the camera to the calibrated one")

    def to_dict(self) -> dict:
        return {"image_size": list(self.image_size), "K": self.K, "dist": self.dist,
                "rms_px": None if self.rms_px is None else float(self.rms_px)}

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict(), format_version=1)

    @staticmethod
    def load(path: str | Path) -> "CameraModel":
        obj = read_json(path, "camera file")
        size = obj.get("image_size")
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise InputFileError(path, "'image_size' in the camera file must be [width, height] in positive whole pixels")
        K = require_matrix(path, obj, "K", (3, 3), "camera file")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
            raise InputFileError(path, "'K' in the camera file is not a camera matrix (positive focal lengths, last row 0 0 1)")
        dist_raw = obj.get("dist", [])
        try:
            dist = np.asarray(dist_raw, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError) as e:
            raise InputFileError(path, "'dist' in the camera file is not a list of numbers") from e
        if dist.size not in VALID_DIST_LENGTHS + (0,) or not np.all(np.isfinite(dist)):
            raise InputFileError(path, f"'dist' in the camera file must hold 0, 4, 5, 8, 12 or 14 finite numbers, not {dist.size}")
        rms = obj.get("rms_px")
        if isinstance(rms, int) and not isinstance(rms, bool) and abs(rms) > 1e300:
            rms = math.inf  # an integer too large for a float: refused below like infinity
        if rms is not None and (not isinstance(rms, (int, float)) or isinstance(rms, bool) or not math.isfinite(rms) or rms < 0):
            raise InputFileError(path, "'rms_px' in the camera file must be a non-negative number or null")
        return CameraModel((size[0], size[1]), K, dist if dist.size else np.zeros(5), rms)
