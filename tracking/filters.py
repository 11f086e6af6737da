"""One-Euro filtering of rigid-body poses (Casiez, Roussel & Vogel, CHI 2012).

The One-Euro filter is a first-order low-pass filter whose cut-off frequency rises with the
(filtered) speed of the signal: at rest it smooths strongly (little jitter), when moving it
follows closely (little lag). Here it is applied to poses:

- translation (mm): one One-Euro filter per camera axis x, y, z;
- rotation: on the rotation vector (rad) of the relative rotation from the last output to the
  new measurement, R_rel = R_out_prev^T R_meas. The relative rotation is always the shortest
  one (|angle| <= pi), which is what handling the quaternion sign (q and -q are the same
  rotation) means; the output R_out = R_out_prev exp(alpha * log(R_rel)) is always a rotation.

Time comes from `BodyPose.capture_ns` (the capture time of the frame), never from the wall
clock, so replaying a recording filters exactly like the live run did.

Safety: a body that is not visible in a frame passes through as not visible (no pose is
invented), and its filter state is dropped; the first pose after a loss is passed through
unfiltered. A non-increasing capture time or a gap longer than `max_gap_s` also restarts the
filter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

import numpy as np
from scipy.spatial.transform import Rotation

from navcore.errors import GeometryError
from tracking.types import BodyPose


def smoothing_factor(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    """Exponential-smoothing factor alpha in (0, 1] of a first-order low-pass with the given
    cut-off frequency (Hz) sampled at interval dt_s (s): alpha = 1 / (1 + tau / dt), tau = 1/(2 pi fc)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


@dataclass(frozen=True)
class OneEuroParams:
    """Parameters of one One-Euro filter.

    min_cutoff_hz: cut-off at rest (Hz); lower = less jitter, more lag when slow.
    beta: cut-off increase per unit of speed (Hz per mm/s for translation, Hz per rad/s for
    rotation); higher = less lag when moving fast.
    d_cutoff_hz: cut-off of the low-pass on the speed estimate (Hz).
    """

    min_cutoff_hz: float
    beta: float
    d_cutoff_hz: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff_hz > 0 and self.d_cutoff_hz > 0 and self.beta >= 0
                and all(math.isfinite(v) for v in (self.min_cutoff_hz, self.beta, self.d_cutoff_hz))):
            raise GeometryError("One-Euro parameters need min_cutoff_hz > 0, d_cutoff_hz > 0 and beta >= 0, all finite")


# Defaults for a webcam at 30 Hz tracking markers at 0.3-1 m, chosen on the synthetic
# sequence data/sequences/coil_approach_720p (docs/synthetic.md): at rest the cut-off is about
# 1 Hz (0.3 mm / 0.3 deg white jitter drops to about half / 40 %); a head drifting at 10 mm/s
# gets about 6 Hz (lag ~0.4 mm), a coil moving at 100 mm/s or 1 rad/s about 50 / 11 Hz.
DEFAULT_TRANSLATION = OneEuroParams(min_cutoff_hz=1.0, beta=0.5, d_cutoff_hz=1.0)
DEFAULT_ROTATION = OneEuroParams(min_cutoff_hz=1.0, beta=10.0, d_cutoff_hz=1.0)


class OneEuroVector:
    """One-Euro filter of a vector signal, one independent filter per component.

    Units are the caller's (mm for translation); time in seconds.
    """

    def __init__(self, params: OneEuroParams):
        self.params = params
        self.x_hat: Optional[np.ndarray] = None
        self.dx_hat: Optional[np.ndarray] = None

    def reset(self) -> None:
        self.x_hat = None
        self.dx_hat = None

    def __call__(self, x: np.ndarray, dt_s: Optional[float]) -> np.ndarray:
        """Filter sample `x` taken dt_s seconds after the previous one (None: first sample,
        passed through)."""
        x = np.asarray(x, dtype=np.float64)
        if self.x_hat is None or dt_s is None:
            self.x_hat = x.copy()
            self.dx_hat = np.zeros_like(x)
            return x.copy()
        p = self.params
        dx = (x - self.x_hat) / dt_s
        self.dx_hat = self.dx_hat + smoothing_factor(p.d_cutoff_hz, dt_s) * (dx - self.dx_hat)
        cutoff = p.min_cutoff_hz + p.beta * np.abs(self.dx_hat)
        self.x_hat = self.x_hat + smoothing_factor(cutoff, dt_s) * (x - self.x_hat)
        return self.x_hat.copy()


