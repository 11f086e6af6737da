"""Frame sources: live camera, video file, image folder, pose-log replay; one interface.

Every source yields tracking.types.Frame with `frame_number` (0, 1, ... for image sources; the
recorded number on replay) and `capture_ns` (nanoseconds: time.monotonic_ns() at grab for a
live camera; derived from the frame index and fps for files, so replay is deterministic; the
recorded time for a pose log). Images are (H, W, 3) BGR uint8 as OpenCV reads them.

All sources: read() -> Frame | None (None at the end), close(), context manager, iteration.
realtime=False delivers frames as fast as they are asked for; realtime=True paces them to
their capture times on time.monotonic (sleeping, never busy-waiting). A live camera is
realtime by nature.

Opening a source from a text spec (`camera:0`, `video:FILE`, `replay:DIR`, `igtl:HOST:PORT`,
...) is navigation.sources.open_source, which knows every kind (tracking.recorder's recordings
and igtl.source's streams too) without an import cycle.
"""
from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

from navcore.errors import InputFileError, TrackingError
from tracking.types import Frame

# FFmpeg inside OpenCV logs its own lines ("moov atom not found", "slice CRC mismatch") to stderr
# before navtms can say one clear sentence; silence it (read when OpenCV first opens a video;
# set OPENCV_FFMPEG_LOGLEVEL yourself to see them).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_FPS = 30.0


class SourceFileError(InputFileError, TrackingError):
    """A file-backed source (video, image folder, pose log) is missing, unreadable or broken.
    Both an InputFileError (names the file) and a TrackingError (a frame-source problem)."""


class Pacer:
    """Sleeps so that frames come out at their recorded times (monotonic clock).

    The first paced frame is delivered at once; frame k waits until
    start + (capture_ns_k - capture_ns_first). Uses time.sleep (no busy wait)."""

    def __init__(self) -> None:
        self._t0: Optional[int] = None
        self._ns0 = 0

    def wait(self, capture_ns: int) -> None:
        now = time.monotonic_ns()
        if self._t0 is None:
            self._t0, self._ns0 = now, capture_ns
            return
        due = self._t0 + (capture_ns - self._ns0)
        if due > now:
            time.sleep((due - now) / 1e9)


class BaseSource:
    """Common plumbing: pacing, context manager, iteration, closed state."""

    realtime: bool = False

    def __init__(self, realtime: bool = False) -> None:
        self.realtime = bool(realtime)
        self._pacer = Pacer()
        self._closed = False

    def _next(self) -> Optional[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self) -> Optional[Frame]:
        """The next Frame, or None when the source has ended or is closed."""
        if self._closed:
            return None
        frame = self._next()
        if frame is not None and self.realtime:
            self._pacer.wait(frame.capture_ns)
        return frame

    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame


def _ns_from_index(index: int, fps: float) -> int:
    return int(round(index * 1e9 / fps))


class CameraSource(BaseSource):
    """A live camera through cv2.VideoCapture(index), or a device path such as "/dev/video2".

    width/height/fps are requested from the driver; the size actually delivered is in
    `self.image_size` (w, h). capture_ns = time.monotonic_ns() right
    after grab(). Raises TrackingError when the camera cannot be opened, and from read() when it
    stops delivering frames (`max_failures` grabs in a row fail)."""

    def __init__(self, index: int | str = 0, width: Optional[int] = None, height: Optional[int] = None,
                 fps: Optional[float] = None, realtime: bool = True, max_failures: int = 5,
                 api: int = cv2.CAP_ANY) -> None:
        super().__init__(realtime=False)  # live frames are paced by the camera itself
        self.index = index if isinstance(index, str) else int(index)
        self.max_failures = int(max_failures)
        self._cap = cv2.VideoCapture(self.index, api)
        if not self._cap.isOpened():
            self._cap.release()
            raise TrackingError(f"camera {self.index} cannot be opened (no such device, busy, or no permission)")
        if width and height:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, float(fps))
        self.image_size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._n = 0

    def _next(self) -> Optional[Frame]:
        for _ in range(max(1, self.max_failures)):
            if self._cap.grab():
                ns = time.monotonic_ns()
                ok, image = self._cap.retrieve()
                if ok and image is not None:
                    frame = Frame(self._n, ns, image, None, {"source": f"camera:{self.index}"})
                    self._n += 1
                    return frame
        raise TrackingError(f"camera {self.index} stopped delivering frames ({self.max_failures} failed grabs in a row)")

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
        super().close()


