"""OpenIGTLink wire format: round trips, CRC, strict validation, interop with pyigtl's packing."""
from __future__ import annotations

import json
import struct

import numpy as np
import pyigtl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import TrackingError
from navcore.transforms import random_rigid
from igtl import protocol as P

seeds = st.integers(0, 2**32 - 1)


def test_crc64_is_ecma182_check_value():
    # Published check value of CRC-64/ECMA-182 (poly 0x42F0E1EBA9EA3693, init 0, no reflection).
    assert P.crc64(b"123456789") == 0x6C40DF5F0B497347
    assert P.crc64(b"") == 0


def test_header_layout_is_58_bytes_big_endian():
    data = P.pack_transform("CoilToTracker", np.eye(4), timestamp_s=1.5)
    assert len(data) == 58 + 48
    version, mtype, dev, ts, size, crc = struct.unpack(">H12s20sQQQ", data[:58])
    assert version == 1 and mtype.rstrip(b"\0") == b"TRANSFORM" and dev.rstrip(b"\0") == b"CoilToTracker"
    assert ts == (1 << 32) | (1 << 31) and size == 48 and crc == P.crc64(data[58:])


@settings(max_examples=40)
@given(seeds)
def test_transform_round_trip_float32(seed):
    T = random_rigid(np.random.default_rng(seed), 500.0)
    msg, used = P.unpack_message(P.pack_transform("HeadToTracker", T, 1700000000.25))
    assert used == 58 + 48 and msg.type == "TRANSFORM" and msg.device == "HeadToTracker"
    assert abs(msg.timestamp_s - 1700000000.25) < 1e-6
    T2 = P.transform_from_content(msg.content)
    assert np.allclose(T2, T, atol=500.0 * 2e-7 + 1e-6)
    assert np.array_equal(T2[3], [0, 0, 0, 1])


@settings(max_examples=30)
@given(seeds, st.integers(0, 105), st.integers(1, 255))
def test_any_single_bit_flip_in_body_is_a_crc_error(seed, byte_index, mask):
    data = bytearray(P.pack_transform("X", random_rigid(np.random.default_rng(seed))))
    data[58 + byte_index % 48] ^= mask
    with pytest.raises(P.IGTLProtocolError, match="CRC"):
        P.unpack_message(bytes(data))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_parser(data):
    parser = P.StreamParser(max_body_size=1024)
    try:
        for msg in parser.feed(data):
            for fn in (P.transform_from_content, P.points_from_content, P.string_from_content,
                       P.status_from_content, P.tdata_from_content):
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
    stream = b"".join(P.pack_transform(f"T{i}", T) for i, T in enumerate(Ts))
    parser = P.StreamParser()
    got = []
    for i in range(0, len(stream), 7):  # 7-byte chunks split headers and bodies
        got += parser.feed(stream[i:i + 7])
    parser.finish()
    assert [m.device for m in got] == ["T0", "T1", "T2"]
    for m, T in zip(got, Ts):
        assert np.allclose(P.transform_from_content(m.content), T, atol=1e-4)


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
    data = P.pack_string("S", "hello")
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
    data = P.pack_message("TRANSFORM", "CoilToTracker", P.transform_content(T), 12.5, version=2,
                          metadata={"TransformStatus": "OK", "Größe": "ü"}, message_id=42)
    msg, _ = P.unpack_message(data)
    assert msg.version == 2 and msg.message_id == 42
    assert dict(msg.metadata) == {"TransformStatus": "OK", "Größe": "ü"}
    assert np.allclose(P.transform_from_content(msg.content), T, atol=1e-4)
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
    assert np.allclose(P.transform_from_content(msg2.content), T, atol=1e-4)


def test_pyigtl_string_and_point_bytes_parse():
    text = json.dumps({"distance_mm": 1.5})
    msg, _ = P.unpack_message(pyigtl.StringMessage(text, device_name="Errors").pack())
    assert msg.type == "STRING" and P.string_from_content(msg.content) == text
    pts = pyigtl.PointMessage(positions=[[1, 2, 3], [4, 5, 6]], names=["a", "b"], device_name="Tgt")
    msg, _ = P.unpack_message(pts.pack())
    got = P.points_from_content(msg.content)
    assert [p.name for p in got] == ["a", "b"]
    assert np.allclose(got[1].position, [4, 5, 6])


def test_our_point_and_string_bytes_parse_in_pyigtl():
    data = P.pack_points("TargetToMRI", [P.Point("DLPFC", np.array([10.0, -20.5, 33.25]), diameter=4.0)])
    fields = pyigtl.MessageBase.parse_header(data[:58])
    pm = pyigtl.PointMessage()
    pm.unpack(fields, data[58:])
    assert pm.names == ["DLPFC"] and np.allclose(pm.positions[0], [10.0, -20.5, 33.25])
    data = P.pack_string("NavErrors", "é ok")
    sm = pyigtl.StringMessage()
    sm.unpack(pyigtl.MessageBase.parse_header(data[:58]), data[58:])
    assert sm.string == "é ok"


def test_status_round_trip():
    st_in = P.Status(P.STATUS_NOT_FOUND, -3, "NotVisible", "coil not seen")
    msg, _ = P.unpack_message(P.pack_status("CoilToMRI", st_in))
    assert P.status_from_content(msg.content) == st_in


@settings(max_examples=50)
@given(st.floats(0, 2**32 - 2, allow_nan=False))
def test_timestamp_round_trip(t):
    assert abs(P.timestamp_from_raw(P.timestamp_to_raw(t)) - t) <= 2**-32 + abs(t) * 1e-15


def test_names_too_long_are_refused():
    with pytest.raises(P.IGTLProtocolError, match="longer"):
        P.pack_transform("x" * 21, np.eye(4))


def test_tdata_and_stt_tdata_round_trip():
    rng = np.random.default_rng(13)
    tools = [("Coil", random_rigid(rng)), ("Head", random_rigid(rng))]
    msg, used = P.unpack_message(P.pack_tdata("Tracker", tools, 3.0))
    assert msg.type == "TDATA" and len(msg.content) == 2 * P.TDATA_ITEM_SIZE
    got = P.tdata_from_content(msg.content)
    assert [n for n, _ in got] == ["Coil", "Head"]
    for (_, T), (_, T2) in zip(tools, got):
        assert np.allclose(T2, T, atol=1e-4)
    with pytest.raises(P.IGTLProtocolError, match="multiple of 70"):
        P.tdata_from_content(msg.content[:-1])
    stt, _ = P.unpack_message(P.pack_stt_tdata(resolution_ms=50, coordinate="CAMERA"))
    assert stt.type == "STT_TDATA" and struct.unpack(">I32s", stt.content)[0] == 50
