"""Coil calibration: where the coil's own frame sits in the frame of its tracked marker body.

The `coil` frame (see DESIGN.md):

    origin  the centre of the coil, on its face (the surface that touches the head)
    +z      out of the face, into the head
    +y      along the handle, from the centre towards the handle
    +x      = y cross z

Picture it: hold the coil with its face down towards the floor and the handle pointing away
from you. +z points down (into the head below), +y points away from you along the handle,
and +x points to your LEFT.

Calibration: with a calibrated, tracked pointer, touch three points on the coil and record
each tip in the coil body's frame (`coilbody`, the frame of the marker body fixed to the coil):

    centre  the centre of the coil face (often marked; the centre of the figure-of-eight)
    handle  a point on the face (or the handle) along the handle's direction from the centre
    side    a point on the face on the +x side, i.e. to your LEFT in the picture above
            (pass side_is_plus_x=False if you touched the right-hand side instead)

`T_coilbody_from_coil` then maps coil-frame points (mm) into the coil body's frame, and the
coil's pose in the camera is `T_camera_from_coil = T_camera_from_coilbody @ T_coilbody_from_coil`.
"""
from __future__ import annotations

import numpy as np

from navcore.errors import RegistrationError
from navcore.transforms import make_transform

#: Touched points closer than this (mm) to each other are refused.
MIN_SEPARATION_MM = 10.0
#: The handle and side directions must differ by at least this (rad).
MIN_ANGLE_RAD = np.radians(20.0)


def coil_frame_from_points(centre: np.ndarray, handle: np.ndarray, side: np.ndarray,
                           side_is_plus_x: bool = True) -> np.ndarray:
    """`T_coilbody_from_coil` (4x4, mm) from three points (3,) mm in the coil-body frame.

    +y is exactly along (handle - centre); +x is the part of (side - centre) orthogonal to +y
    (negated when side_is_plus_x is False); +z = x cross y. Raises RegistrationError for NaN,
    points closer than MIN_SEPARATION_MM, or handle/side directions within MIN_ANGLE_RAD."""
    c, h, s = (np.asarray(p, dtype=np.float64).reshape(3) for p in (centre, handle, side))
    for name, p in (("centre", c), ("handle", h), ("side", s)):
        if not np.all(np.isfinite(p)):
            raise RegistrationError(f"the coil {name} point holds NaN or infinite coordinates")
    vh, vs = h - c, s - c
    for name, v in (("handle", vh), ("side", vs)):
        if np.linalg.norm(v) < MIN_SEPARATION_MM:
            raise RegistrationError(f"the coil {name} point is within {MIN_SEPARATION_MM:g} mm of the centre; "
                                    f"touch it farther out")
    if np.linalg.norm(h - s) < MIN_SEPARATION_MM:
        raise RegistrationError("the coil handle and side points are too close together")
    cosang = abs(np.dot(vh, vs)) / (np.linalg.norm(vh) * np.linalg.norm(vs))
    if np.arccos(np.clip(cosang, -1.0, 1.0)) < MIN_ANGLE_RAD:
        raise RegistrationError("the coil handle and side points lie (nearly) on one line through the centre; "
                                "touch the side point to the side of the handle direction")
    y = vh / np.linalg.norm(vh)
    x = vs - np.dot(vs, y) * y
    x /= np.linalg.norm(x)
    if not side_is_plus_x:
        x = -x
    z = np.cross(x, y)
    return make_transform(np.column_stack([x, y, z]), c)
