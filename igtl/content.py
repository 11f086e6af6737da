"""OpenIGTLink message contents navtms speaks: pack and strictly unpack TRANSFORM, POINT,
STRING, STATUS and TDATA, and whole messages of each (framing: igtl.protocol).

Content formats (all big-endian):
    TRANSFORM 12 float32: the 3x3 rotation column by column, then the translation (mm).
    POINT     136 bytes per point: name char[64], group char[32], rgba uint8[4],
              x y z float32 (mm), diameter float32 (mm), owner char[20].
    STRING    uint16 IANA encoding (3 = US-ASCII, 106 = UTF-8), uint16 length, bytes.
    STATUS    uint16 code (1 = OK), int64 subcode, char[20] error name, NUL-terminated text.
    TDATA     70 bytes per tool: name char[20], uint8 type, uint8 reserved, 12 float32 as in
              TRANSFORM; tools that are not visible are left out. STT_TDATA (start the push):
              uint32 resolution (ms between frames, 0 = as fast as possible), char[32] frame.

Everything read is validated; any problem raises IGTLProtocolError (a navcore TrackingError).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from igtl.protocol import (ENCODING_ASCII, ENCODING_UTF8, IGTLProtocolError, pack_fixed, pack_message,
                           unpack_fixed)

STATUS_OK = 1
STATUS_NOT_FOUND = 4
POINT_ITEM_SIZE = 136
TDATA_ITEM_SIZE = 70
TDATA_6D = 2

_TRANSFORM = struct.Struct(">12f")
_POINT = struct.Struct(">64s32s4B4f20s")
_STATUS = struct.Struct(">Hq20s")
_TDATA = struct.Struct(">20sBB12f")
_STT_TDATA = struct.Struct(">I32s")


@dataclass(frozen=True)
class Point:
    """One POINT element: position (3,) in mm in the sender's frame, diameter in mm."""

    name: str
    position: np.ndarray
    group: str = ""
    rgba: tuple[int, int, int, int] = (255, 255, 0, 255)
    diameter: float = 0.0
    owner: str = ""


@dataclass(frozen=True)
class Status:
    code: int
    subcode: int
    error_name: str
    text: str


# ---- content: TRANSFORM -------------------------------------------------------------------

