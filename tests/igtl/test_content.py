"""OpenIGTLink message contents (igtl.content): TRANSFORM, POINT, STRING, STATUS and TDATA round
trips, and interop both ways with pyigtl (an independent implementation)."""
from __future__ import annotations

import json
import struct

import numpy as np
import pyigtl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.transforms import random_rigid
from igtl import content as C
from igtl import protocol as P

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=40)
@given(seeds)
def test_transform_round_trip_float32(seed):
    T = random_rigid(np.random.default_rng(seed), 500.0)
    msg, used = P.unpack_message(C.pack_transform("HeadToTracker", T, 1700000000.25))
    assert used == 58 + 48 and msg.type == "TRANSFORM" and msg.device == "HeadToTracker"
    assert abs(msg.timestamp_s - 1700000000.25) < 1e-6
    T2 = C.transform_from_content(msg.content)
    assert np.allclose(T2, T, atol=500.0 * 2e-7 + 1e-6)
    assert np.array_equal(T2[3], [0, 0, 0, 1])


def test_pyigtl_string_and_point_bytes_parse():
    text = json.dumps({"distance_mm": 1.5})
    msg, _ = P.unpack_message(pyigtl.StringMessage(text, device_name="Errors").pack())
    assert msg.type == "STRING" and C.string_from_content(msg.content) == text
    pts = pyigtl.PointMessage(positions=[[1, 2, 3], [4, 5, 6]], names=["a", "b"], device_name="Tgt")
    msg, _ = P.unpack_message(pts.pack())
    got = C.points_from_content(msg.content)
    assert [p.name for p in got] == ["a", "b"]
    assert np.allclose(got[1].position, [4, 5, 6])


def test_our_point_and_string_bytes_parse_in_pyigtl():
    data = C.pack_points("TargetToMRI", [C.Point("DLPFC", np.array([10.0, -20.5, 33.25]), diameter=4.0)])
    fields = pyigtl.MessageBase.parse_header(data[:58])
    pm = pyigtl.PointMessage()
    pm.unpack(fields, data[58:])
    assert pm.names == ["DLPFC"] and np.allclose(pm.positions[0], [10.0, -20.5, 33.25])
    data = C.pack_string("NavErrors", "é ok")
    sm = pyigtl.StringMessage()
    sm.unpack(pyigtl.MessageBase.parse_header(data[:58]), data[58:])
    assert sm.string == "é ok"


def test_status_round_trip():
    st_in = C.Status(C.STATUS_NOT_FOUND, -3, "NotVisible", "coil not seen")
    msg, _ = P.unpack_message(C.pack_status("CoilToMRI", st_in))
    assert C.status_from_content(msg.content) == st_in


def test_tdata_and_stt_tdata_round_trip():
    rng = np.random.default_rng(13)
    tools = [("Coil", random_rigid(rng)), ("Head", random_rigid(rng))]
    msg, used = P.unpack_message(C.pack_tdata("Tracker", tools, 3.0))
    assert msg.type == "TDATA" and len(msg.content) == 2 * C.TDATA_ITEM_SIZE
    got = C.tdata_from_content(msg.content)
    assert [n for n, _ in got] == ["Coil", "Head"]
    for (_, T), (_, T2) in zip(tools, got):
        assert np.allclose(T2, T, atol=1e-4)
    with pytest.raises(P.IGTLProtocolError, match="multiple of 70"):
        C.tdata_from_content(msg.content[:-1])
    stt, _ = P.unpack_message(C.pack_stt_tdata(resolution_ms=50, coordinate="CAMERA"))
    assert stt.type == "STT_TDATA" and struct.unpack(">I32s", stt.content)[0] == 50
