"""Replay of a recording folder (tracking.recorder writes it; its docstring gives the format):
RecordingSource, the frame index reader and the names of the folder's files.

Each frame's image comes from the video (frames.avi, read in order) or frames/NNNNNN.png, or,
for the frames a killed background recorder had not yet encoded, from the frame spool
(tracking.spool) when its slot still holds that very frame. Replay stops at the first frame
whose image or pose rows are missing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from navcore.errors import InputFileError
from navcore.fileio import read_json
from tracking import poselog
from tracking.camera import CameraModel
from tracking.sources import BaseSource, SourceFileError
from tracking.spool import SPOOL_FILE, SpoolLayout, SpoolReader
from tracking.types import Frame

INDEX_NAME = "recording.json"
FRAMES_CSV = "frames.csv"
POSES_CSV = "poses.csv"
VIDEO_FILE = "frames.avi"
PNG_DIR = "frames"
FRAME_INDEX_VERSION_LINE = "# navtms frame index, format_version 1"
FRAME_INDEX_HEADER = "index,frame,time_s"


def read_frame_index(path: str | Path) -> list[tuple[int, int]]:
    """[(frame_number, capture_ns)] in write order from frames.csv. A last line without its
    newline (a killed recorder) is dropped; other bad lines raise InputFileError naming them."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "the frame index does not exist")
    try:
        return _read_frame_index(path)
    except UnicodeDecodeError:
        raise InputFileError(path, "the frame index is not UTF-8 text") from None


def _read_frame_index(path: Path) -> list[tuple[int, int]]:
    out = []
    with open(path, "r", encoding="utf-8", newline="") as f:
        if f.readline().rstrip("\n") != FRAME_INDEX_VERSION_LINE:
            raise InputFileError(path, f"line 1 is not '{FRAME_INDEX_VERSION_LINE}'")
        if f.readline().rstrip("\n") != FRAME_INDEX_HEADER:
            raise InputFileError(path, f"line 2 is not the header '{FRAME_INDEX_HEADER}'")
        for lineno, line in enumerate(f, start=3):
            if not line.endswith("\n"):
                break
            parts = line.rstrip("\n").split(",")
            try:
                if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or int(parts[0]) != len(out):
                    raise ValueError
                out.append((int(parts[1]), poselog.parse_time_ns(parts[2])))
            except ValueError:
                raise InputFileError(path, f"line {lineno} of the frame index is malformed") from None
    return out