class VideoFileSource(BaseSource):
    """Frames of a video file (cv2.VideoCapture on the file).

    capture_ns = round(index * 1e9 / fps) with the file's fps (DEFAULT_FPS when the file has
    none, or `fps` when given), so two replays give identical frames and times. Raises
    SourceFileError when the file is missing, is not a video, has no readable first frame, or
    ends well before the frame count its header declares (truncated)."""

    def __init__(self, path: str | Path, realtime: bool = False, fps: Optional[float] = None,
                 check_length: bool = True) -> None:
        super().__init__(realtime)
        self.path = Path(path)
        if not self.path.exists():
            raise SourceFileError(self.path, "the video file does not exist")
        if self.path.is_dir():
            raise SourceFileError(self.path, "the video file is a folder")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceFileError(self.path, "the file cannot be opened as a video (corrupt, truncated or an unknown format)")
        file_fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps else (file_fps if file_fps and math.isfinite(file_fps) and file_fps > 0 else DEFAULT_FPS)
        declared = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.declared_frames = int(declared) if declared and declared > 0 else None
        self.check_length = check_length
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceFileError(self.path, "the video has no readable first frame (corrupt or truncated)")
        self.image_size = (first.shape[1], first.shape[0])
        self._pending: Optional[np.ndarray] = first
        self._n = 0

    def _next(self) -> Optional[Frame]:
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            ok, image = self._cap.read()
            if not ok or image is None:
                self._check_end()
                return None
        if (image.shape[1], image.shape[0]) != self.image_size:
            raise SourceFileError(self.path, f"frame {self._n} of the video is {image.shape[1]}x{image.shape[0]}, "
                                             f"not {self.image_size[0]}x{self.image_size[1]} like the first")
        frame = Frame(self._n, _ns_from_index(self._n, self.fps), image, None, {"source": f"video:{self.path}"})
        self._n += 1
        return frame

    def _check_end(self) -> None:
        self.close()
        if self.check_length and self.declared_frames:
            # Containers may estimate the count (off by one); more missing means lost data.
            slack = max(1, round(0.01 * self.declared_frames))
            if self._n < self.declared_frames - slack:
                raise SourceFileError(self.path, f"the video ends after {self._n} of the {self.declared_frames} frames its "
                                                 "header declares (truncated or corrupt)")

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
        super().close()


class ImageFolderSource(BaseSource):
    """The PNG/JPG images of a folder in sorted file-name order, one frame each.

    capture_ns = round(index * 1e9 / fps). Raises SourceFileError for a missing or empty folder,
    an unreadable image, or an image whose size differs from the first."""

    def __init__(self, folder: str | Path, realtime: bool = False, fps: float = DEFAULT_FPS) -> None:
        super().__init__(realtime)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceFileError(self.folder, "the image folder does not exist")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise SourceFileError(self.folder, "the image folder holds no .png or .jpg images")
        if not fps or fps <= 0:
            raise TrackingError(f"frame rate must be positive, not {fps}")
        self.fps = float(fps)
        self.image_size: Optional[tuple[int, int]] = None
        self._n = 0

    def _next(self) -> Optional[Frame]:
        if self._n >= len(self.files):
            return None
        path = self.files[self._n]
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SourceFileError(path, "the image cannot be read (corrupt or not an image)")
        if image.dtype != np.uint8:  # e.g. a 16-bit PNG: the marker detector takes 8-bit images only
            raise SourceFileError(path, f"the image has {image.dtype.itemsize * 8}-bit samples; "
                                        "navtms reads 8-bit images (convert the folder to 8-bit PNG)")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        size = (image.shape[1], image.shape[0])
        if self.image_size is None:
            self.image_size = size
        elif size != self.image_size:
            raise SourceFileError(path, f"the image is {size[0]}x{size[1]}, not {self.image_size[0]}x{self.image_size[1]} "
                                        "like the first image of the folder")
        frame = Frame(self._n, _ns_from_index(self._n, self.fps), image, None, {"source": f"images:{self.folder}", "file": str(path)})
        self._n += 1
        return frame


class PoseLogSource(BaseSource):
    """Replays a pose log (tracking.poselog): frames with image None and `poses` set, with the
    recorded frame numbers and capture times. Malformed logs raise InputFileError naming the line."""

    def __init__(self, path: str | Path, realtime: bool = False) -> None:
        super().__init__(realtime)
        from tracking import poselog

        self.path = Path(path)
        if not self.path.is_file():
            raise SourceFileError(self.path, "the pose log does not exist")
        self._frames = poselog.read_frames(self.path)
        # The reading thread advances the generator while another thread may close the source:
        # one lock, so close() never meets the generator mid-step ("generator already executing").
        self._frames_lock = threading.Lock()
        # Read the first frame now, so a file that is not a pose log is refused when opened.
        self._first: Optional[Frame] = next(self._frames, None)

    def _next(self) -> Optional[Frame]:
        with self._frames_lock:
            frame, self._first = (self._first, None) if self._first is not None else (next(self._frames, None), None)
        if frame is None:
            return None
        return Frame(frame.frame_number, frame.capture_ns, None, frame.poses, {"source": f"poses:{self.path}"})

    def close(self) -> None:
        if not self._closed:
            with self._frames_lock:
                self._frames.close()
        super().close()
