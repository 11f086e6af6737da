"""Lossless FFV1 video in AVI, each frame on disk when write() returns (PyAV / FFmpeg).

Why not cv2.VideoWriter: it gives no control over FFmpeg's I/O buffer, so after a SIGKILL the
frame handed over last (and part of the one before) may still sit in memory: a recording then
replays two frames fewer than its pose log. Here every frame is encoded at once (FFV1 is
intra-only; one encoder thread, so no frame delay), muxed, and the muxer's I/O is flushed after
each packet (FFmpeg's `flush_packets`), so the frame is in the file (the OS page cache, which
survives the process being killed) before the caller writes the frame's pose rows.

The files are ordinary FFV1-in-AVI (readable by cv2.VideoCapture, FFmpeg, VLC); an AVI cut by
a kill still reads up to its last whole frame. Colour frames are stored as bgr0 and gray as
gray8: both decode back bit-exactly (tested).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import TrackingError

_OK: Optional[bool] = None


def available() -> bool:
    """True when PyAV is installed and writes FFV1 that OpenCV reads back bit-exactly (once)."""
    global _OK
    if _OK is None:
        import tempfile

        import cv2

        try:
            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / "probe.avi"
                img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
                w = FFV1Writer(p, (16, 16), 3, 30.0)
                w.write(img)
                w.close()
                cap = cv2.VideoCapture(str(p))
                got, back = cap.read()
                cap.release()
                _OK = bool(got) and back is not None and np.array_equal(back, img)
        except (ImportError, TrackingError, OSError):
            _OK = False
    return _OK


class FFV1Writer:
    """FFV1-in-AVI writer: size (width, height), channels 3 (BGR uint8) or 1 (gray uint8),
    fps the nominal rate written to the file. write() returns once the frame is in the file."""

    def __init__(self, path: str | Path, size: tuple[int, int], channels: int, fps: float):
        import av

        self.path = Path(path)
        self.size, self.channels = (int(size[0]), int(size[1])), int(channels)
        self._in_format = "bgr24" if self.channels == 3 else "gray"
        try:
            self._container = av.open(str(self.path), "w", format="avi", options={"flush_packets": "1"})
            from fractions import Fraction

            self._stream = self._container.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
            self._stream.width, self._stream.height = self.size
            self._stream.pix_fmt = "bgr0" if self.channels == 3 else "gray"
            self._stream.codec_context.thread_count = 1   # no frame threading: no frame delay
        except (av.FFmpegError, OSError, ValueError) as e:
            raise TrackingError(f"{self.path}: the FFV1 video cannot be created ({e})") from None
        self._pts = 0

    def write(self, image: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self._in_format)
        frame.pts = self._pts
        self._pts += 1
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as e:
            raise TrackingError(f"{self.path}: frame {self._pts - 1} could not be written ({e})") from None

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None
