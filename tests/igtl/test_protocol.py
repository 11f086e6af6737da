"""OpenIGTLink wire format (igtl.protocol): framing, CRC, strict validation of headers and streams, interop
with pyigtl's packing (contents: test_content.py)."""
from __future__ import annotations

import struct

import numpy as np
import pyigtl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import TrackingError
from navcore.transforms import random_rigid
from igtl import content as C
from igtl import protocol as P

seeds = st.integers(0, 2**32 - 1)


def test_crc64_is_ecma182_check_value():
    # Published check value of CRC-64/ECMA-182 (poly 0x42F0E1EBA9EA3693, init 0, no reflection).
    assert P.crc64(b"123456789") == 0x6C40DF5F0B497347
    assert P.crc64(b"") == 0


def test_header_layout_is_58_bytes_big_endian():
    data = C.pack_transform("CoilToTracker", np.eye(4), timestamp_s=1.5)
    assert len(data) == 58 + 48
    version, mtype, dev, ts, size, crc = struct.unpack(">H12s20sQQQ", data[:58])
    assert version == 1 and mtype.rstrip(b"\0") == b"TRANSFORM" and dev.rstrip(b"\0") == b"CoilToTracker"
    assert ts == (1 << 32) | (1 << 31) and size == 48 and crc == P.crc64(data[58:])


@settings(max_examples=30)
@given(seeds, st.integers(0, 105), st.integers(1, 255))
def test_any_single_bit_flip_in_body_is_a_crc_error(seed, byte_index, mask):
    data = bytearray(C.pack_transform("X", random_rigid(np.random.default_rng(seed))))
    data[58 + byte_index % 48] ^= mask
    with pytest.raises(P.IGTLProtocolError, match="CRC"):
        P.unpack_message(bytes(data))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_parser(data):
    parser = P.StreamParser(max_body_size=1024)
    try:
        for msg in parser.feed(data):
            for fn in (C.transform_from_content, C.points_from_content, C.string_from_content,
                       C.status_from_content, C.tdata_from_content):
                try:
                    fn(msg.content)
                except P.IGTLProtocolError:
                    pass
        parser.finish()
    except P.IGTLProtocolError as e:
        assert isinstance(e, TrackingError) and str(e)


@settings(max_examples=200)
@given(st.binary(min_size=58, max_size=58), st.binary(max_size=64))
def test_random_header_with_valid_crc_never_crashes(header, body):
    # Force a matching body size and CRC so the random fields reach the deeper checks.
    hdr = bytearray(header)
    hdr[0:2] = struct.pack(">H", 1 + header[0] % 2)
    hdr[42:58] = struct.pack(">QQ", len(body), P.crc64(body))
    try:
        msg, used = P.unpack_message(bytes(hdr) + body)
        assert used == 58 + len(body)
    except P.IGTLProtocolError:
        pass


def test_stream_parser_handles_split_and_joined_messages():
    rng = np.random.default_rng(1)
    Ts = [random_rigid(rng) for _ in range(3)]
    stream = b"".join(C.pack_transform(f"T{i}", T) for i, T in enumerate(Ts))
    parser = P.StreamParser()
    got = []
    for i in range(0, len(stream), 7):  # 7-byte chunks split headers and bodies
        got += parser.feed(stream[i:i + 7])
    parser.finish()
    assert [m.device for m in got] == ["T0", "T1", "T2"]
    for m, T in zip(got, Ts):
        assert np.allclose(C.transform_from_content(m.content), T, atol=1e-4)


def test_oversized_body_is_refused_from_the_header_alone():
    header = struct.pack(">H12s20sQQQ", 1, b"TRANSFORM", b"X", 0, 17 * 1024 * 1024, 0)
    with pytest.raises(P.IGTLProtocolError, match="exceeds"):
        P.StreamParser().feed(header)


@pytest.mark.parametrize("bad, match", [
    (struct.pack(">H12s20sQQQ", 7, b"TRANSFORM", b"X", 0, 0, 0), "version"),
    (struct.pack(">H12s20sQQQ", 1, b"\x01\x02", b"X", 0, 0, 0), "type name"),
    (struct.pack(">H12s20sQQQ", 1, b"", b"X", 0, 0, 0), "type name"),
    (struct.pack(">H12s20sQQQ", 1, b"STRING", b"\xff\xfe", 0, 0, 0), "device name"),
])
def test_invalid_headers_are_refused(bad, match):
    with pytest.raises(P.IGTLProtocolError, match=match):
        P.unpack_header(bad)


def test_truncated_message_and_stream():
    data = C.pack_string("S", "hello")
    with pytest.raises(P.IGTLProtocolError, match="truncated"):
        P.unpack_message(data[:-1])
    with pytest.raises(P.IGTLProtocolError, match="truncated"):
        P.unpack_message(data[:30])
    parser = P.StreamParser()
    assert parser.feed(data[:-2]) == []
    with pytest.raises(P.IGTLProtocolError, match="truncated"):
        parser.finish()


def test_version2_metadata_round_trip_and_pyigtl_interop():
    T = random_rigid(np.random.default_rng(5))
    data = P.pack_message("TRANSFORM", "CoilToTracker", C.transform_content(T), 12.5, version=2,
                          metadata={"TransformStatus": "OK", "Größe": "ü"}, message_id=42)
    msg, _ = P.unpack_message(data)
    assert msg.version == 2 and msg.message_id == 42
    assert dict(msg.metadata) == {"TransformStatus": "OK", "Größe": "ü"}
    assert np.allclose(C.transform_from_content(msg.content), T, atol=1e-4)
    # pyigtl (independent implementation) reads our version-2 bytes the same way ...
    fields = pyigtl.MessageBase.parse_header(data[:58])
    pm = pyigtl.TransformMessage()
    pm.unpack(fields, data[58:])
    assert np.allclose(pm.matrix, T, atol=1e-4) and pm.metadata["TransformStatus"] == "OK"
    # ... and we read pyigtl's version-2 bytes, CRC included.
    pm2 = pyigtl.TransformMessage(T, device_name="HeadToTracker", timestamp=1000.0)
    pm2.header_version = 2
    pm2.metadata = {"a": "b"}
    msg2, _ = P.unpack_message(pm2.pack())
    assert msg2.device == "HeadToTracker" and dict(msg2.metadata) == {"a": "b"}
    assert np.allclose(C.transform_from_content(msg2.content), T, atol=1e-4)


@settings(max_examples=50)
@given(st.floats(0, 2**32 - 2, allow_nan=False))
def test_timestamp_round_trip(t):
    assert abs(P.timestamp_from_raw(P.timestamp_to_raw(t)) - t) <= 2**-32 + abs(t) * 1e-15


def test_names_too_long_are_refused():
    with pytest.raises(P.IGTLProtocolError, match="longer"):
        C.pack_transform("x" * 21, np.eye(4))
