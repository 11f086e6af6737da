"""Pulses: interpolated pose at the pulse time, visibility rules, lock to target, triggers, log."""
from __future__ import annotations

import io
import math

import numpy as np
from hypothesis import given, settings, strategies as st

from navcore.transforms import interpolate_pose, rotation_between
from navigation.csvlog import CsvLog, column, read_log
from navigation.navigator import Navigator
from navigation.pulses import (PULSE_COLUMNS, KeyTrigger, LineTrigger, ProtocolTrigger, PulseLog,
                           TimedProtocol)
from navloop_helpers import Scene, approach


def _setup(n=20, hidden=(), lock=False, log=None):
    scene = Scene.make(3)
    frames, truth = approach(scene, n, hidden=hidden)
    nav = Navigator([scene.target], scene.T_mri_from_head, scene.T_coilbody_from_coil,
                    clock=lambda: frames[0].capture_ns)
    return scene, frames, truth, nav, PulseLog(nav, log, lock_to_target=lock)


@settings(max_examples=20)
@given(st.integers(1, 18), st.floats(0.0, 1.0))
def test_pulse_gets_pose_interpolated_between_neighbours(k, s):
    scene, frames, truth, nav, pulses = _setup()
    t = frames[k].capture_ns + int(round(s * (frames[k + 1].capture_ns - frames[k].capture_ns)))
    for f in frames[:k + 1]:
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    d = pulses.request(t, "key")
    assert d.fired
    for f in frames[k + 1:]:
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    (smp,) = pulses.samples
    t0, t1 = frames[k].capture_ns, frames[k + 1].capture_ns
    expect = interpolate_pose(truth[k], truth[k + 1], (t - t0) / (t1 - t0))
    np.testing.assert_allclose(smp.T_mri_from_coil, expect, atol=1e-8)
    assert smp.frame_before in (k, k + 1) and smp.frame_after in (k, k + 1)
    # not just the latest pose: the interpolated one differs from frame k+1 unless s == 1
    if s < 0.9:
        assert np.linalg.norm(smp.T_mri_from_coil[:3, 3] - truth[k + 1][:3, 3]) > 1e-3
    assert abs(smp.errors.distance_mm - nav.errors_for(expect).distance_mm) < 1e-9


def test_pulse_not_visible_when_a_neighbour_is_hidden_or_gap_too_long():
    scene, frames, truth, nav, pulses = _setup(hidden={6})
    for f in frames:
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    a = pulses.request(frames[5].capture_ns + 1000)     # between 5 and hidden 6
    b = pulses.request(frames[8].capture_ns + 1000)     # between 8 and 9: fine
    assert a.fired and b.fired
    sa, sb = pulses.samples
    assert not sa.visible and sa.errors is None and not sa.within_tolerance
    assert sb.visible
    # frames more than 100 ms apart are not interpolated
    scene, frames, truth, nav, pulses = _setup()
    for f in (frames[0], frames[10]):
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns + (f.frame_number * 10**7)))
    pulses.request(frames[0].capture_ns + 1000)
    assert not pulses.samples[-1].visible


def test_pulse_after_last_frame_waits_and_finish_logs_not_visible():
    scene, frames, truth, nav, pulses = _setup()
    for f in frames[:3]:
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    pulses.request(frames[2].capture_ns + 10)
    assert pulses.samples == []            # waits for a following frame
    (s,) = pulses.finish()
    assert not s.visible and s.frame_before == 2 and s.frame_after is None


def test_lock_to_target_refuses_and_logs(tmp_path):
    log = CsvLog(tmp_path / "pulses.csv", "pulse", PULSE_COLUMNS)
    scene, frames, truth, nav, pulses = _setup(n=30, lock=True, log=log)
    f = frames[0]
    pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    d = pulses.request(f.capture_ns)
    assert not d.fired and d.refusal == "off target"
    for f in frames[1:]:
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    assert nav.last.on_target
    d2 = pulses.request(frames[-1].capture_ns)
    assert d2.fired
    log.close()
    rows = read_log(tmp_path / "pulses.csv", "pulse")
    assert [r["fired"] for r in rows] == ["0", "1"] and rows[0]["refusal"] == "off target"
    assert pulses.fired_count == 1
    assert rows[1]["on_target"] == "1" and rows[1]["within_tolerance"] == "1"
    assert column(rows, "distance_mm")[1] < 1e-6 and math.isnan(column(rows, "distance_mm")[0])


