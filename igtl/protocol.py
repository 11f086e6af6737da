"""OpenIGTLink wire format (header versions 1 and 2): pack and strictly unpack messages.

A message is a 58-byte big-endian header followed by a body:
    uint16   header version (1; 2 adds an extended header and metadata to the body)
    char[12] type name, NUL padded (TRANSFORM, POINT, STRING, STATUS, ...)
    char[20] device name, NUL padded
    uint64   timestamp, 32.32 fixed point seconds since 1970 (0 = unused)
    uint64   body size in bytes
    uint64   CRC-64 (ECMA-182 polynomial 0x42F0E1EBA9EA3693, init 0, not reflected) of the body
A version-2 body is: extended header (uint16 ext_header_size, uint16 metadata_header_size,
uint32 metadata_size, uint32 message_id), the content, then the metadata (index count uint16,
per entry uint16 key size, uint16 encoding, uint32 value size; then the keys and values).

Content formats used by navtms (all big-endian):
    TRANSFORM 12 float32: the 3x3 rotation column by column, then the translation (mm).
    POINT     136 bytes per point: name char[64], group char[32], rgba uint8[4],
              x y z float32 (mm), diameter float32 (mm), owner char[20].
    STRING    uint16 IANA encoding (3 = US-ASCII, 106 = UTF-8), uint16 length, bytes.
    STATUS    uint16 code (1 = OK), int64 subcode, char[20] error name, NUL-terminated text.
    TDATA     70 bytes per tool: name char[20], uint8 type, uint8 reserved, 12 float32 as in
              TRANSFORM; tools that are not visible are left out. STT_TDATA (start the push):
              uint32 resolution (ms between frames, 0 = as fast as possible), char[32] frame.

Everything that comes from the wire is validated; any problem raises IGTLProtocolError (a
navcore TrackingError). The CRC is computed by crcmod (C extension), the library pyigtl uses.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Mapping, Optional

import crcmod
import numpy as np

from navcore.errors import TrackingError

HEADER_SIZE = 58
EXT_HEADER_SIZE = 12
MAX_BODY_SIZE = 16 * 1024 * 1024  # bytes; a larger body is refused and the connection closed
KNOWN_TYPES = frozenset({"TRANSFORM", "POINT", "STRING", "STATUS", "TDATA"})
STATUS_OK = 1
STATUS_NOT_FOUND = 4
ENCODING_ASCII = 3
ENCODING_UTF8 = 106
POINT_ITEM_SIZE = 136
TDATA_ITEM_SIZE = 70
TDATA_6D = 2

_HEADER = struct.Struct(">H12s20sQQQ")
_EXT = struct.Struct(">HHII")
_TRANSFORM = struct.Struct(">12f")
_POINT = struct.Struct(">64s32s4B4f20s")
_STATUS = struct.Struct(">Hq20s")
_META_ENTRY = struct.Struct(">HHI")
_TDATA = struct.Struct(">20sBB12f")
_STT_TDATA = struct.Struct(">I32s")

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, rev=False, initCrc=0, xorOut=0)
"""CRC-64/ECMA-182 of a bytes body (check value for b"123456789": 0x6C40DF5F0B497347)."""


class IGTLProtocolError(TrackingError):
    """Bytes from an OpenIGTLink peer that do not form a valid message."""


@dataclass(frozen=True)
class Header:
    version: int
    type: str
    device: str
    timestamp_raw: int
    body_size: int
    crc: int

    @property
    def timestamp_s(self) -> float:
        """Sender timestamp in seconds since 1970 (0.0 when the sender left it unused)."""
        return timestamp_from_raw(self.timestamp_raw)


@dataclass(frozen=True)
class Message:
    """One received or built message: header fields, the content bytes and v2 metadata."""

    type: str
    device: str
    timestamp_s: float
    content: bytes
    version: int = 1
    metadata: Mapping[str, str] = field(default_factory=dict)
    message_id: int = 0


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


# ---- timestamps ---------------------------------------------------------------------------

def timestamp_to_raw(t_s: float) -> int:
    """Seconds since 1970 -> 32.32 fixed point uint64 (clamped to the representable range)."""
    if not math.isfinite(t_s) or t_s <= 0:
        return 0
    sec = int(t_s)
    frac = int(round((t_s - sec) * 2**32))
    if frac >= 2**32:
        sec, frac = sec + 1, 0
    return (min(sec, 2**32 - 1) << 32) | frac


def timestamp_from_raw(raw: int) -> float:
    """32.32 fixed point uint64 -> seconds since 1970."""
    return (raw >> 32) + (raw & 0xFFFFFFFF) / 2**32


# ---- fixed strings ------------------------------------------------------------------------

def _fixed(text: str, size: int, what: str, encoding: str = "ascii") -> bytes:
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        raise IGTLProtocolError(f"OpenIGTLink {what} {text!r} is not {encoding} text") from None
    if len(raw) > size:
        raise IGTLProtocolError(f"OpenIGTLink {what} {text!r} is longer than {size} bytes")
    return raw


def _unfixed(raw: bytes, what: str, encoding: str = "ascii") -> str:
    raw = raw.split(b"\0", 1)[0]
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise IGTLProtocolError(f"OpenIGTLink {what} is not valid {encoding} text") from None


# ---- header and message -------------------------------------------------------------------

def unpack_header(data: bytes, max_body_size: int = MAX_BODY_SIZE) -> Header:
    """Parse and validate the 58-byte header; raises IGTLProtocolError on anything invalid."""
    if len(data) < HEADER_SIZE:
        raise IGTLProtocolError(f"OpenIGTLink header truncated ({len(data)} of {HEADER_SIZE} bytes)")
    version, type_raw, dev_raw, ts, body_size, crc = _HEADER.unpack_from(data)
    if version not in (1, 2):
        raise IGTLProtocolError(f"OpenIGTLink header version {version} is not 1 or 2")
    mtype = _unfixed(type_raw, "type name")
    if not mtype or not all(33 <= ord(c) < 127 for c in mtype):
        raise IGTLProtocolError(f"OpenIGTLink type name {mtype!r} is empty or not printable ASCII")
    device = _unfixed(dev_raw, "device name", "utf-8")
    if body_size > max_body_size:
        raise IGTLProtocolError(
            f"OpenIGTLink {mtype} body of {body_size} bytes exceeds the {max_body_size}-byte limit")
    return Header(version, mtype, device, ts, body_size, crc)


def pack_message(mtype: str, device: str, content: bytes, timestamp_s: float = 0.0,
                 version: int = 1, metadata: Optional[Mapping[str, str]] = None,
                 message_id: int = 0) -> bytes:
    """Header + body bytes of one message (version 2 adds the extended header and metadata)."""
    if version not in (1, 2):
        raise IGTLProtocolError(f"OpenIGTLink header version {version} is not 1 or 2")
    body = content
    if version == 2:
        meta_head, meta_body = [struct.pack(">H", len(metadata or {}))], []
        for key, value in (metadata or {}).items():
            k, v = key.encode("utf-8"), value.encode("utf-8")
            meta_head.append(_META_ENTRY.pack(len(k), ENCODING_UTF8, len(v)))
            meta_body += [k, v]
        mh, mb = b"".join(meta_head), b"".join(meta_body)
        body = _EXT.pack(EXT_HEADER_SIZE, len(mh), len(mb), message_id) + content + mh + mb
    header = _HEADER.pack(version, _fixed(mtype, 12, "type name"), _fixed(device, 20, "device name", "utf-8"),
                          timestamp_to_raw(timestamp_s), len(body), crc64(body))
    return header + body


def unpack_body(header: Header, body: bytes) -> Message:
    """Check the CRC and split a body (v2: extended header, content, metadata) into a Message."""
    if len(body) != header.body_size:
        raise IGTLProtocolError(
            f"OpenIGTLink {header.type} body truncated ({len(body)} of {header.body_size} bytes)")
    if crc64(body) != header.crc:
        raise IGTLProtocolError(f"OpenIGTLink {header.type} message from {header.device!r} has a bad CRC")
    metadata: dict[str, str] = {}
    message_id = 0
    content = body
    if header.version == 2:
        if len(body) < EXT_HEADER_SIZE:
            raise IGTLProtocolError("OpenIGTLink version-2 body is shorter than its extended header")
        ext_size, meta_head_size, meta_size, message_id = _EXT.unpack_from(body)
        end = len(body) - meta_head_size - meta_size
        if ext_size < EXT_HEADER_SIZE or end < ext_size:
            raise IGTLProtocolError("OpenIGTLink version-2 extended header sizes do not fit the body")
        content = body[ext_size:end]
        metadata = _unpack_metadata(body[end:end + meta_head_size], body[end + meta_head_size:])
    return Message(header.type, header.device, header.timestamp_s, bytes(content), header.version,
                   metadata, message_id)


def _unpack_metadata(head: bytes, data: bytes) -> dict[str, str]:
    if not head:
        return {}
    if len(head) < 2:
        raise IGTLProtocolError("OpenIGTLink metadata header is truncated")
    (count,) = struct.unpack_from(">H", head)
    if len(head) != 2 + count * _META_ENTRY.size:
        raise IGTLProtocolError("OpenIGTLink metadata header size does not match its entry count")
    out, pos = {}, 0
    for i in range(count):
        ksize, enc, vsize = _META_ENTRY.unpack_from(head, 2 + i * _META_ENTRY.size)
        if pos + ksize + vsize > len(data):
            raise IGTLProtocolError("OpenIGTLink metadata entry runs past the end of the body")
        key = _unfixed(data[pos:pos + ksize], "metadata key", "utf-8")
        value = _unfixed(data[pos + ksize:pos + ksize + vsize], "metadata value",
                         "ascii" if enc == ENCODING_ASCII else "utf-8")
        out[key] = value
        pos += ksize + vsize
    return out


def unpack_message(data: bytes, max_body_size: int = MAX_BODY_SIZE) -> tuple[Message, int]:
    """Parse one whole message at the start of `data`; returns (message, bytes used)."""
    header = unpack_header(data, max_body_size)
    end = HEADER_SIZE + header.body_size
    if len(data) < end:
        raise IGTLProtocolError(
            f"OpenIGTLink {header.type} message truncated ({len(data)} of {end} bytes)")
    return unpack_body(header, bytes(data[HEADER_SIZE:end])), end


class StreamParser:
    """Incremental parser for a TCP byte stream: feed() bytes, get the complete messages.

    Raises IGTLProtocolError as soon as a header or body is invalid (the caller then closes
    the connection: after a bad message the stream cannot be resynchronised). finish() raises
    when the stream ended inside a message.
    """

    def __init__(self, max_body_size: int = MAX_BODY_SIZE):
        self.max_body_size = max_body_size
        self._buf = bytearray()
        self._header: Optional[Header] = None

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out = []
        while True:
            if self._header is None:
                if len(self._buf) < HEADER_SIZE:
                    return out
                self._header = unpack_header(bytes(self._buf[:HEADER_SIZE]), self.max_body_size)
                del self._buf[:HEADER_SIZE]
            if len(self._buf) < self._header.body_size:
                return out
            n = self._header.body_size
            body = bytes(self._buf[:n])
            del self._buf[:n]
            header, self._header = self._header, None
            out.append(unpack_body(header, body))

    def finish(self) -> None:
        if self._buf or self._header is not None:
            raise IGTLProtocolError("OpenIGTLink stream ended inside a message (truncated)")


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
        parts.append(_POINT.pack(_fixed(p.name, 64, "point name", "utf-8"),
                                 _fixed(p.group, 32, "point group", "utf-8"),
                                 *[int(c) & 0xFF for c in p.rgba], *xyz, float(p.diameter),
                                 _fixed(p.owner, 20, "point owner", "utf-8")))
    return b"".join(parts)


def points_from_content(content: bytes) -> list[Point]:
    if len(content) % POINT_ITEM_SIZE:
        raise IGTLProtocolError(
            f"OpenIGTLink POINT content of {len(content)} bytes is not a multiple of {POINT_ITEM_SIZE}")
    out = []
    for off in range(0, len(content), POINT_ITEM_SIZE):
        name, group, r, g, b, a, x, y, z, d, owner = _POINT.unpack_from(content, off)
        out.append(Point(_unfixed(name, "point name", "utf-8"), np.array([x, y, z], dtype=np.float64),
                         _unfixed(group, "point group", "utf-8"), (r, g, b, a), float(d),
                         _unfixed(owner, "point owner", "utf-8")))
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
    return _unfixed(content[4:4 + n], "STRING", "ascii" if enc == ENCODING_ASCII else "utf-8")


def pack_string(device: str, text: str, timestamp_s: float = 0.0) -> bytes:
    return pack_message("STRING", device, string_content(text), timestamp_s)


# ---- content: STATUS ----------------------------------------------------------------------

def status_content(status: Status) -> bytes:
    return (_STATUS.pack(status.code, status.subcode, _fixed(status.error_name, 20, "error name", "utf-8"))
            + status.text.encode("utf-8") + b"\0")


def status_from_content(content: bytes) -> Status:
    if len(content) < _STATUS.size:
        raise IGTLProtocolError(f"OpenIGTLink STATUS content is shorter than {_STATUS.size} bytes")
    code, sub, name = _STATUS.unpack_from(content)
    return Status(code, sub, _unfixed(name, "STATUS error name", "utf-8"),
                  _unfixed(content[_STATUS.size:], "STATUS text", "utf-8"))


def pack_status(device: str, status: Status, timestamp_s: float = 0.0) -> bytes:
    return pack_message("STATUS", device, status_content(status), timestamp_s)


# ---- content: TDATA -----------------------------------------------------------------------

def tdata_content(tools: list[tuple[str, np.ndarray]]) -> bytes:
    """TDATA content from (name, 4x4 mm) pairs, each sent as a 6D instrument."""
    parts = []
    for name, T in tools:
        m = transform_content(T)
        parts.append(_TDATA.pack(_fixed(name, 20, "TDATA tool name"), TDATA_6D, 0, *_TRANSFORM.unpack(m)))
    return b"".join(parts)


def tdata_from_content(content: bytes) -> list[tuple[str, np.ndarray]]:
    """(tool name, 4x4 float64 mm) per TDATA element; values may be NaN (check before use)."""
    if len(content) % TDATA_ITEM_SIZE:
        raise IGTLProtocolError(
            f"OpenIGTLink TDATA content of {len(content)} bytes is not a multiple of {TDATA_ITEM_SIZE}")
    out = []
    for off in range(0, len(content), TDATA_ITEM_SIZE):
        name = _unfixed(content[off:off + 20], "TDATA tool name", "utf-8")
        out.append((name, transform_from_content(content[off + 22:off + TDATA_ITEM_SIZE])))
    return out


def pack_tdata(device: str, tools: list[tuple[str, np.ndarray]], timestamp_s: float = 0.0) -> bytes:
    return pack_message("TDATA", device, tdata_content(tools), timestamp_s)


def pack_stt_tdata(device: str = "", resolution_ms: int = 0, coordinate: str = "") -> bytes:
    """STT_TDATA: ask a server to start pushing TDATA every `resolution_ms` (0 = every frame)."""
    return pack_message("STT_TDATA", device, _STT_TDATA.pack(int(resolution_ms), _fixed(coordinate, 32, "frame name")))
