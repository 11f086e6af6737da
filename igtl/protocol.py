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

The contents of the message types navtms speaks (TRANSFORM, POINT, STRING, STATUS, TDATA)
are packed and unpacked in igtl.content, on top of this module.

Everything that comes from the wire is validated; any problem raises IGTLProtocolError (a
navcore TrackingError). The CRC is computed by crcmod (C extension), the library pyigtl uses.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Mapping, Optional

import crcmod

from navcore.errors import TrackingError

HEADER_SIZE = 58
EXT_HEADER_SIZE = 12
MAX_BODY_SIZE = 16 * 1024 * 1024  # bytes; a larger body is refused and the connection closed
KNOWN_TYPES = frozenset({"TRANSFORM", "POINT", "STRING", "STATUS", "TDATA"})
ENCODING_ASCII = 3
ENCODING_UTF8 = 106

_HEADER = struct.Struct(">H12s20sQQQ")
_EXT = struct.Struct(">HHII")
_META_ENTRY = struct.Struct(">HHI")

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

def pack_fixed(text: str, size: int, what: str, encoding: str = "ascii") -> bytes:
    """`text` encoded for a fixed-size, NUL-padded field of `size` bytes (struct pads it);
    IGTLProtocolError naming `what` when it is not `encoding` text or too long."""
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        raise IGTLProtocolError(f"OpenIGTLink {what} {text!r} is not {encoding} text") from None
    if len(raw) > size:
        raise IGTLProtocolError(f"OpenIGTLink {what} {text!r} is longer than {size} bytes")
    return raw


def unpack_fixed(raw: bytes, what: str, encoding: str = "ascii") -> str:
    """The text of a NUL-padded field (up to its first NUL); IGTLProtocolError naming `what`."""
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
    mtype = unpack_fixed(type_raw, "type name")
    if not mtype or not all(33 <= ord(c) < 127 for c in mtype):
        raise IGTLProtocolError(f"OpenIGTLink type name {mtype!r} is empty or not printable ASCII")
    device = unpack_fixed(dev_raw, "device name", "utf-8")
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
    header = _HEADER.pack(version, pack_fixed(mtype, 12, "type name"), pack_fixed(device, 20, "device name", "utf-8"),
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
        key = unpack_fixed(data[pos:pos + ksize], "metadata key", "utf-8")
        value = unpack_fixed(data[pos + ksize:pos + ksize + vsize], "metadata value",
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