class OneEuroRotation:
    """One-Euro filter of a 3x3 rotation, working on the rotation vector (rad) of the relative
    rotation from the last output to the measurement (shortest rotation, so the quaternion
    sign never matters). The speed is the angular speed (rad/s)."""

    def __init__(self, params: OneEuroParams):
        self.params = params
        self.R_hat: Optional[np.ndarray] = None
        self.w_hat: Optional[np.ndarray] = None  # filtered angular velocity (rad/s), body frame

    def reset(self) -> None:
        self.R_hat = None
        self.w_hat = None

    def __call__(self, R: np.ndarray, dt_s: Optional[float]) -> np.ndarray:
        """Filter rotation `R` (3x3) sampled dt_s seconds after the previous one (None: first
        sample, passed through after re-orthonormalisation)."""
        R = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_matrix()
        if self.R_hat is None or dt_s is None:
            self.R_hat = R
            self.w_hat = np.zeros(3)
            return R.copy()
        p = self.params
        r = Rotation.from_matrix(self.R_hat.T @ R).as_rotvec()  # |r| <= pi: shortest rotation
        self.w_hat = self.w_hat + smoothing_factor(p.d_cutoff_hz, dt_s) * (r / dt_s - self.w_hat)
        cutoff = p.min_cutoff_hz + p.beta * float(np.linalg.norm(self.w_hat))
        alpha = float(smoothing_factor(cutoff, dt_s))
        self.R_hat = self.R_hat @ Rotation.from_rotvec(alpha * r).as_matrix()
        return self.R_hat.copy()


@dataclass
class _BodyState:
    translation: OneEuroVector
    rotation: OneEuroRotation
    last_ns: Optional[int] = None


@dataclass
class PoseFilter:
    """One-Euro filter for every body, fed one frame's poses at a time.

    translation: parameters for the translation (mm, Hz per mm/s); rotation: parameters for
    the rotation (rad, Hz per rad/s); max_gap_s: a longer gap between two seen poses of a body
    restarts its filter (the new pose passes through).

    Call it with the estimator's output for one frame, body name -> BodyPose; it returns a new
    dict with the same keys. Not-visible poses pass through unchanged (still not visible) and
    reset that body; a body missing from the dict is reset as well.
    """

    translation: OneEuroParams = DEFAULT_TRANSLATION
    rotation: OneEuroParams = DEFAULT_ROTATION
    max_gap_s: float = 0.5
    _states: dict[str, _BodyState] = field(default_factory=dict, init=False, repr=False)

    def reset(self, body: Optional[str] = None) -> None:
        """Forget the history of one body, or of all bodies when `body` is None."""
        if body is None:
            self._states.clear()
        else:
            self._states.pop(body, None)

    def filter_pose(self, pose: BodyPose) -> BodyPose:
        """Filter one body's pose; see the class docstring."""
        if not pose.visible or pose.T_camera_from_body is None:
            self._states.pop(pose.body, None)
            return pose
        T = np.asarray(pose.T_camera_from_body, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise GeometryError(f"pose of body {pose.body!r} in frame {pose.frame_number} is not a finite 4x4 transform")
        state = self._states.get(pose.body)
        if state is None:
            state = _BodyState(OneEuroVector(self.translation), OneEuroRotation(self.rotation))
            self._states[pose.body] = state
        dt_s: Optional[float] = None
        if state.last_ns is not None:
            dt_s = (pose.capture_ns - state.last_ns) * 1e-9
            if not (0.0 < dt_s <= self.max_gap_s):
                state.translation.reset()
                state.rotation.reset()
                dt_s = None
        state.last_ns = pose.capture_ns
        out = np.eye(4)
        out[:3, :3] = state.rotation(T[:3, :3], dt_s)
        out[:3, 3] = state.translation(T[:3, 3], dt_s)
        return replace(pose, T_camera_from_body=out)

    def __call__(self, poses: Mapping[str, BodyPose]) -> dict[str, BodyPose]:
        for name in list(self._states):
            if name not in poses:
                self._states.pop(name)
        return {name: self.filter_pose(p) for name, p in poses.items()}
