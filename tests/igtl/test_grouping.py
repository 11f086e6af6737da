"""FrameGrouper: messages of one tracker frame (one header timestamp) become one frame, never mixed."""
from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from igtl import content as C
from igtl import protocol as P
from igtl.grouping import FrameGrouper
from navcore.transforms import random_rigid

MAP = {"CoilToTracker": "coil", "HeadToTracker": "head", "PointerToTracker": "pointer"}
PERIOD_NS = 16_666_667


def _msg(device, ts, T):
    data = C.pack_transform(device, T, ts)
    return P.unpack_message(data)[0]


@given(st.lists(st.lists(st.sampled_from(sorted(MAP)), min_size=1, max_size=3, unique=True), min_size=2, max_size=25),
       st.integers(0, 2**32 - 1), st.lists(st.integers(0, 3), min_size=80, max_size=80))
def test_released_frames_never_mix_tracker_frames(device_lists, seed, jitter_ms):
    """Any devices per frame, any order, receive gaps of 0-3 ms: every released frame holds
    members of one timestamp only; each tracker frame is released (re-releases marked late)."""
    rng = np.random.default_rng(seed)
    g = FrameGrouper(MAP)
    released = []
    now = 0
    j = iter(jitter_ms * 4)
    for k, devices in enumerate(device_lists):
        ts = 1000.0 + k / 60.0
        now = k * PERIOD_NS
        for dev in devices:
            now += next(j) * 1_000_000
            released += g.expire(now)
            released += g.feed(_msg(dev, ts, random_rigid(rng)), now)
    released += g.expire(now + 10**9)
    for f in released:
        assert {v[2] for v in f.bodies.values()} == {f.timestamp_s}
    assert g.frames == len(device_lists)
    assert sorted({round(f.timestamp_s, 9) for f in released}) == sorted(
        round(1000.0 + k / 60.0, 9) for k in range(len(device_lists)))


def test_steady_stream_releases_at_the_last_member_without_waiting():
    rng = np.random.default_rng(1)
    g = FrameGrouper(MAP)
    out = []
    for k in range(6):
        ts = 50.0 + k / 60.0
        out.append(g.feed(_msg("CoilToTracker", ts, random_rigid(rng)), k * PERIOD_NS))
        out.append(g.feed(_msg("HeadToTracker", ts, random_rigid(rng)), k * PERIOD_NS + 1000))
    # From the second frame on the expected set {coil, head} is known: released by the head.
    assert all(len(o) == 1 and set(o[0].bodies) == {"coil", "head"} for o in out[3::2])
    assert g.strict and g.period_s is not None and abs(g.period_s - 1 / 60) < 1e-6


def test_timestamp_zero_is_not_grouped_and_tdata_is_one_frame():
    rng = np.random.default_rng(2)
    g = FrameGrouper(MAP)
    a = g.feed(_msg("CoilToTracker", 0.0, random_rigid(rng)), 1)
    b = g.feed(_msg("HeadToTracker", 0.0, random_rigid(rng)), 2)
    assert len(a) == len(b) == 1 and not a[0].grouped and not g.strict
    td = P.unpack_message(C.pack_tdata("Tracker", [("CoilToTracker", random_rigid(rng))], 9.0))[0]
    (f,) = g.feed(td, 3)
    assert f.grouped and f.bodies["coil"][0] is not None and f.bodies["head"][0] is None
    assert f.bodies["pointer"][0] is None and g.strict


def test_first_frame_shows_a_grouped_stream_then_late_member_re_releases_its_own_frame_only():
    rng = np.random.default_rng(3)
    g = FrameGrouper(MAP, gap_s=0.002)
    Tc, Th = random_rigid(rng), random_rigid(rng)
    # Not yet known to be grouped: the coil goes out at once; the head of the same frame then
    # re-releases that frame whole, and the stream is known to be grouped (strict).
    (a,) = g.feed(_msg("CoilToTracker", 6.0, Tc), 0)
    assert set(a.bodies) == {"coil"} and not g.strict
    (b,) = g.feed(_msg("HeadToTracker", 6.0, Th), 1000)
    assert b.late and set(b.bodies) == {"coil", "head"} and g.strict
    # Grouped: frame 7's coil waits for the head; the gap passes first.
    assert g.feed(_msg("CoilToTracker", 7.0, Tc), 20_000_000) == []
    (first,) = g.expire(23_000_000)
    assert set(first.bodies) == {"coil"} and not first.late
    (second,) = g.feed(_msg("HeadToTracker", 7.0, Th), 24_000_000)   # late: re-released at once, whole
    assert second.late and set(second.bodies) == {"coil", "head"} and second.timestamp_s == 7.0
    assert g.frames == 2 and g.late_messages == 2