def transform_content(T: np.ndarray) -> bytes:
    """TRANSFORM content from a 4x4 (mm): rotation column-major, then translation, float32."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise IGTLProtocolError(f"an OpenIGTLink TRANSFORM needs a 4x4 matrix, not shape {T.shape}")
    return _TRANSFORM.pack(*T[:3, :3].T.reshape(9), *T[:3, 3])


def transform_from_content(content: bytes) -> np.ndarray:
    """4x4 float64 (mm) from TRANSFORM content; the values may be NaN (check before use)."""
    if len(content) != _TRANSFORM.size:
        raise IGTLProtocolError(f"OpenIGTLink TRANSFORM content is {len(content)} bytes, not 48")
    v = np.array(_TRANSFORM.unpack(content), dtype=np.float64)
    T = np.eye(4)
    T[:3, :3] = v[:9].reshape(3, 3).T
    T[:3, 3] = v[9:]
    return T


def pack_transform(device: str, T: np.ndarray, timestamp_s: float = 0.0, version: int = 1) -> bytes:
    return pack_message("TRANSFORM", device, transform_content(T), timestamp_s, version)


# ---- content: POINT -----------------------------------------------------------------------

def points_content(points: list[Point]) -> bytes:
    parts = []
    for p in points:
        xyz = np.asarray(p.position, dtype=np.float64).reshape(3)
        parts.append(_POINT.pack(pack_fixed(p.name, 64, "point name", "utf-8"),
                                 pack_fixed(p.group, 32, "point group", "utf-8"),
                                 *[int(c) & 0xFF for c in p.rgba], *xyz, float(p.diameter),
                                 pack_fixed(p.owner, 20, "point owner", "utf-8")))
    return b"".join(parts)


def points_from_content(content: bytes) -> list[Point]:
    if len(content) % POINT_ITEM_SIZE:
        raise IGTLProtocolError(
            f"OpenIGTLink POINT content of {len(content)} bytes is not a multiple of {POINT_ITEM_SIZE}")
    out = []
    for off in range(0, len(content), POINT_ITEM_SIZE):
        name, group, r, g, b, a, x, y, z, d, owner = _POINT.unpack_from(content, off)
        out.append(Point(unpack_fixed(name, "point name", "utf-8"), np.array([x, y, z], dtype=np.float64),
                         unpack_fixed(group, "point group", "utf-8"), (r, g, b, a), float(d),
                         unpack_fixed(owner, "point owner", "utf-8")))
    return out


def pack_points(device: str, points: list[Point], timestamp_s: float = 0.0) -> bytes:
    return pack_message("POINT", device, points_content(points), timestamp_s)


# ---- content: STRING ----------------------------------------------------------------------

def string_content(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise IGTLProtocolError(f"OpenIGTLink STRING of {len(raw)} bytes exceeds 65535 bytes")
    enc = ENCODING_ASCII if raw.isascii() else ENCODING_UTF8
    return struct.pack(">HH", enc, len(raw)) + raw


def string_from_content(content: bytes) -> str:
    if len(content) < 4:
        raise IGTLProtocolError("OpenIGTLink STRING content is shorter than its 4-byte header")
    enc, n = struct.unpack_from(">HH", content)
    if len(content) < 4 + n:
        raise IGTLProtocolError(f"OpenIGTLink STRING says {n} bytes but carries {len(content) - 4}")
    if enc not in (ENCODING_ASCII, ENCODING_UTF8):
        raise IGTLProtocolError(f"OpenIGTLink STRING encoding {enc} is not US-ASCII (3) or UTF-8 (106)")
    return unpack_fixed(content[4:4 + n], "STRING", "ascii" if enc == ENCODING_ASCII else "utf-8")


def pack_string(device: str, text: str, timestamp_s: float = 0.0) -> bytes:
    return pack_message("STRING", device, string_content(text), timestamp_s)


# ---- content: STATUS ----------------------------------------------------------------------

def status_content(status: Status) -> bytes:
    return (_STATUS.pack(status.code, status.subcode, pack_fixed(status.error_name, 20, "error name", "utf-8"))
            + status.text.encode("utf-8") + b"\0")


def status_from_content(content: bytes) -> Status:
    if len(content) < _STATUS.size:
        raise IGTLProtocolError(f"OpenIGTLink STATUS content is shorter than {_STATUS.size} bytes")
    code, sub, name = _STATUS.unpack_from(content)
    return Status(code, sub, unpack_fixed(name, "STATUS error name", "utf-8"),
                  unpack_fixed(content[_STATUS.size:], "STATUS text", "utf-8"))


def pack_status(device: str, status: Status, timestamp_s: float = 0.0) -> bytes:
    return pack_message("STATUS", device, status_content(status), timestamp_s)


# ---- content: TDATA -----------------------------------------------------------------------

def tdata_content(tools: list[tuple[str, np.ndarray]]) -> bytes:
    """TDATA content from (name, 4x4 mm) pairs, each sent as a 6D instrument."""
    parts = []
    for name, T in tools:
        m = transform_content(T)
        parts.append(_TDATA.pack(pack_fixed(name, 20, "TDATA tool name"), TDATA_6D, 0, *_TRANSFORM.unpack(m)))
    return b"".join(parts)


def tdata_from_content(content: bytes) -> list[tuple[str, np.ndarray]]:
    """(tool name, 4x4 float64 mm) per TDATA element; values may be NaN (check before use)."""
    if len(content) % TDATA_ITEM_SIZE:
        raise IGTLProtocolError(
            f"OpenIGTLink TDATA content of {len(content)} bytes is not a multiple of {TDATA_ITEM_SIZE}")
    out = []
    for off in range(0, len(content), TDATA_ITEM_SIZE):
        name = unpack_fixed(content[off:off + 20], "TDATA tool name", "utf-8")
        out.append((name, transform_from_content(content[off + 22:off + TDATA_ITEM_SIZE])))
    return out


def pack_tdata(device: str, tools: list[tuple[str, np.ndarray]], timestamp_s: float = 0.0) -> bytes:
    return pack_message("TDATA", device, tdata_content(tools), timestamp_s)


def pack_stt_tdata(device: str = "", resolution_ms: int = 0, coordinate: str = "") -> bytes:
    """STT_TDATA: ask a server to start pushing TDATA every `resolution_ms` (0 = every frame)."""
    return pack_message("STT_TDATA", device, _STT_TDATA.pack(int(resolution_ms), pack_fixed(coordinate, 32, "frame name")))
