"""Record frames and poses to a folder, and replay that folder as a frame source, bit-exact.

A recording is a folder:
    recording.json  index (format_version 1): created_utc, video {kind, file}, image_size,
                    channels, fps (nominal), camera (CameraModel dict or null), bodies,
                    frame_count, complete, meta, and while a background recorder runs,
                    spool {file, slots, slot_bytes, header_bytes}. Written at start (complete
                    false) and rewritten atomically at close with the final frame_count.
    frames.avi      images, lossless FFV1 in AVI written through PyAV (tracking.ffv1), or
    frames/         000000.png, 000001.png, ... (lossless PNG; kind "png"), written atomically.
    frames.spool    background recording only, removed at close: the raw images not yet
                    encoded, in a ring of max_queue + 1 slots (tracking.spool).
    frames.csv      frame index, one row per frame in write order: "index,frame,time_s"
                    (time_s exact from capture_ns as in the pose log), flushed per frame.
    poses.csv       the pose log (tracking.poselog), flushed per frame.

Per frame the image is written first and is in a file before the frame's index row and pose
rows are written, so a killed recorder leaves a consistent prefix and loses at most the frame
it was writing: replay stops at the first frame missing from any of the three. Written in the
caller's thread, the image goes straight into the video (tracking.ffv1 flushes each frame) or
its PNG (renamed into place). With background=True, write() puts the raw image into the frame
spool and then writes the rows, and a worker thread encodes the video from the spool behind the
caller; a spool slot is reused only once its frame is in the video, so every frame with rows is
in the video or the spool (replay takes it from the spool when the video stops short of it).
A recording killed before its first frame was complete replays as empty. FFV1 goes in AVI
because an AVI cut by a kill still reads up to its last whole frame (a cut packet is dropped).
Images: (H, W, 3) BGR uint8 or (H, W) gray uint8, replayed identically.
Replay: tracking.recording_source.RecordingSource (also importable from here).
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

from navcore.errors import InputFileError, TrackingError
from navcore.fileio import atomic_write_bytes, write_json
from tracking import ffv1, poselog
from tracking.camera import CameraModel
from tracking.recording_source import (FRAME_INDEX_HEADER, FRAME_INDEX_VERSION_LINE, FRAMES_CSV,  # noqa: F401
                                       INDEX_NAME, PNG_DIR, POSES_CSV, VIDEO_FILE, RecordingSource,
                                       read_frame_index)
from tracking.spool import SPOOL_FILE, SpoolLayout, SpoolWriter
from tracking.types import BodyPose, Frame


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
    encoding costs 13 ms of CPU per 640x480 frame, 75 ms at 1920x1080; see `navtms bench
    recording`): write() copies the raw image into the frame spool (tracking.spool; fsync=True
    forces it to disk too) and writes the frame's index row and pose rows, the worker encodes
    the image from the spool. A killed background recorder thus loses at most the frame being
    written, like one writing in the caller's thread. write() waits only when the encoder is
    `max_queue` frames behind (the spool has max_queue + 1 slots; frames are never dropped)."""

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
        self._queue: Optional[queue.SimpleQueue] = None
        self._thread: Optional[threading.Thread] = None
        self._spool: Optional[SpoolWriter] = None          # background with images: set at the first image
        self._spool_slots = max(1, int(max_queue)) + 1
        self._free_slots = threading.Semaphore(self._spool_slots)   # slots whose frame is in the video
        if background:
            self._queue = queue.SimpleQueue()   # frame indices; bounded by the spool's slots
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
        spool = {} if self._spool is None else {"spool": self._spool.layout.to_index()}
        write_json(self.folder / INDEX_NAME, {
            "created_utc": self.created_utc, "video": video,
            "image_size": None if self.image_size is None else list(self.image_size),
            "channels": self.channels, "fps": self.fps,
            "camera": None if self.camera is None else self.camera.to_dict(),
            "bodies": self.bodies or [], "frame_count": self.frame_count, "complete": complete,
            "frames_csv": FRAMES_CSV, "pose_log": POSES_CSV, "meta": self.meta, **spool,
        }, format_version=1)

    def _check_image(self, image: np.ndarray) -> None:
        """Refuse an image that does not fit the recording; set the recording up on the first."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise TrackingError(f"frame {self.frame_count}: only (H, W, 3) BGR or (H, W) gray uint8 images can be recorded")
        size = (image.shape[1], image.shape[0])
        channels = 1 if image.ndim == 2 else 3
        if self.image_size is None:
            if self._queue is not None:   # the spool exists before the index names it
                self._spool = SpoolWriter(self.folder / SPOOL_FILE, SpoolLayout.for_images(self._spool_slots, size, channels),
                                          fsync=self.fsync)
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
        """The background worker: encodes the spooled frames in order, then frees their slots."""
        image = None
        while True:
            index = self._queue.get()
            if index is None:
                return
            try:
                if self._error is None:
                    image = self._spool.read(index, image)
                    self._encode(index, image)
            except BaseException as e:  # reported by the next write() or close()
                self._error = e
            finally:
                self._free_slots.release()

    def _write_rows(self, index: int, frame_number: int, capture_ns: int, poses: list) -> None:
        """The frame's index row, then its pose rows, each flushed (after its image is in a file)."""
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
        if self._spool is not None:
            self._free_slots.acquire()   # waits only when the encoder is max_queue frames behind
            queued = False
            try:
                self._spool.put(self.frame_count, rows[0], rows[1], frame.image)
                self._write_rows(self.frame_count, *rows)
                self._queue.put(self.frame_count)
                queued = True
            finally:
                if not queued:
                    self._free_slots.release()
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
        if self._spool is not None:
            if self._error is None:   # every frame is in the video: the spool goes
                self._spool.remove()
                self._spool = None
            else:                     # kept (and named by the index): replay takes the frames from it
                self._spool.close()
        self._write_index(complete=self._error is None)
        self._raise_worker_error()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
