"""Record frames and poses to a folder, and replay that folder as a frame source, bit-exact.

A recording is a folder:
    recording.json  index (format_version 1): created_utc, video {kind, file}, image_size,
                    channels, fps (nominal), camera (CameraModel dict or null), bodies,
                    frame_count, complete, meta. Written at start (complete false) and
                    rewritten atomically at close with the final frame_count.
    frames.avi      images, lossless FFV1 in AVI written through PyAV (tracking.ffv1), or
    frames/         000000.png, 000001.png, ... (lossless PNG; kind "png"), written atomically.
    frames.csv      frame index, one row per frame in write order: "index,frame,time_s"
                    (time_s exact from capture_ns as in the pose log), flushed per frame.
    poses.csv       the pose log (tracking.poselog), flushed per frame.

Per frame the image is written first and is in the file before the frame's index row and pose
rows are written (the pose row and the frame are durable together: tracking.ffv1 flushes each
frame; PNGs are renamed into place), so a killed recorder leaves a consistent prefix and loses
at most the frame it was writing: replay stops at the first frame missing from any of the
three. A recording killed before its first frame was complete replays as empty. FFV1 goes in
AVI because an AVI cut by a kill still reads up to its last whole frame.
Images: (H, W, 3) BGR uint8 or (H, W) gray uint8, replayed identically.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import Mapping, Optional, Sequence

import cv2
import numpy as np

from tracking import ffv1
from navcore.errors import InputFileError, TrackingError
from navcore.fileio import atomic_write_bytes, read_json, write_json
from tracking import poselog
from tracking.camera import CameraModel
from tracking.sources import SourceFileError, BaseSource
from tracking.types import BodyPose, Frame

INDEX_NAME = "recording.json"
FRAMES_CSV = "frames.csv"
POSES_CSV = "poses.csv"
VIDEO_FILE = "frames.avi"
PNG_DIR = "frames"
FRAME_INDEX_VERSION_LINE = "# navtms frame index, format_version 1"
FRAME_INDEX_HEADER = "index,frame,time_s"

def ffv1_available() -> bool:
    """True when FFV1 video can be written (PyAV) and read back bit-exactly (checked once)."""
    return ffv1.available()


class Recorder:
    """Writes a recording folder (see the module docstring).

    folder must not exist or be empty (a recording is never overwritten). video: "auto" (FFV1
    if available, else PNG), "ffv1" or "png". camera: the CameraModel in use, or None. bodies:
    the body names whose poses are logged, or None to take them from the first frame's poses.
    fsync: also fsync the logs per frame.

    background=True encodes the images on a worker thread so write() returns at once (image
    encoding costs about 15 ms per 640x480 frame; see `navtms bench recording`). The worker
    writes each frame's index row and pose rows right after its image, so the recording stays
    consistent (replay holds every frame of the pose log); write() waits only when the encoder
    is `max_queue` frames behind (frames are never dropped). A killed background recorder loses
    the frames still queued, images and rows together."""

    def __init__(self, folder: str | Path, camera: Optional[CameraModel] = None, bodies: Optional[Sequence[str]] = None,
                 fps: float = 30.0, video: str = "auto", fsync: bool = False, meta: Optional[dict] = None,
                 background: bool = False, max_queue: int = 30):
        self.folder = Path(folder)
        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise InputFileError(self.folder, "the recording folder already exists and is not empty; "
                                              "recordings are never overwritten")
        if not self.folder.parent.is_dir():
            raise InputFileError(self.folder, "the recording folder's parent does not exist")
        if video not in ("auto", "ffv1", "png"):
            raise TrackingError(f"video kind '{video}' is unknown; use auto, ffv1 or png")
        if video == "ffv1" and not ffv1_available():
            raise TrackingError("this OpenCV build cannot write lossless FFV1 video; record with video='png'")
        self.kind = "ffv1" if video == "auto" and ffv1_available() else ("png" if video == "auto" else video)
        final = self.folder
        # The folder appears whole or not at all: index, frame index and pose log headers are
        # made in a temporary folder beside it, which is renamed into place (a kill in between
        # leaves no half-made recording that could not be opened).
        self.folder = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        self.camera = camera
        self.bodies: Optional[list[str]] = None if bodies is None else list(bodies)
        self.fps = float(fps)
        self.fsync = fsync
        self.meta = dict(meta or {})
        self.created_utc = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.frame_count = 0
        self.image_size: Optional[tuple[int, int]] = None
        self.channels: Optional[int] = None
        self._writer: Optional[ffv1.FFV1Writer] = None
        self._index = open(self.folder / FRAMES_CSV, "w", encoding="utf-8", newline="")
        self._index.write(FRAME_INDEX_VERSION_LINE + "\n" + FRAME_INDEX_HEADER + "\n")
        self._index.flush()
        self._poses = poselog.PoseLogWriter(self.folder / POSES_CSV, fsync=fsync)
        self._closed = False
        self._error: Optional[BaseException] = None
        self._queue: Optional[queue.Queue] = None
        self._thread: Optional[threading.Thread] = None
        if background:
            self._queue = queue.Queue(maxsize=max(1, int(max_queue)))
            self._thread = threading.Thread(target=self._encode_loop, name=f"recorder-{final.name}", daemon=True)
            self._thread.start()
        self._write_index(complete=False)
        from navcore.fileio import _UMASK

        os.chmod(self.folder, 0o777 & ~_UMASK)   # as mkdir would make it (mkdtemp gives 0o700)
        os.replace(self.folder, final)   # onto a missing or empty folder
        self.folder = final
        self._poses.path = final / POSES_CSV   # for its messages

    def _write_index(self, complete: bool) -> None:
        video = {"kind": self.kind, "file": VIDEO_FILE if self.kind == "ffv1" else PNG_DIR + "/"}
        write_json(self.folder / INDEX_NAME, {
            "created_utc": self.created_utc, "video": video,
            "image_size": None if self.image_size is None else list(self.image_size),
            "channels": self.channels, "fps": self.fps,
            "camera": None if self.camera is None else self.camera.to_dict(),
            "bodies": self.bodies or [], "frame_count": self.frame_count, "complete": complete,
            "frames_csv": FRAMES_CSV, "pose_log": POSES_CSV, "meta": self.meta,
        }, format_version=1)

    def _check_image(self, image: np.ndarray) -> None:
        """Refuse an image that does not fit the recording; set the recording up on the first."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise TrackingError(f"frame {self.frame_count}: only (H, W, 3) BGR or (H, W) gray uint8 images can be recorded")
        size = (image.shape[1], image.shape[0])
        channels = 1 if image.ndim == 2 else 3
        if self.image_size is None:
            self.image_size, self.channels = size, channels
            self._write_index(complete=False)
            if self.kind == "ffv1":
                self._writer = ffv1.FFV1Writer(self.folder / VIDEO_FILE, size, channels, self.fps)
            else:
                (self.folder / PNG_DIR).mkdir()
        elif (size, channels) != (self.image_size, self.channels):
            raise TrackingError(f"frame {self.frame_count} is {size[0]}x{size[1]}x{channels} but the recording is "
                                f"{self.image_size[0]}x{self.image_size[1]}x{self.channels}")

    def _encode(self, index: int, image: Optional[np.ndarray]) -> None:
        if image is None:
            return
        if self._writer is not None:
            self._writer.write(image)
        else:
            ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            if not ok:
                raise TrackingError(f"frame {index} could not be encoded as PNG")
            atomic_write_bytes(self.folder / PNG_DIR / f"{index:06d}.png", buf.tobytes())

    def _encode_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    self._encode(item[0], item[1])
                    self._write_rows(item[0], *item[2:])
                except BaseException as e:  # reported by the next write() or close()
                    self._error = e

    def _write_rows(self, index: int, frame_number: int, capture_ns: int, poses: list) -> None:
        """The frame's index row, then its pose rows, each flushed (after its image is in the file)."""
        self._index.write(f"{index},{int(frame_number)},{poselog.format_time_ns(capture_ns)}\n")
        self._index.flush()
        if self.fsync:
            os.fsync(self._index.fileno())
        if poses:
            self._poses.write_frame(poses)

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            e = self._error
            raise TrackingError(f"{self.folder}: the recorder's image encoder failed ({e})") from e

    def write(self, frame: Frame, poses: Optional[Mapping[str, BodyPose]] = None) -> None:
        """Record one frame: its image (if any), its index row and its poses (`poses`, else
        frame.poses), which must hold one BodyPose (visible or not) per recorded body. Every
        frame of a recording has an image, or none has."""
        if self._closed:
            raise TrackingError(f"{self.folder}: the recording is closed")
        self._raise_worker_error()
        poses = poses if poses is not None else frame.poses
        names = set(poses or {})
        if self.bodies is None:
            self.bodies = list(poses or {})
            self._write_index(complete=False)
        if names != set(self.bodies):
            raise TrackingError(f"frame {frame.frame_number} has poses for {sorted(names)} but the recording logs "
                                f"{sorted(self.bodies)}; give a pose (visible or not) for every recorded body")
        has_image = frame.image is not None
        if self.frame_count > 0 and has_image != (self.image_size is not None):
            raise TrackingError(f"frame {frame.frame_number}: a recording holds images in every frame or in none")
        if has_image:
            self._check_image(frame.image)
        # A frame's rows carry the frame's number and capture time (a source may stamp its
        # bodies apart, e.g. OpenIGTLink messages arriving one by one; the log keeps one time per frame).
        rows = (int(frame.frame_number), int(frame.capture_ns),
                [dataclasses.replace(poses[b], frame_number=int(frame.frame_number), capture_ns=int(frame.capture_ns))
                 for b in self.bodies] if poses else [])
        if self._queue is not None:
            self._queue.put((self.frame_count, np.array(frame.image, copy=True) if has_image else None) + rows)
        else:
            self._encode(self.frame_count, frame.image)
            self._write_rows(self.frame_count, *rows)
        self.frame_count += 1

    def close(self) -> None:
        """Finish the images (waiting for a background encoder), the video and the logs, and
        rewrite recording.json (complete, frame_count). Raises TrackingError if encoding failed."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._writer is not None:
            self._writer.close()
        self._index.close()
        self._poses.close()
        self._write_index(complete=self._error is None)
        self._raise_worker_error()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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


class RecordingSource(BaseSource):
    """Replays a recording folder: the same images (bit-exact), frame numbers, capture times and
    poses as recorded. A killed recording replays up to its last complete frame."""

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
        self._no_video = False   # an unfinished recording killed before its first image was whole
        if self.info.get("image_size") is not None and self.kind == "ffv1":
            video = self.folder / VIDEO_FILE
            if self.index or self.complete:
                self._cap = cv2.VideoCapture(str(video))
            if self._cap is None or not self._cap.isOpened():
                if self.complete:
                    raise SourceFileError(video, "the recording's video cannot be opened (missing or corrupt)")
                self._cap, self._no_video = None, True
        elif self.info.get("image_size") is not None and self.kind != "png":
            raise SourceFileError(self.folder / INDEX_NAME, f"video kind {self.kind!r} is unknown")
        self._i = 0

    def _image(self, i: int) -> Optional[np.ndarray]:
        if self.info.get("image_size") is None or self._no_video:
            return None
        if self._cap is not None:
            ok, image = self._cap.read()
            if not ok:
                return None
        else:
            image = cv2.imread(str(self.folder / PNG_DIR / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
            if image is None:
                return None
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
        image = self._image(self._i)
        if image is None and self.info.get("image_size") is not None:
            if self.complete:
                raise SourceFileError(self.folder, f"frame {self._i} of the recording's images cannot be read")
            return None  # killed before this frame's image reached the disk
        self._i += 1
        return Frame(frame_number, ns, image, poses, {"source": f"replay:{self.folder}"})

    def close(self) -> None:
        if not self._closed and self._cap is not None:
            self._cap.release()
        super().close()


class LoopRecording:
    """A Recorder fed by the navigation loop (navigation.loop.NavigationLoop): pass `on_frame`
    as the loop's on_frame and this object as (or inside) its pose_log. Each processed frame is
    recorded with its image (if any) and its poses as estimated, before any filter; a body the
    estimator gave no pose for is recorded not visible. Replay it with replay:DIR. also: another
    pose log (tracking.poselog.PoseLogWriter) that gets the same poses first."""

    def __init__(self, recorder: Recorder, also=None):
        self.recorder = recorder
        self.also = also
        self._frame: Optional[Frame] = None

    def on_frame(self, frame: Frame) -> None:
        self._frame = frame

    def write_frame(self, poses: Mapping[str, BodyPose]) -> None:
        if self.also is not None:
            self.also.write_frame(poses)
        f = self._frame
        if f is None:
            return
        names = self.recorder.bodies if self.recorder.bodies is not None else sorted(poses)
        full = {b: poses.get(b) or BodyPose.not_visible(b, f.frame_number, f.capture_ns) for b in names}
        self.recorder.write(f, full)

    def close(self) -> None:
        self.recorder.close()
