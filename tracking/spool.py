"""The frame spool: a fixed-size ring file of raw images that a killed background recorder
leaves behind, so its replay loses at most the frame being written.

A background Recorder (tracking.recorder) encodes images on a worker thread, behind the live
loop. So that a frame the loop handed over is on disk before its index row and pose rows are
written, write() first copies the raw image into a slot of `frames.spool` in the recording
folder (plain buffered writes: the data is in the OS page cache when write() returns, and a
killed process does not lose the page cache; fsync=True also forces it to disk), then writes
the rows. The worker reads the image back from its slot and encodes it into the video; the slot
is reused only after its frame is in the video, so every frame whose rows exist is in the video
or in the spool. close() removes the spool once the video is complete.

Layout (little-endian; described by the recording index's "spool" object
{file, slots, slot_bytes, header_bytes}): `slots` slots of `slot_bytes` bytes each (a multiple
of 4096), slot = index % slots. A slot is a 32-byte header
    magic b"NAVTMSP1", frame index (int64, -1 while the slot is being written),
    frame number (int64), capture time (int64 ns)
followed by the raw image (H x W x channels uint8, C order, as recorded). A slot is rewritten
in three steps: header marked invalid, image, header with the new index. So a slot whose header
names a frame always holds that frame's whole image, and a slot cut by a kill names no frame.
Replay takes a frame from the spool only when its slot's header matches the frame's index,
frame number and capture time in frames.csv; a stale slot (an older frame) is not that frame.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import struct
from pathlib import Path
from typing import Optional

import numpy as np

from navcore.errors import FileWriteError

SPOOL_FILE = "frames.spool"
MAGIC = b"NAVTMSP1"
HEADER = struct.Struct("<8sqqq")   # magic, frame index, frame number, capture_ns
PAGE = 4096
_INVALID = HEADER.pack(MAGIC, -1, -1, -1)


@dataclasses.dataclass(frozen=True)
class SpoolLayout:
    """slots: ring length; slot_bytes: bytes per slot (header + image, rounded up to 4096);
    shape: the image shape (H, W) gray or (H, W, 3) BGR, uint8."""
    slots: int
    slot_bytes: int
    shape: tuple[int, ...]

    @staticmethod
    def for_images(slots: int, size: tuple[int, int], channels: int) -> "SpoolLayout":
        """The layout for `slots` images of size (width, height) with 1 or 3 channels."""
        shape = (size[1], size[0]) if channels == 1 else (size[1], size[0], 3)
        need = HEADER.size + int(np.prod(shape))
        return SpoolLayout(int(slots), -(-need // PAGE) * PAGE, shape)

    @property
    def image_bytes(self) -> int:
        return int(np.prod(self.shape))

    def to_index(self) -> dict:
        """The recording index's "spool" object."""
        return {"file": SPOOL_FILE, "slots": self.slots, "slot_bytes": self.slot_bytes, "header_bytes": HEADER.size}

    @staticmethod
    def from_index(obj, size: tuple[int, int], channels: int) -> Optional["SpoolLayout"]:
        """The layout a recording index's "spool" object describes for images of `size` and
        `channels`, or None when it is not a spool this navtms writes (replay refuses such an index)."""
        if not isinstance(obj, dict) or obj.get("file") != SPOOL_FILE or obj.get("header_bytes") != HEADER.size:
            return None
        slots, slot_bytes = obj.get("slots"), obj.get("slot_bytes")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (slots, slot_bytes)):
            return None
        layout = SpoolLayout.for_images(slots, size, channels)
        return layout if layout.slot_bytes == slot_bytes else None

    def offset(self, index: int) -> int:
        return (index % self.slots) * self.slot_bytes


class SpoolWriter:
    """Creates the spool file (never overwrites one) and writes or reads back its slots.
    put() is the recorder's caller-thread side, read() the encoder worker's; a slot is never
    put() and read() at once (the recorder's slot count sees to it)."""

    def __init__(self, path: str | Path, layout: SpoolLayout, fsync: bool = False):
        self.path, self.layout, self.fsync = Path(path), layout, fsync
        self._fd: Optional[int] = None
        size = layout.slots * layout.slot_bytes
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
            try:   # reserve the disk space now: a full disk is reported at the first frame, not later
                os.posix_fallocate(self._fd, 0, size)
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                os.ftruncate(self._fd, size)   # a file system without fallocate: a sparse file
        except OSError as e:
            if self._fd is not None:
                os.close(self._fd)
                self.path.unlink(missing_ok=True)
            raise FileWriteError(self.path, f"the frame spool ({layout.slots} frames, {size / 2**20:.0f} MiB) "
                                            f"cannot be created ({e.strerror or e})", e.errno) from e

    def put(self, index: int, frame_number: int, capture_ns: int, image: np.ndarray) -> None:
        """Write frame `index`'s image into its slot: invalid header, image, header (see the
        module docstring). The image must have the layout's shape (uint8)."""
        off = self.layout.offset(index)
        data = memoryview(np.ascontiguousarray(image)).cast("B")
        try:
            os.pwrite(self._fd, _INVALID, off)
            done = 0
            while done < len(data):   # pwrite may write less than asked (signals, huge sizes)
                done += os.pwrite(self._fd, data[done:], off + HEADER.size + done)
            os.pwrite(self._fd, HEADER.pack(MAGIC, index, frame_number, capture_ns), off)
            if self.fsync:
                os.fdatasync(self._fd)
        except OSError as e:
            raise FileWriteError(self.path, f"frame {index} cannot be written to the frame spool "
                                            f"({e.strerror or e}); the frames before are kept", e.errno) from e

    def read(self, index: int, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Frame `index`'s image from its slot (into `out` when given, of the layout's shape)."""
        if out is None:
            out = np.empty(self.layout.shape, np.uint8)
        view = memoryview(out).cast("B")
        off = self.layout.offset(index) + HEADER.size
        done = 0
        while done < len(view):
            n = os.preadv(self._fd, [view[done:]], off + done)
            if n <= 0:
                raise OSError(f"{self.path}: the frame spool ends inside frame {index}")
            done += n
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Close and delete the spool (the video holds every frame)."""
        self.close()
        self.path.unlink(missing_ok=True)


class SpoolReader:
    """Reads frames back from a spool left by a killed recorder; a missing or short spool file
    simply holds no frames."""

    def __init__(self, path: str | Path, layout: SpoolLayout):
        self.path, self.layout = Path(path), layout
        try:
            self._f = open(self.path, "rb")
        except OSError:
            self._f = None

    def read(self, index: int, frame_number: int, capture_ns: int) -> Optional[np.ndarray]:
        """Frame `index`'s image if its slot holds that frame (header index, frame number and
        capture time all match), else None (a stale or half-written slot, or no spool)."""
        if self._f is None:
            return None
        self._f.seek(self.layout.offset(index))
        head = self._f.read(HEADER.size)
        if len(head) != HEADER.size or HEADER.unpack(head) != (MAGIC, index, frame_number, capture_ns):
            return None
        image = np.empty(self.layout.shape, np.uint8)
        if self._f.readinto(memoryview(image).cast("B")) != self.layout.image_bytes:
            return None
        return image

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
