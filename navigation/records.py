"""Row layouts of the navigation logs: frames.csv (one row per frame) and timing.csv.

frames.csv columns (deterministic: a replay of the same recording writes the same bytes):
    frame, time_s (capture time, exact s), target_index, target, coil_visible, head_visible,
    visible (coil pose available), on_target, stale, distance_mm, offset_x_mm, offset_y_mm,
    offset_z_mm (in the planned coil frame), tilt_deg, twist_deg, depth_mm, axis_miss_mm,
    tx_mm, ty_mm, tz_mm, qw, qx, qy, qz (live T_mri_from_coil; empty when not visible).
timing.csv columns (wall-clock figures, differ run to run):
    frame, latency_us (frame entered the loop -> errors), pose_age_us, dropped_before
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from navcore.transforms import pose_from_transform
from targets.alignment import Alignment
from tracking.poselog import format_time_ns

ERROR_COLUMNS = ("distance_mm", "offset_x_mm", "offset_y_mm", "offset_z_mm", "tilt_deg", "twist_deg",
                 "depth_mm", "axis_miss_mm")
POSE_COLUMNS = ("tx_mm", "ty_mm", "tz_mm", "qw", "qx", "qy", "qz")
FRAME_COLUMNS = ("frame", "time_s", "target_index", "target", "coil_visible", "head_visible", "visible",
                 "on_target", "stale") + ERROR_COLUMNS + POSE_COLUMNS
TIMING_COLUMNS = ("frame", "latency_us", "pose_age_us", "dropped_before")


def error_fields(a: Optional[Alignment]) -> dict:
    """Error columns (mm, deg) of an Alignment; empty when None."""
    return {} if a is None else a.as_dict()


def pose_fields(T: Optional[np.ndarray]) -> dict:
    """Pose columns (translation mm, quaternion w,x,y,z) of a 4x4; empty when None."""
    if T is None:
        return {}
    t, q = pose_from_transform(T)
    return dict(zip(POSE_COLUMNS, [float(v) for v in t] + [float(v) for v in q]))


def frame_row(out) -> dict:
    """frames.csv row of a navigator.NavOutput."""
    row = {"frame": out.frame_number, "time_s": format_time_ns(out.capture_ns),
           "target_index": out.target_index, "target": out.target_name,
           "coil_visible": out.coil_visible, "head_visible": out.head_visible,
           "visible": out.T_mri_from_coil is not None, "on_target": out.on_target, "stale": out.stale}
    row.update(error_fields(out.errors))
    row.update(pose_fields(out.T_mri_from_coil))
    return row


def timing_row(out, dropped_before: int = 0) -> dict:
    return {"frame": out.frame_number, "latency_us": out.latency_ns / 1000.0,
            "pose_age_us": out.pose_age_ns / 1000.0, "dropped_before": int(dropped_before)}
