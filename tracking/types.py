"""The data that flows through the navigation loop.

FrameSource --Frame--> PoseEstimator --BodyPose per body--> Filter --> Navigator --> sinks.
Every Frame carries its capture time (monotonic clock, ns) and frame number; every BodyPose
carries the capture time and frame number of the frame it came from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Optional, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class BodyPose:
    """Pose of one rigid body in one frame.

    T_camera_from_body: 4x4, mm, maps body-frame points into the camera frame (OpenCV camera:
    x right, y down, z forward). For an external tracker (OpenIGTLink) "camera" is that
    tracker's frame. None whenever `visible` is False: an unseen body has no current pose.
    """

    body: str
    frame_number: int
    capture_ns: int
    visible: bool
    T_camera_from_body: Optional[np.ndarray] = None
    tags_seen: int = 0
    tags_total: int = 0
    rms_px: float = math.nan

    def __post_init__(self) -> None:
        if self.visible and self.T_camera_from_body is None:
            raise ValueError(f"body {self.body!r} is visible but has no pose")
        if not self.visible and self.T_camera_from_body is not None:
            raise ValueError(f"body {self.body!r} is not visible but carries a pose")

    @staticmethod
    def not_visible(body: str, frame_number: int, capture_ns: int, tags_total: int = 0) -> "BodyPose":
        return BodyPose(body, frame_number, capture_ns, False, None, 0, tags_total, math.nan)


@dataclass(frozen=True)
class Frame:
    """One frame from a source.

    image: (H, W, 3) BGR or (H, W) gray uint8, or None for sources that deliver poses only.
    poses: body name -> BodyPose for sources that deliver poses (pose-log replay,
    OpenIGTLink); None for image sources, whose poses come from the PoseEstimator.
    capture_ns: capture time on the monotonic clock (time.monotonic_ns()), or the recorded
    capture time on replay.
    """

    frame_number: int
    capture_ns: int
    image: Optional[np.ndarray] = None
    poses: Optional[Mapping[str, BodyPose]] = None
    meta: Mapping[str, object] = field(default_factory=dict)


@runtime_checkable
class FrameSource(Protocol):
    """A source of frames: live camera, video file, image folder, pose log, OpenIGTLink.

    read() returns the next Frame, or None when the source has ended (end of file, closed).
    A live source that fails raises tracking's TrackingError (navcore.errors) so the loop can
    report it and keep the session.
    """

    def read(self) -> Optional[Frame]: ...

    def close(self) -> None: ...


def iterate(source: FrameSource) -> Iterator[Frame]:
    """Yield frames from a source until it ends."""
    while True:
        frame = source.read()
        if frame is None:
            return
        yield frame


@runtime_checkable
class PoseEstimator(Protocol):
    """Turns an image frame into one BodyPose per configured body (visible or not)."""

    def estimate(self, frame: Frame) -> dict[str, BodyPose]: ...
