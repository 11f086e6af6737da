"""The pose log: an append-only CSV with one row per body per frame.

Header (exactly):
    frame,time_s,body,visible,tags_seen,tags_total,rms_px,tx_mm,ty_mm,tz_mm,qw,qx,qy,qz

- frame: frame number (int); time_s: the capture time (monotonic clock) written exactly from
  the integer nanoseconds as "<s>.<9 digits>", and parsed back to the same integer.
- body: body name; visible: 1 or 0; tags_seen / tags_total: ints; rms_px: float (px) or empty.
- tx_mm..tz_mm, qw..qz: pose of the body in the camera frame (T_camera_from_body; translation
  in mm, quaternion w, x, y, z). Empty when the body is not visible: an unseen body has no pose.
- Floats are written with repr(), so they read back bit-exactly.

The format carries its version in a first comment line "# navtms pose log, format_version 1".
The writer flushes (and optionally fsyncs) after every frame so a killed process loses at most
the frame it was writing; the reader tolerates a truncated last line for that reason, and
rejects anything else malformed with InputFileError naming the line.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Optional

import numpy as np

from navcore.appendlog import AppendOnlyLog
from navcore.errors import InputFileError
from navcore.transforms import pose_from_transform, transform_from_pose
from tracking.types import BodyPose, Frame

FORMAT_VERSION = 1
VERSION_LINE = f"# navtms pose log, format_version {FORMAT_VERSION}"
COLUMNS = ("frame", "time_s", "body", "visible", "tags_seen", "tags_total", "rms_px",
           "tx_mm", "ty_mm", "tz_mm", "qw", "qx", "qy", "qz")
HEADER = ",".join(COLUMNS)


def format_time_ns(ns: int) -> str:
    """Exact decimal seconds from integer nanoseconds (non-negative): '12.000000345'."""
    ns = int(ns)
    if ns < 0:
        raise ValueError("capture time must be non-negative nanoseconds")
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def parse_time_ns(text: str) -> int:
    """Inverse of format_time_ns: '12.000000345' -> 12000000345. Raises ValueError."""
    s, dot, frac = text.partition(".")
    if not dot or not s.isdigit() or len(frac) != 9 or not frac.isdigit():
        raise ValueError(f"time {text!r} is not seconds with 9 decimals")
    return int(s) * 10**9 + int(frac)


def _check_name(name: str) -> str:
    if not name or any(c in name for c in ',"\r\n') or name != name.strip():
        raise ValueError(f"body name {name!r} cannot be written to a pose log (empty, comma, quote, "
                         "newline or surrounding spaces)")
    return name


def format_row(pose: BodyPose) -> str:
    """One CSV line (no newline) for a BodyPose."""
    fields = [str(int(pose.frame_number)), format_time_ns(pose.capture_ns), _check_name(pose.body),
              "1" if pose.visible else "0", str(int(pose.tags_seen)), str(int(pose.tags_total)),
              "" if pose.rms_px is None or math.isnan(pose.rms_px) else repr(float(pose.rms_px))]
    if pose.visible:
        t, q = pose_from_transform(pose.T_camera_from_body)
        fields += [repr(float(v)) for v in t] + [repr(float(v)) for v in q]
    else:
        fields += [""] * 7
    return ",".join(fields)


class PoseLogWriter(AppendOnlyLog):
    """Appends rows to a pose log, one frame at a time, flushed per frame.

    A new file gets the version line and header; an existing file must already be a pose log
    (its header is checked) and is appended to, never truncated. fsync=True also forces the rows
    to disk after each frame (survives a power cut, slower)."""

    def __init__(self, path: str | Path, fsync: bool = False):
        path = Path(path)
        if not path.parent.is_dir():
            raise InputFileError(path, "the pose log's folder does not exist")
        exists = path.exists() and path.stat().st_size > 0
        half_line = False
        if exists:
            _read_header(path)
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                half_line = r.read(1) != b"\n"
        super().__init__(path, "the pose log", "the frames before", fsync)
        # A killed writer may have left half a line: finish it so new rows start clean; the
        # reader then reports that line, never merges it into a new row.
        self.append(("\n" if half_line else "") if exists else VERSION_LINE + "\n" + HEADER + "\n")

    def write_frame(self, poses: Iterable[BodyPose] | Mapping[str, BodyPose]) -> None:
        """Append the rows of one frame (one per body) and flush them."""
        if isinstance(poses, Mapping):
            poses = poses.values()
        self.append("".join(format_row(p) + "\n" for p in poses))


def _read_header(path: Path) -> None:
    with open(path, "r", encoding="utf-8", newline="") as f:
        first = f.readline().rstrip("\r\n")
        second = f.readline().rstrip("\r\n")
    if not first.startswith("# navtms pose log"):
        raise InputFileError(path, "line 1 is not a navtms pose log version line")
    try:
        ver = int(first.rsplit("format_version", 1)[1])
    except (IndexError, ValueError):
        raise InputFileError(path, "line 1 of the pose log has no format_version") from None
    if ver != FORMAT_VERSION:
        raise InputFileError(path, f"the pose log has format_version {ver}; this navtms reads [{FORMAT_VERSION}]")
    if second != HEADER:
        raise InputFileError(path, f"line 2 of the pose log is not the header '{HEADER}'")


def _float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"{text!r} is not finite")
    return v


def parse_row(line: str) -> BodyPose:
    """A BodyPose from one CSV line; raises ValueError describing the problem."""
    parts = line.split(",")
    if len(parts) != len(COLUMNS):
        raise ValueError(f"has {len(parts)} fields, expected {len(COLUMNS)}")
    frame_s, time_s, body, vis, seen, total, rms = parts[:7]
    pose_f = parts[7:]
    if not frame_s.isdigit():
        raise ValueError(f"frame {frame_s!r} is not a whole number")
    ns = parse_time_ns(time_s)
    _check_name(body)
    if vis not in ("0", "1"):
        raise ValueError(f"visible {vis!r} is not 0 or 1")
    if not seen.isdigit() or not total.isdigit():
        raise ValueError("tags_seen and tags_total must be whole numbers")
    rms_px = math.nan if rms == "" else _float(rms)
    if vis == "1":
        if any(v == "" for v in pose_f):
            raise ValueError("a visible body has empty pose fields")
        vals = np.array([_float(v) for v in pose_f])
        q = vals[3:]
        if abs(np.linalg.norm(q) - 1.0) > 1e-6:
            raise ValueError("the quaternion is not of unit length")
        T = transform_from_pose(vals[:3], q)
        return BodyPose(body, int(frame_s), ns, True, T, int(seen), int(total), rms_px)
    if any(v != "" for v in pose_f):
        raise ValueError("a body that is not visible has pose fields")
    return BodyPose(body, int(frame_s), ns, False, None, int(seen), int(total), rms_px)


def _open_rows(path: Path):
    if not path.exists():
        raise InputFileError(path, "the pose log does not exist")
    if path.is_dir():
        raise InputFileError(path, "the pose log is a folder, not a file")
    try:
        _read_header(path)
    except UnicodeDecodeError:
        raise InputFileError(path, "the pose log is not UTF-8 text") from None
    return open(path, "r", encoding="utf-8", newline="")


def _iter_rows(path: Path, partial: list) -> Iterator[BodyPose]:
    """Rows of a pose log. A last line without its newline (a writer killed mid-row) is never
    trusted: it is not yielded, and `partial` gets its frame number (or -1 if unknown)."""
    with _open_rows(path) as f:
        f.readline()
        f.readline()
        lineno = 2
        try:
            for line in f:
                lineno += 1
                if not line.endswith("\n"):
                    head = line.split(",", 1)
                    partial.append(int(head[0]) if len(head) == 2 and head[0].isdigit() else -1)
                    return
                line = line.rstrip("\r\n")
                if line == "":
                    # What a writer leaves when it resumes after completing a truncated row.
                    continue
                try:
                    pose = parse_row(line)
                except ValueError as e:
                    raise InputFileError(path, f"line {lineno} of the pose log is malformed: {e}") from None
                yield pose
        except UnicodeDecodeError:
            raise InputFileError(path, f"line {lineno} of the pose log is not UTF-8 text") from None


def read_rows(path: str | Path) -> Iterator[BodyPose]:
    """Yield every complete BodyPose row of a pose log in file order.

    A last line without its newline (a writer killed mid-row) is dropped; any other bad line
    raises InputFileError naming the line number."""
    yield from _iter_rows(Path(path), [])


def read_frames(path: str | Path) -> Iterator[Frame]:
    """Yield one Frame per frame number (image None, `poses` set: body -> BodyPose), in order.

    A frame's rows must be consecutive; a frame whose rows disagree on the time is malformed.
    When the file ends in a truncated row (a killed writer), the frame that row belongs to is
    dropped whole, as it may be missing bodies: at most the last frame is lost."""
    path = Path(path)
    current: Optional[int] = None
    ns = 0
    poses: dict[str, BodyPose] = {}
    seen_frames: set[int] = set()
    partial: list = []
    for pose in _iter_rows(path, partial):
        if pose.frame_number != current:
            if current is not None:
                yield Frame(current, ns, None, poses)
            if pose.frame_number in seen_frames:
                raise InputFileError(path, f"frame {pose.frame_number} appears twice, apart, in the pose log")
            current, ns, poses = pose.frame_number, pose.capture_ns, {}
            seen_frames.add(current)
        elif pose.capture_ns != ns:
            raise InputFileError(path, f"frame {current} has rows with different times in the pose log")
        if pose.body in poses:
            raise InputFileError(path, f"body {pose.body!r} appears twice in frame {current} of the pose log")
        poses[pose.body] = pose
    if current is not None and not (partial and partial[0] in (current, -1)):
        yield Frame(current, ns, None, poses)


def write_log(path: str | Path, frames: Iterable[Iterable[BodyPose] | Mapping[str, BodyPose]],
              fsync: bool = False) -> Path:
    """Write a whole pose log (new file) from an iterable of frames' poses. Returns the path."""
    path = Path(path)
    if path.exists():
        raise InputFileError(path, "the pose log already exists; it is never overwritten")
    with PoseLogWriter(path, fsync=fsync) as w:
        for poses in frames:
            w.write_frame(poses)
    return path