def _check_index(path: Path, info: dict) -> None:
    """Type checks of recording.json fields; raises SourceFileError naming the field."""
    bodies, video, size = info.get("bodies"), info.get("video"), info.get("image_size")
    if bodies is not None and (not isinstance(bodies, list) or not all(isinstance(b, str) for b in bodies)):
        raise SourceFileError(path, "'bodies' in the recording index must be a list of body names")
    if video is not None and not isinstance(video, dict):
        raise SourceFileError(path, "'video' in the recording index must be an object {kind, file}")
    if size is not None and (not isinstance(size, list) or len(size) != 2
                             or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise SourceFileError(path, "'image_size' in the recording index must be [width, height] or null")
    if info.get("channels") not in (None, 1, 3) or isinstance(info.get("channels"), bool):
        raise SourceFileError(path, "'channels' in the recording index must be 1, 3 or null")
    if info.get("camera") is not None and not isinstance(info.get("camera"), dict):
        raise SourceFileError(path, "'camera' in the recording index must be an object or null")
    if info.get("spool") is not None and (size is None or SpoolLayout.from_index(
            info["spool"], tuple(size), 1 if info.get("channels") == 1 else 3) is None):
        raise SourceFileError(path, "'spool' in the recording index is not a frame spool of the recording's images")


class RecordingSource(BaseSource):
    """Replays a recording folder: the same images (bit-exact), frame numbers, capture times and
    poses as recorded. A killed recording replays up to its last complete frame (images from
    the video, then from the frame spool a killed background recorder left)."""

    def __init__(self, folder: str | Path, realtime: bool = False) -> None:
        super().__init__(realtime)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceFileError(self.folder, "the recording folder does not exist")
        self.info = read_json(self.folder / INDEX_NAME, "recording index")
        _check_index(self.folder / INDEX_NAME, self.info)
        self.index = read_frame_index(self.folder / FRAMES_CSV)
        self.bodies = list(self.info.get("bodies") or [])
        self.complete = bool(self.info.get("complete"))
        self.camera = None
        if self.info.get("camera"):
            c = self.info["camera"]
            try:
                self.camera = CameraModel(tuple(c["image_size"]), np.asarray(c["K"], float), np.asarray(c["dist"], float), c.get("rms_px"))
            except (KeyError, TypeError, ValueError, OverflowError):
                raise SourceFileError(self.folder / INDEX_NAME, "'camera' in the recording index is not a camera "
                                                                "model {image_size, K, dist}") from None
        pose_path = self.folder / POSES_CSV
        self._poses = {f.frame_number: f.poses for f in poselog.read_frames(pose_path)} if pose_path.exists() else {}
        self.kind = (self.info.get("video") or {}).get("kind")
        self.channels = self.info.get("channels")
        self._cap = None
        self._video_done = False   # the video has no more frames (or none: killed before its first)
        size = self.info.get("image_size")
        self._spool = None
        if size is not None and self.info.get("spool") is not None:
            layout = SpoolLayout.from_index(self.info["spool"], tuple(size), 1 if self.channels == 1 else 3)
            self._spool = SpoolReader(self.folder / SPOOL_FILE, layout)
        if size is not None and self.kind == "ffv1":
            video = self.folder / VIDEO_FILE
            if self.index or self.complete:
                self._cap = cv2.VideoCapture(str(video))
            if self._cap is None or not self._cap.isOpened():
                if self.complete:
                    raise SourceFileError(video, "the recording's video cannot be opened (missing or corrupt)")
                self._cap, self._video_done = None, True
        elif size is not None and self.kind != "png":
            raise SourceFileError(self.folder / INDEX_NAME, f"video kind {self.kind!r} is unknown")
        self._i = 0

    def _image(self, i: int, frame_number: int, capture_ns: int) -> Optional[np.ndarray]:
        """Frame i's image: from the video (in order) or its PNG, else from the spool slot that
        still holds this very frame, else None (missing)."""
        if self.info.get("image_size") is None:
            return None
        image = None
        if self.kind == "png":
            png = self.folder / PNG_DIR / f"{i:06d}.png"
            image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED) if png.is_file() else None  # (imread warns on stderr)
        elif not self._video_done:
            ok, image = self._cap.read()
            if not ok:
                image, self._video_done = None, True   # the video stops short: the rest is spooled or missing
        if image is None:
            return None if self._spool is None else self._spool.read(i, frame_number, capture_ns)
        if self.channels == 1 and image.ndim == 3:
            image = image[:, :, 0].copy()
        return image

    def _next(self) -> Optional[Frame]:
        if self._i >= len(self.index):
            return None
        frame_number, ns = self.index[self._i]
        poses = self._poses.get(frame_number)
        if self.bodies and poses is None:
            return None  # killed before this frame's poses were written
        image = self._image(self._i, frame_number, ns)
        if image is None and self.info.get("image_size") is not None:
            if self.complete:
                raise SourceFileError(self.folder, f"frame {self._i} of the recording's images cannot be read")
            return None  # killed before this frame's image reached the disk
        self._i += 1
        return Frame(frame_number, ns, image, poses, {"source": f"replay:{self.folder}"})

    def close(self) -> None:
        if not self._closed and self._cap is not None:
            self._cap.release()
        if self._spool is not None:
            self._spool.close()
        super().close()