def test_timed_protocol_times_and_trigger():
    p = TimedProtocol(start_ns=10**9, pulses_per_train=3, frequency_hz=10.0, inter_train_s=2.0, trains=2)
    t = p.times_ns()
    assert t == [10**9, 11 * 10**8, 12 * 10**8, 32 * 10**8, 33 * 10**8, 34 * 10**8]
    scene, frames, truth, nav, pulses = _setup(n=40)
    prot = ProtocolTrigger(pulses, [frames[3].capture_ns + 5, frames[20].capture_ns + 5])
    for f in frames:
        out = nav.update(f.poses, f.frame_number, f.capture_ns)
        pulses.on_output(out)
        prot.poll(out.capture_ns)
    assert prot.done and len(pulses.samples) == 2
    assert [s.frame_before for s in pulses.samples] == [3, 20]
    assert all(s.trigger == "protocol" and s.visible for s in pulses.samples)


def test_key_and_line_triggers():
    scene, frames, truth, nav, pulses = _setup()
    now = [frames[4].capture_ns + 7]
    key = KeyTrigger(pulses, clock=lambda: now[0])
    for f in frames[:5]:
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    assert key().fired
    line = LineTrigger(pulses, io.StringIO("TRIG\n\nTRIG\n"), clock=lambda: now[0]).start()
    line.join(5)
    assert len(line.decisions) == 2
    for f in frames[5:]:
        pulses.on_output(nav.update(f.poses, f.frame_number, f.capture_ns))
    assert [s.trigger for s in pulses.samples] == ["key", "line", "line"]
    assert all(s.frame_before == 4 and s.frame_after == 5 for s in pulses.samples)
    assert rotation_between(pulses.samples[0].T_mri_from_coil, truth[4]) < rotation_between(truth[5], truth[4])


def test_parse_protocol_accepts_the_documented_form_and_refuses_anything_else():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from navcore.errors import NavtmsError
    from navigation.pulses import ProtocolSpec, parse_protocol

    assert parse_protocol("10,10,2,3,1.0") == ProtocolSpec(10, 10.0, 2.0, 3, 1.0)
    assert parse_protocol(" 1, 0.5 ,0,1,0 ") == ProtocolSpec(1, 0.5, 0.0, 1, 0.0)

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet="0123456789.,-e nai", max_size=16))
    def any_text(text):
        try:
            p = parse_protocol(text)
        except NavtmsError as e:
            assert "\n" not in str(e) and "N,HZ,GAP_S,TRAINS,START_S" in str(e)
            return
        # accepted: five fields, and the independent reading of them agrees
        f = text.split(",")
        assert len(f) == 5 and p.pulses_per_train == int(f[0]) >= 1 and p.trains == int(f[3]) >= 1
        assert p.frequency_hz == float(f[1]) > 0 and p.inter_train_s == float(f[2]) >= 0 and p.start_s == float(f[4]) >= 0
    any_text()


def test_protocol_offsets_are_anchored_at_the_first_poll():
    from navigation.pulses import ProtocolSpec, ProtocolTrigger

    class Pulses:   # what ProtocolTrigger needs of a PulseLog
        def __init__(self):
            self.times = []

        def request(self, t, name):
            self.times.append((t, name))
            return t

    spec = ProtocolSpec(3, 10.0, 1.0, 2, 0.5)
    assert spec.offsets_ns() == [500_000_000, 600_000_000, 700_000_000, 1_700_000_000, 1_800_000_000, 1_900_000_000]
    p = Pulses()
    trig = ProtocolTrigger(p, times_ns=[7_000_000_000 + 1], offsets_ns=spec.offsets_ns())
    assert not trig.done
    first = 7_000_000_000
    for now in range(first, first + 2_100_000_000, 50_000_000):
        trig.poll(now)
    assert [t for t, _ in p.times] == sorted([first + 1] + [first + o for o in spec.offsets_ns()])
    assert trig.done and {n for _, n in p.times} == {"protocol"}
